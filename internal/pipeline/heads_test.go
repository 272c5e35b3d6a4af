package pipeline

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/quality"
)

// The head index lists the finished records that have a head; the history
// read with it is the history read from every record, whether the index is
// there, torn or stale; a record it lists is not read again.
func TestHeadIndex(t *testing.T) {
	t.Parallel()
	lk, err := lake.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := lk.MetaDir("runs")
	results := func(tables ...string) []quality.Result {
		var out []quality.Result
		for _, tb := range tables {
			out = append(out, quality.Result{Table: tb, CheckID: "c_" + tb, Verdict: quality.VerdictPass})
		}
		return out
	}
	run := func(id string, status RunStatus, tables ...string) {
		t.Helper()
		if err := saveRun(lk, &Summary{RunID: id, Kind: RecordKindRun, Status: status, Steps: []Step{{Name: "x", Kind: StepModel, Checks: results(tables...)}}}); err != nil {
			t.Fatal(err)
		}
	}
	run("r1", RunSucceeded, "silver.orders")
	if err := RecordCheck(lk, &CheckRun{RunID: "r2", Kind: RecordKindCheck, Results: results("gold.fact_sales")}); err != nil {
		t.Fatal(err)
	}
	// r3: written by an older version, without a head.
	old, err := json.Marshal(map[string]any{"run_id": "r3", "status": "succeeded", "steps": []Step{{Name: "x", Checks: results("silver.sellers")}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := lk.SaveMeta("runs/r3.json", old); err != nil {
		t.Fatal(err)
	}
	run("r4", RunRunning, "silver.customers") // unfinished
	run("r5", RunFailed, "silver.customers")

	if err := updateHeadIndex(lk); err != nil {
		t.Fatal(err)
	}
	listed := func() []string {
		var names []string
		for name := range readHeadIndex(dir) {
			names = append(names, name)
		}
		slices.Sort(names)
		return names
	}
	if got, want := listed(), []string{"r1.json", "r2.json", "r5.json"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("the index lists %v, want %v (not the unfinished r4 nor the headless r3)", got, want)
	}
	history := func() string {
		t.Helper()
		h, err := VerdictHistory(lk, 0)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range h {
			ids = append(ids, r.RunID)
		}
		v := LatestVerdicts(h)
		return fmt.Sprintf("%v %v", ids, v.Tables)
	}
	want := history()
	index := filepath.Join(dir, headIndexFile)
	for _, tc := range []struct {
		name  string
		index string // "" = none
	}{
		{"no index", ""},
		{"torn index", `{"tables": ["silver.orders"], "records": {"r1.json": {"kind": "run", "sta`},
		{"stale entry", `{"tables": ["gold.x"], "records": {"gone.json": {"kind": "run", "status": "succeeded", "tables": [0]}}}`},
		{"a table out of the list", `{"tables": [], "records": {"r1.json": {"kind": "run", "status": "succeeded", "tables": [3]}}}`},
	} {
		if err := os.Remove(index); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if tc.index != "" {
			if err := os.WriteFile(index, []byte(tc.index), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if got := history(); got != want {
			t.Errorf("%s: history %s, want %s", tc.name, got, want)
		}
		if err := updateHeadIndex(lk); err != nil {
			t.Fatal(err)
		}
		if got := listed(); !reflect.DeepEqual(got, []string{"r1.json", "r2.json", "r5.json"}) {
			t.Errorf("%s: updated, the index lists %v", tc.name, got)
		}
	}
	// A temporary file a killed writer left goes; the index is readable by
	// whoever reads the records.
	if err := os.WriteFile(filepath.Join(dir, "."+headIndexFile+".tmp-123"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(index); err != nil {
		t.Fatal(err)
	}
	if err := updateHeadIndex(lk); err != nil {
		t.Fatal(err)
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "."+headIndexFile+".tmp-*")); len(matches) > 0 {
		t.Errorf("temporary files left: %v", matches)
	}
	if fi, err := os.Stat(index); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("the index: %v (%v), want mode 0644", fi, err)
	}
	// The history takes the heads from the index: one that says r1 checked
	// nothing leaves r1 out (r5 judged the only other table it names).
	lying := `{"tables": ["gold.fact_sales", "silver.customers"], "records": {
		"r1.json": {"kind": "run", "status": "succeeded", "tables": []},
		"r2.json": {"kind": "check", "tables": [0]},
		"r5.json": {"kind": "run", "status": "failed", "tables": [1]}}}`
	if err := os.WriteFile(index, []byte(lying), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := history(); got == want || strings.Contains(got, "r1") {
		t.Errorf("with an index that says r1 checked nothing: history %s, want it without r1", got)
	}
	if err := os.Remove(index); err != nil {
		t.Fatal(err)
	}
	if err := updateHeadIndex(lk); err != nil {
		t.Fatal(err)
	}

	// A record the index lists is taken as finished without being read:
	// rewritten as unfinished behind its back, MarkAbandoned leaves it.
	run("r1", RunRunning, "silver.orders")
	if err := MarkAbandoned(lk); err != nil {
		t.Fatal(err)
	}
	status := func(name string) RunStatus {
		t.Helper()
		h, err := readHead(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return h.status
	}
	if got := status("r1.json"); got != RunRunning {
		t.Errorf("r1, listed as finished: status %q after MarkAbandoned, want it untouched", got)
	}
	if got := status("r4.json"); got != RunAbandoned {
		t.Errorf("r4, unfinished and not listed: status %q after MarkAbandoned, want abandoned", got)
	}
	if err := os.Remove(index); err != nil {
		t.Fatal(err)
	}
	if err := MarkAbandoned(lk); err != nil {
		t.Fatal(err)
	}
	if got := status("r1.json"); got != RunAbandoned {
		t.Errorf("r1 without the index: status %q after MarkAbandoned, want abandoned", got)
	}
	if !strings.HasPrefix(headIndexFile, ".") {
		t.Errorf("the index %s would be read as a run record", headIndexFile)
	}
}
