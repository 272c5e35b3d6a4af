package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/quality"
	"github.com/keystone/nexus/internal/s3test"
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

// VerdictHistory decodes the records the current verdicts come from, the
// newest pipeline run's and the recent ones, and gives the same verdicts as
// the whole history; records written before the head had checked_tables
// are decoded whole.
func TestVerdictHistory(t *testing.T) {
	t.Parallel()
	lk, err := lake.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	checks := func(verdict quality.Verdict, tables ...string) []quality.Result {
		var out []quality.Result
		for _, tb := range tables {
			out = append(out, quality.Result{Table: tb, CheckID: "c_" + tb, Verdict: verdict, RowsFailed: int64(len(tb))})
		}
		return out
	}
	run := func(id string, tables ...string) {
		t.Helper()
		cs := checks(quality.VerdictPass, tables...)
		for _, tb := range tables { // what a build adds and a check cannot judge
			cs = append(cs, quality.Result{Table: tb, CheckID: "row_accounting", Kind: quality.KindRowAccounting, Verdict: quality.VerdictPass, Observed: "built by " + id})
		}
		s := &Summary{RunID: id, Kind: "run", Status: RunSucceeded, Steps: []Step{{Name: "x", Kind: StepModel, Checks: cs}}}
		if err := saveRun(lk, s); err != nil {
			t.Fatal(err)
		}
	}
	checkRun := func(id string, tables ...string) {
		t.Helper()
		if err := RecordCheck(lk, &CheckRun{RunID: id, Kind: "check", Results: checks(quality.VerdictWarn, tables...)}); err != nil {
			t.Fatal(err)
		}
	}
	// r01: a run recorded by an older version: no checked_tables, no kind.
	old, err := json.Marshal(map[string]any{"run_id": "r01", "status": "succeeded",
		"steps": []Step{{Name: "x", Checks: checks(quality.VerdictFail, "silver.orders", "silver.sellers", "gold.dim_seller")}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := lk.SaveMeta("runs/r01.json", old); err != nil {
		t.Fatal(err)
	}
	// r00: a check recorded by an older version.
	oldCheck, err := json.Marshal(map[string]any{"run_id": "r00", "kind": "check", "results": checks(quality.VerdictWarn, "gold.mart_x")})
	if err != nil {
		t.Fatal(err)
	}
	if err := lk.SaveMeta("runs/r00.json", oldCheck); err != nil {
		t.Fatal(err)
	}
	run("r02", "silver.orders")
	checkRun("r03", "gold.fact_sales")
	run("r04") // nothing to do: no checks
	for i := 5; i <= 20; i++ {
		run(fmt.Sprintf("r%02d", i), "silver.orders")
	}
	// r201: a build of silver.orders whose gate blocked: checks, no row
	// accounting; the newest run to judge it, so after the check r205 it
	// has none (as before the check), not r20's.
	if err := saveRun(lk, &Summary{RunID: "r201", Kind: "run", Status: RunSucceeded, Steps: []Step{{Name: "x", Kind: StepModel, Checks: checks(quality.VerdictFail, "silver.orders")}}}); err != nil {
		t.Fatal(err)
	}
	run("r203", "silver.customers")
	checkRun("r204", "silver.customers") // r203's row accounting stands
	checkRun("r205", "silver.orders")
	checkRun("r21", "gold.fact_sales")
	checkRun("r22", "gold.dim_seller")
	// r23: the newest pipeline run, with no checks (nothing changed), and
	// an empty kind, which reads as a run.
	if err := saveRun(lk, &Summary{RunID: "r23", Status: RunSucceeded}); err != nil {
		t.Fatal(err)
	}
	// r24: a check whose head says nothing (checked_tables null).
	nullHead, err := json.Marshal(map[string]any{"run_id": "r24", "kind": "check", "checked_tables": nil, "results": checks(quality.VerdictFail, "gold.fact_sales")})
	if err != nil {
		t.Fatal(err)
	}
	if err := lk.SaveMeta("runs/r24.json", nullHead); err != nil {
		t.Fatal(err)
	}

	render := func(h []RunRecord) string {
		v := LatestVerdicts(h)
		from := map[string]string{}
		for _, ts := range v.Tables {
			from[ts.Table] = ts.RunID
		}
		var got []string
		for _, r := range v.Results {
			got = append(got, fmt.Sprintf("%s/%s=%s:%d%s@%s", r.Table, r.CheckID, r.Verdict, r.RowsFailed, r.Observed, from[r.Table]))
		}
		return strings.Join(got, " ")
	}
	all, err := History(lk, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := render(all)
	if !strings.Contains(want, "silver.sellers/c_silver.sellers=fail:14@r01") || !strings.Contains(want, "gold.dim_seller/c_gold.dim_seller=warn:15@r22") ||
		!strings.Contains(want, "silver.orders/c_silver.orders=warn:13@r205 ") || strings.Contains(want, "silver.orders/row_accounting") ||
		!strings.Contains(want, "silver.customers/c_silver.customers=warn:16@r204 silver.customers/row_accounting=pass:0built by r203@r204") {
		t.Fatalf("the whole history's verdicts are not the test's: %s", want)
	}
	check := func() {
		t.Helper()
		for _, tc := range []struct {
			recent int
			ids    string // the records decoded, newest first
		}{
			{0, "r24 r23 r22 r205 r204 r203 r201 r01 r00"},
			{1, "r24 r23 r22 r205 r204 r203 r201 r01 r00"},
			{4, "r24 r23 r22 r21 r205 r204 r203 r201 r01 r00"},
			{30, "r24 r23 r22 r21 r205 r204 r203 r201 r20 r19 r18 r17 r16 r15 r14 r13 r12 r11 r10 r09 r08 r07 r06 r05 r03 r02 r01 r00"},
		} {
			h, err := VerdictHistory(lk, tc.recent)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range h {
				ids = append(ids, r.RunID)
			}
			if got := strings.Join(ids, " "); got != tc.ids {
				t.Errorf("recent %d: decoded %s, want %s", tc.recent, got, tc.ids)
			}
			if got := render(h); got != want {
				t.Errorf("recent %d: verdicts\n%s\nwant (the whole history's)\n%s", tc.recent, got, want)
			}
			for _, r := range h {
				if r.Kind == "run" {
					if r.RunID != "r23" {
						t.Errorf("recent %d: newest pipeline run %s, want r23", tc.recent, r.RunID)
					}
					break
				}
			}
		}
	}
	check()
	// A run gives the old records their head once; nothing else changes.
	if err := addHeads(lk); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"r00.json", "r01.json", "r24.json"} {
		h, err := readHead(filepath.Join(lk.MetaDir("runs"), name))
		if err != nil || h.tables == nil {
			t.Fatalf("%s: no head after addHeads (tables %v, err %v)", name, h.tables, err)
		}
		if got := h.kind + ": " + strings.Join(h.tables, " "); got != map[string]string{"r00.json": "check: gold.mart_x", "r01.json": "run: silver.orders silver.sellers gold.dim_seller", "r24.json": "check: gold.fact_sales"}[name] {
			t.Errorf("%s: head %s", name, got)
		}
	}
	again, err := History(lk, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, all) {
		t.Errorf("the history changed when the old records got their head:\n%+v\nwant\n%+v", again, all)
	}
	check()
	// And the same with the heads taken from their index.
	if err := updateHeadIndex(lk); err != nil {
		t.Fatal(err)
	}
	if n := len(readHeadIndex(lk.MetaDir("runs"))); n < 20 {
		t.Fatalf("the index lists %d records", n)
	}
	check()
}

// On an object store, two machines' runs do not exclude each other: a run
// resolves another's unfinished record only once no run could still be
// going (remoteRunLimit), so that it never marks a live run abandoned.
func TestMarkAbandonedOnObjectStore(t *testing.T) {
	srv := s3test.Start(t)
	root := "s3://" + srv.Bucket + "/lk"
	ctx := context.Background()
	open := func() *lake.Lake {
		t.Helper()
		lk, err := lake.OpenRemote(ctx, root, lake.RemoteOptions{S3: lake.S3Options{Endpoint: srv.Endpoint}, CacheDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { lk.Release() })
		return lk
	}
	b := open()
	// A lake there: a mirror pulls run records with a snapshot.
	ub, err := b.Lock()
	if err != nil {
		t.Fatal(err)
	}
	st, err := b.Stage(lake.Bronze, "orders", "first")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(st.Dir(), "part-0.parquet"), []byte("PAR1rowsPAR1"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Publish(lake.Manifest{Schema: []lake.Column{{Name: "a", Type: "INTEGER"}}}, map[string]int64{"part-0.parquet": 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Commit(lake.CommitInfo{RunID: "first"}); err != nil {
		t.Fatal(err)
	}
	ub()
	live := &Summary{RunID: "20260101T000000Z-live00", Kind: RecordKindRun, Started: time.Now().UTC(), Status: RunRunning}
	dead := &Summary{RunID: "20260101T000000Z-dead00", Kind: RecordKindRun, Started: time.Now().Add(-remoteRunLimit - time.Minute).UTC(), Status: RunRunning}
	for _, s := range []*Summary{live, dead} {
		if err := saveRun(b, s); err != nil {
			t.Fatal(err)
		}
	}
	a := open()
	unlock, err := a.Lock()
	if err != nil {
		t.Fatal(err)
	}
	if err := MarkAbandoned(a); err != nil {
		t.Fatal(err)
	}
	unlock()
	for _, tc := range []struct {
		s    *Summary
		want RunStatus
	}{{live, RunRunning}, {dead, RunAbandoned}} {
		b, err := os.ReadFile(open().MetaDir("runs", tc.s.RunID+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var got Summary
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if got.Status != tc.want {
			t.Errorf("run started %s ago: %s in the store, want %s", time.Since(tc.s.Started).Round(time.Minute), got.Status, tc.want)
		}
	}
}
