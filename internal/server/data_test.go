package server

import (
	"encoding/json"
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

// TestFreshnessChecksHaveNoStatus: the latest verdicts are made of several
// runs, so they carry their counts but no run status (an empty one showed).
func TestFreshnessChecksHaveNoStatus(t *testing.T) {
	lk, err := lake.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rec := `{"run_id": "20261127T020000Z-aaaaaa", "kind": "run", "started": "2026-11-27T02:00:00Z", "status": "succeeded", "steps": [],
		"results": [{"table": "silver.orders", "check_id": "carrier_after_purchase", "verdict": "warn", "rows_checked": 100, "rows_failed": 3}]}`
	if err := lk.SaveMeta("runs/20261127T020000Z-aaaaaa.json", []byte(rec)); err != nil {
		t.Fatal(err)
	}
	fr, err := LoadFreshness(lk)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(fr)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		LastRun map[string]any `json:"last_run"`
		Checks  map[string]any `json:"checks"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.LastRun["status"] != "succeeded" || got.Checks == nil || got.Checks["warn"] != 1.0 {
		t.Fatalf("freshness %s: want the last run's status and one warning in checks", b)
	}
	if s, ok := got.Checks["status"]; ok {
		t.Errorf("checks have status %q: they are no run", s)
	}
}
