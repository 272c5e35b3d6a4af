package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/ingest"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/olist"
	"github.com/keystone/nexus/internal/quality"
)

// invariantSQL counts violations of what one run guarantees across tables:
// every order of gold.fact_sales is in silver.orders, and its payments in
// Gold add up to its payments in Silver.
const invariantSQL = `
SELECT
  (SELECT count(*) FROM (SELECT DISTINCT order_id FROM gold.fact_sales) f ANTI JOIN silver.orders o USING (order_id)),
  (SELECT count(*) FROM (SELECT order_id, sum(payment_value) p FROM gold.fact_sales GROUP BY 1) f
     JOIN (SELECT order_id, sum(payment_value) p FROM silver.order_payments GROUP BY 1) s USING (order_id)
   WHERE f.p <> s.p),
  (SELECT count(*) FROM gold.fact_sales)`

// TestReadersNeverSeeHalfARun commits runs over two different data sets in a
// loop while readers check a cross-table invariant in a loop. With one
// commit per run no reader ever sees Gold of one run with Silver of another.
func TestReadersNeverSeeHalfARun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the pipeline several times")
	}
	ctx := context.Background()
	var srcs []string
	for _, seed := range []int64{21, 22} {
		dir := t.TempDir()
		if _, err := olist.Generate(ctx, dir, olist.GenOptions{Scale: 0.01, Seed: seed}); err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, dir)
	}
	root := t.TempDir()
	w, err := lake.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, w, Options{SourceDir: srcs[0]}); err != nil {
		t.Fatal(err)
	}

	var stop atomic.Bool
	var reads, violations atomic.Int64
	seen := sync.Map{}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				lk, err := lake.OpenRead(root)
				if err != nil {
					errs <- err
					return
				}
				eng, err := engine.Open(ctx, lk, engine.Options{Threads: 1})
				if err != nil {
					errs <- err
					return
				}
				var orphans, mismatched, rows int64
				err = eng.DB().QueryRowContext(ctx, invariantSQL).Scan(&orphans, &mismatched, &rows)
				eng.Close()
				if err != nil {
					errs <- fmt.Errorf("snapshot %d: %w", lk.SnapshotID(), err)
					return
				}
				reads.Add(1)
				seen.Store(lk.SnapshotID(), true)
				if orphans > 0 || mismatched > 0 || rows == 0 {
					violations.Add(1)
					errs <- fmt.Errorf("snapshot %d: %d fact orders not in silver.orders, %d with payments that disagree, %d fact rows", lk.SnapshotID(), orphans, mismatched, rows)
					return
				}
			}
		}()
	}
	for i := 1; i <= 4; i++ {
		if _, err := Run(ctx, w, Options{SourceDir: srcs[i%2], Force: true}); err != nil {
			stop.Store(true)
			wg.Wait()
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	snaps := 0
	seen.Range(func(any, any) bool { snaps++; return true })
	t.Logf("%d consistent reads over %d snapshots, %d violations", reads.Load(), snaps, violations.Load())
	if snaps < 2 {
		t.Errorf("readers saw %d snapshot(s): the test did not overlap reads with commits", snaps)
	}
}

// TestDamagedTableNeverBricksTheLake removes a part file of gold.fact_sales
// and truncates the manifest of another table: the other tables stay
// queryable, the damaged ones fail with what is wrong, and a run rebuilds them.
func TestDamagedTableNeverBricksTheLake(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	w, err := lake.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	src := generated(t)
	if _, err := Run(ctx, w, Options{SourceDir: src}); err != nil {
		t.Fatal(err)
	}
	fs, err := w.Manifest(lake.Gold, "fact_sales")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(w.AbsFiles(fs)[0]); err != nil {
		t.Fatal(err)
	}
	dd, err := w.Manifest(lake.Gold, "dim_seller")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, w.Snapshot().Tables["gold.dim_seller"].Manifest), []byte(`{"layer": "go`), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = dd

	r, err := lake.OpenRead(root)
	if err != nil {
		t.Fatal(err)
	}
	findings := r.Check()
	got := map[string]lake.Problem{}
	for _, f := range findings {
		got[f.Table] = f.Problem
	}
	if got["gold.fact_sales"] != lake.ProblemMissingFile || got["gold.dim_seller"] != lake.ProblemManifest || len(got) != 2 {
		t.Fatalf("findings = %v", findings)
	}
	eng, err := engine.Open(ctx, r, engine.Options{})
	if err != nil {
		t.Fatalf("engine on a damaged lake: %v", err)
	}
	var n int64
	if err := eng.DB().QueryRowContext(ctx, "SELECT count(*) FROM gold.dim_customer").Scan(&n); err != nil || n == 0 {
		t.Errorf("an intact table is not queryable: %d %v", n, err)
	}
	// A filter on a column must not let the optimizer answer zero rows.
	if err := eng.DB().QueryRowContext(ctx, "SELECT count(*) FROM gold.fact_sales WHERE is_sale").Scan(&n); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("a filtered query on a damaged table answered %d rows (err %v)", n, err)
	}
	for _, table := range []string{"gold.fact_sales", "gold.dim_seller"} {
		err := eng.DB().QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n)
		if err == nil || !strings.Contains(err.Error(), "damaged") || !strings.Contains(err.Error(), "nexus doctor") {
			t.Errorf("%s: error %v, want one naming the damage and doctor", table, err)
		}
	}
	if len(eng.Damaged()) != 2 {
		t.Errorf("engine damaged = %v", eng.Damaged())
	}
	// check gives a damaged table a blocking verdict that says so, and goes on.
	_, suites, err := LoadGated("")
	if err != nil {
		t.Fatal(err)
	}
	run, err := Check(ctx, r, eng, suites, "gold", "")
	if err != nil {
		t.Fatalf("check on a damaged lake: %v", err)
	}
	verdicts := map[string]quality.Result{}
	for _, res := range run.Results {
		if res.Kind == quality.KindDamaged {
			verdicts[res.Table] = res
		}
	}
	if v := verdicts["gold.fact_sales"]; !v.Blocking || !strings.Contains(v.Observed, "missing file") {
		t.Errorf("check's verdict on damaged gold.fact_sales: %+v", v)
	}
	if len(run.Results) < 20 {
		t.Errorf("check stopped at the damage: %d results", len(run.Results))
	}
	eng.Close()

	// A run rebuilds the damaged derived tables instead of failing.
	sum, err := Run(ctx, w, Options{SourceDir: src})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Err() != nil {
		t.Fatalf("run on a damaged lake: %v", sum.Err())
	}
	built := map[string]StepStatus{}
	for _, st := range sum.Steps {
		built[st.Name] = st.Status
		// The full rebuild of the damaged incremental fact is told, not
		// taken for a first build.
		if st.Name == "gold.fact_sales" && (!strings.Contains(st.FullReason, "damaged") || st.FullExpected) {
			t.Errorf("gold.fact_sales rebuilt with reason %q, want the damage told", st.FullReason)
		}
	}
	if built["gold.fact_sales"] != StepBuilt || built["gold.dim_seller"] != StepBuilt || built["gold.dim_customer"] != StepUnchanged {
		t.Errorf("statuses after damage: fact_sales=%s dim_seller=%s dim_customer=%s", built["gold.fact_sales"], built["gold.dim_seller"], built["gold.dim_customer"])
	}
	r, _ = lake.OpenRead(root)
	if f := r.Check(); len(f) != 0 {
		t.Errorf("after run: %v", f)
	}
}

// TestRepairRollsBackOrRebuilds: doctor's repair rebuilds a model and, with
// no source at hand, rolls a Bronze table back to its last intact version.
func TestRepairRollsBackOrRebuilds(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	w, err := lake.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	src := generated(t)
	if _, err := Run(ctx, w, Options{SourceDir: src}); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, w, Options{SourceDir: src, Force: true}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"bronze.sellers", "silver.orders"} {
		layer, table, _ := strings.Cut(name, ".")
		m, err := w.Manifest(layer, table)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(w.AbsFiles(m)[0], 10); err != nil {
			t.Fatal(err)
		}
	}
	repairs, snap, err := RepairLake(ctx, w, DoctorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]RepairAction{}
	for _, r := range repairs {
		got[r.Table] = r.Action
	}
	if got["bronze.sellers"] != RepairRolledBack || got["silver.orders"] != RepairRebuilt {
		t.Fatalf("repairs = %+v", repairs)
	}
	// What depends on the rolled-back Bronze table is rebuilt on it.
	if got["silver.sellers"] != RepairRefreshed {
		t.Errorf("silver.sellers after its Bronze table was rolled back: %q (%+v)", got["silver.sellers"], repairs)
	}
	if snap.Kind != lake.CommitRepair {
		t.Errorf("repair snapshot kind %s", snap.Kind)
	}
	r, _ := lake.OpenRead(root)
	if f := r.Check(); len(f) != 0 {
		t.Errorf("after repair: %v", f)
	}
	// A table and its quarantine moved together, and Silver is built on them.
	bm, _ := r.Manifest(lake.Bronze, "sellers")
	qm, _ := r.Manifest(lake.Quarantine, "bronze_sellers")
	if bm.Version != 1 || qm.Version != 1 {
		t.Errorf("bronze.sellers v%d, quarantine.bronze_sellers v%d, want both 1", bm.Version, qm.Version)
	}
	sm, _ := r.Manifest(lake.Silver, "sellers")
	for _, in := range sm.Inputs {
		if in.Name == "bronze.sellers" && in.Version != bm.Version {
			t.Errorf("silver.sellers built on bronze.sellers v%d, current is v%d", in.Version, bm.Version)
		}
	}
	eng, err := engine.Open(ctx, r, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var orphans, mismatched, rows int64
	if err := eng.DB().QueryRowContext(ctx, invariantSQL).Scan(&orphans, &mismatched, &rows); err != nil || orphans+mismatched > 0 {
		t.Errorf("after repair: %d orphans, %d mismatched payments (%v)", orphans, mismatched, err)
	}
	eng.Close()
	// With the source at hand, Bronze is re-ingested instead.
	m, _ := w.Manifest(lake.Bronze, "sellers")
	if err := os.Remove(w.AbsFiles(m)[0]); err != nil {
		t.Fatal(err)
	}
	repairs, _, err = RepairLake(ctx, w, DoctorOptions{SourceDir: src})
	if err != nil {
		t.Fatal(err)
	}
	got = map[string]RepairAction{}
	for _, r := range repairs {
		got[r.Table] = r.Action
	}
	if got["bronze.sellers"] != RepairReingested {
		t.Fatalf("repairs with source = %+v", repairs)
	}
}

// TestRepairKeepsTheSameData: a Bronze table is rolled back to the version
// built from the same source file, not to a newer one of another data set;
// a source file other than the ingested one is not re-ingested.
func TestRepairKeepsTheSameData(t *testing.T) {
	ctx := context.Background()
	other := t.TempDir()
	if _, err := olist.Generate(ctx, other, olist.GenOptions{Scale: 0.01, Seed: 77}); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	w, err := lake.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	src := generated(t)
	for _, dir := range []string{src, other, src} {
		if _, err := Run(ctx, w, Options{SourceDir: dir}); err != nil {
			t.Fatal(err)
		}
	}
	m, err := w.Manifest(lake.Bronze, "sellers")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(w.AbsFiles(m)[0]); err != nil {
		t.Fatal(err)
	}
	repairs, snap, err := RepairLake(ctx, w, DoctorOptions{SourceDir: other})
	if err != nil {
		t.Fatalf("repair: %v (%+v)", err, repairs)
	}
	for _, r := range repairs {
		if r.Table == "bronze.sellers" && (r.Action != RepairRolledBack || !strings.Contains(r.Detail, "same inputs")) {
			t.Errorf("bronze.sellers: %s %s", r.Action, r.Detail)
		}
	}
	r, _ := lake.OpenRead(root)
	got, _ := r.Manifest(lake.Bronze, "sellers")
	if got.Fingerprint != m.Fingerprint || got.Version != 1 {
		t.Errorf("bronze.sellers rolled back to v%d (fingerprint %s), want v1 with %s", got.Version, got.Fingerprint, m.Fingerprint)
	}
	if f := r.Check(); len(f) != 0 || snap == nil {
		t.Errorf("after repair: %v", f)
	}
}

// TestAbandonedRunIsMarked: a run record left as running (its process died)
// is marked abandoned by the next run.
func TestAbandonedRunIsMarked(t *testing.T) {
	root := t.TempDir()
	w, err := lake.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	dead := &Summary{RunID: "20200101T000000Z-dead00", Kind: "run", Status: RunRunning}
	if err := saveRun(w, dead); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), w, Options{SourceDir: generated(t), SkipModels: true}); err != nil {
		t.Fatal(err)
	}
	hist, err := History(w, 0)
	if err != nil {
		t.Fatal(err)
	}
	status, errText := map[string]RunStatus{}, map[string]string{}
	for _, h := range hist {
		status[h.RunID], errText[h.RunID] = h.Status, h.Error
	}
	if status[dead.RunID] != RunAbandoned || errText[dead.RunID] != abandonedError {
		t.Errorf("dead run status = %q, error %q", status[dead.RunID], errText[dead.RunID])
	}
	if e := errText[hist[0].RunID]; e != "" {
		t.Errorf("the succeeded run has error %q", e)
	}
	if len(hist) != 2 || status[hist[0].RunID] != RunSucceeded {
		t.Errorf("history = %+v", hist)
	}

	// A run killed after its commit but before its final record: resolved
	// from the snapshot it committed, not abandoned.
	sum, err := Run(context.Background(), w, Options{RunID: "20200101T000001Z-live00", SourceDir: generated(t), SkipModels: true, Force: true})
	if err != nil || sum.Snapshot == 0 {
		t.Fatalf("run: %v (snapshot %d)", err, sum.Snapshot)
	}
	// Without a failed step it succeeded; with one it failed, and the
	// record says which.
	for _, tc := range []struct {
		failed    []Step
		status    RunStatus
		errorText string
	}{
		{nil, RunSucceeded, ""},
		{[]Step{{Name: "silver.orders", Kind: StepModel, Status: StepFailed, Error: "disk full"}}, RunFailed, "silver.orders: disk full"},
	} {
		killed := *sum
		killed.Status, killed.Snapshot = RunCommitting, 0
		killed.Steps = append(slices.Clone(sum.Steps), tc.failed...)
		if err := saveRun(w, &killed); err != nil {
			t.Fatal(err)
		}
		if err := MarkAbandoned(w); err != nil {
			t.Fatal(err)
		}
		hist, _ = History(w, 0)
		for _, h := range hist {
			if h.RunID == sum.RunID && (h.Status != tc.status || h.Error != tc.errorText) {
				t.Errorf("a run killed after its commit with failed steps %v is %q (error %q), want %q (%q)", tc.failed, h.Status, h.Error, tc.status, tc.errorText)
			}
		}
	}
}

// TestStepError: a run's error names the failed step once.
func TestStepError(t *testing.T) {
	for _, tc := range []struct{ step, err, want string }{
		{"silver.orders", "model silver.orders: quality gate failed", "model silver.orders: quality gate failed"},
		{"silver.orders", "stage: disk full", "silver.orders: stage: disk full"},
		{"bronze.orders", "line 3, column 2: bare quote", "bronze.orders: line 3, column 2: bare quote"},
	} {
		if got := stepError(tc.step, errors.New(tc.err)).Error(); got != tc.want {
			t.Errorf("stepError(%s, %s) = %q, want %q", tc.step, tc.err, got, tc.want)
		}
	}
}

// TestCheckRecordsOnlyWhenWritable: a check on a lake it cannot write to
// still runs and says its results were not recorded.
func TestCheckRecordsOnlyWhenWritable(t *testing.T) {
	root := t.TempDir()
	w, err := lake.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	// A file where the run history directory should be: writing fails the way
	// a read-only mount makes it fail for a non-root user.
	if err := os.WriteFile(w.MetaDir("runs"), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	err = RecordCheck(w, &CheckRun{RunID: "x", Kind: "check"})
	if err == nil || errors.Is(err, ErrHistoryReadOnly) {
		// Not a permission error: must stay a real error.
		t.Fatalf("record into a file: %v", err)
	}
}

// TestRunSourceSwitch: the refusal of a source switch names the command the
// user ran on the lake of the run, to paste as it is; a switch made with
// SwitchSource is in the summary and the run record, with the snapshot
// that undoes it.
func TestRunSourceSwitch(t *testing.T) {
	lk, err := lake.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), lk, Options{SourceDir: generated(t), SkipModels: true}); err != nil {
		t.Fatal(err)
	}
	// A landing zone of one batch: the same files.
	landing := t.TempDir()
	if err := os.Symlink(generated(t), filepath.Join(landing, "dt=2018-01-01")); err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), lk, Options{SourceDir: landing, SkipModels: true, Rerun: []string{"run", "--source", landing}})
	if want := "or switch once with nexus run --lake " + lk.Root + " --source " + landing + " --switch-source;"; !errors.Is(err, ingest.ErrSourceSwitch) || !strings.Contains(err.Error(), want) {
		t.Fatalf("a landing zone for a lake of plain files: %v, want ErrSourceSwitch and %q", err, want)
	}
	sum, err := Run(context.Background(), lk, Options{RunID: "20200101T000002Z-switch", SourceDir: landing, SkipModels: true, Rerun: []string{"run", "--source", landing}, SwitchSource: true})
	if err != nil || sum.Err() != nil {
		t.Fatalf("with SwitchSource: %v %v", err, sum.Err())
	}
	sw := sum.SourceSwitch
	if sw == nil || sw.From != ingest.SourcePlainFiles || sw.To != ingest.SourceLandingZone || sw.Before != 1 || sum.Snapshot != 2 ||
		sw.Undo != "nexus rollback --lake "+lk.Root+" 1" {
		t.Fatalf("summary's switch %+v (committed snapshot %d), want plain files → landing zone, undone by rolling back to 1", sw, sum.Snapshot)
	}
	b, err := os.ReadFile(lk.MetaDir("runs", sum.RunID+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		SourceSwitch *ingest.SourceSwitch `json:"source_switch"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.SourceSwitch == nil || rec.SourceSwitch.Before != 1 {
		t.Errorf("run record's source_switch %+v, want the switch", rec.SourceSwitch)
	}
}
