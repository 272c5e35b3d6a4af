package ingest

import (
	"context"
	"os"
	"testing"

	"github.com/keystone/nexus/internal/lake"
)

// TestRealSample ingests the real Olist sample files when NEXUS_OLIST_SAMPLE
// points at them (e.g. ../shared/data/olist-sample): every record must ingest
// with zero rejects. It is opt-in because tests must not need ../shared.
func TestRealSample(t *testing.T) {
	dir := os.Getenv("NEXUS_OLIST_SAMPLE")
	if dir == "" {
		t.Skip("set NEXUS_OLIST_SAMPLE to the real sample directory to run")
	}
	lk, err := lake.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), lk, Options{SourceDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Tables {
		t.Logf("%-22s %-9s read=%d written=%d quarantined=%d", r.Table, r.Status, r.RecordsRead, r.RowsWritten, r.RowsQuarantined)
		if r.Err != nil {
			t.Errorf("%s: %v", r.Table, r.Err)
		}
		if r.RowsQuarantined != 0 || r.RecordsRead == 0 {
			t.Errorf("%s: %d quarantined of %d", r.Table, r.RowsQuarantined, r.RecordsRead)
		}
	}
}
