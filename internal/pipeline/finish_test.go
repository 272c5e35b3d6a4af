package pipeline

import (
	"context"
	"testing"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
)

// TestFinishSeesFinalStatus: the reports written by Finish (the static
// dashboard shows the last run's status) read a run record that already says
// how the run went, not a record without status that History reads as failed
// because a row check quarantined rows.
func TestFinishSeesFinalStatus(t *testing.T) {
	t.Parallel()
	src := generated(t)
	lk, _ := lake.Open(t.TempDir())
	var seen []RunRecord
	sum, err := Run(context.Background(), lk, Options{SourceDir: src, RunID: "r1",
		Engine: engine.Options{Threads: 2, MemoryLimit: "1GB"},
		Finish: func(ctx context.Context, lk *lake.Lake, opts Options, sum *Summary) Step {
			h, err := History(lk, 1)
			if err != nil {
				t.Error(err)
			}
			seen = h
			return Step{Name: "reports", Kind: "report", Status: "built"}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Err() != nil || sum.Status != "succeeded" {
		t.Fatalf("run: status %s, err %v", sum.Status, sum.Err())
	}
	if len(seen) != 1 || seen[0].RunID != "r1" || seen[0].Status != "succeeded" {
		for _, h := range seen {
			t.Errorf("Finish saw run %s with status %q", h.RunID, h.Status)
		}
		t.Fatal("want run r1 succeeded")
	}
}
