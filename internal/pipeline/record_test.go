package pipeline

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keystone/nexus/internal/quality"
)

// A writer looks for unfinished runs in the head of each record; a head
// that does not say sends it to the whole record.
func TestFinishedRecord(t *testing.T) {
	t.Parallel()
	marshal := func(s Summary) string {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	steps := []Step{{Name: "transform"}}
	for _, tc := range []struct {
		name, record string
		finished     bool
	}{
		{"succeeded run", marshal(Summary{RunID: "r", Kind: "run", Started: time.Now(), Status: RunSucceeded, Steps: steps}), true},
		{"failed run", marshal(Summary{RunID: "r", Kind: "run", Status: RunFailed, Steps: steps}), true},
		{"abandoned run", marshal(Summary{RunID: "r", Kind: "run", Status: RunAbandoned}), true},
		{"running run", marshal(Summary{RunID: "r", Kind: "run", Status: RunRunning, Steps: steps}), false},
		{"committing run", marshal(Summary{RunID: "r", Kind: "run", Status: RunCommitting}), false},
		{"check record", func() string {
			b, err := json.Marshal(CheckRun{RunID: "c", Kind: "check", Started: time.Now(), Results: []quality.Result{{CheckID: "x"}}})
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}(), true},
		{"record without a status (older versions)", `{"run_id": "r", "kind": "run", "steps": [{"name": "x"}]}`, false},
		{"status after the steps: read whole", `{"kind": "run", "steps": [], "status": "succeeded"}`, false},
		{"not JSON", `steps`, false},
		{"truncated", `{"run_id": "r", "kind": "run", "sta`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := filepath.Join(t.TempDir(), "r.json")
			if err := os.WriteFile(p, []byte(tc.record), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := finishedRecord(p)
			if err != nil || got != tc.finished {
				t.Errorf("finishedRecord = %v, %v; want %v", got, err, tc.finished)
			}
		})
	}
	if _, err := finishedRecord(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("a missing record: no error")
	}
}
