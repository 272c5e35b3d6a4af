package server

import (
	"testing"

	"github.com/keystone/nexus/internal/lake"
)

// TestFreshnessSaysWhyTheRunFailed: the dashboard's last run carries the
// error its record keeps, and none for a run that succeeded.
func TestFreshnessSaysWhyTheRunFailed(t *testing.T) {
	for _, tc := range []struct {
		name, record, want string
	}{
		{"failed", `{"run_id": "20261127T020000Z-aaaaaa", "kind": "run", "started": "2026-11-27T02:00:00Z", "status": "failed", "error": "models/gold/x.sql:3: incremental_expr names gold.dim_date", "steps": []}`,
			"models/gold/x.sql:3: incremental_expr names gold.dim_date"},
		{"succeeded", `{"run_id": "20261127T020000Z-aaaaaa", "kind": "run", "started": "2026-11-27T02:00:00Z", "status": "succeeded", "steps": []}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lk, err := lake.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if err := lk.SaveMeta("runs/20261127T020000Z-aaaaaa.json", []byte(tc.record)); err != nil {
				t.Fatal(err)
			}
			fr, err := LoadFreshness(lk)
			if err != nil {
				t.Fatal(err)
			}
			if fr.LastRun == nil || fr.LastRun.Error != tc.want {
				t.Fatalf("last run %+v, want error %q", fr.LastRun, tc.want)
			}
		})
	}
}
