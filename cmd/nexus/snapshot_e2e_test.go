package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keystone/nexus/internal/laketest"
)

// TestKillMidRunCommitsNothing SIGKILLs `nexus run` after it has published
// some new table versions: readers still see the previous snapshot whole,
// nothing is damaged, the run's record is marked abandoned by the next run,
// and the next run converges and vacuums the orphans.
func TestKillMidRunCommitsNothing(t *testing.T) {
	dir := t.TempDir()
	nexus(t, dir, false, "generate", "--out", "a", "--scale", "0.05", "--seed", "3")
	nexus(t, dir, false, "generate", "--out", "b", "--scale", "0.05", "--seed", "4")
	nexus(t, dir, false, "run", "--source", "a")
	before := queryJSON(t, dir, "SELECT (SELECT count(*) FROM bronze.orders) AS bo, (SELECT count(*) FROM gold.fact_sales) AS fs, (SELECT min(order_id) FROM silver.orders) AS o")
	var killedRun string
	for attempt := 0; ; attempt++ {
		// Kill once a new Silver version is on disk: Bronze is published in
		// the run's transaction, Silver is being built.
		newSilver := func() bool {
			m, _ := filepath.Glob(filepath.Join(dir, "lake", "_nexus", "manifests", "silver.*", "v000002-*.json"))
			return len(m) > 0
		}
		if killWhen(t, dir, newSilver, "run", "--source", "b") {
			killedRun = runningRecord(t, dir)
			break
		}
		if attempt == 3 {
			t.Fatal("could not kill the run mid-way")
		}
		nexus(t, dir, false, "rollback", "1")
	}
	after := queryJSON(t, dir, "SELECT (SELECT count(*) FROM bronze.orders) AS bo, (SELECT count(*) FROM gold.fact_sales) AS fs, (SELECT min(order_id) FROM silver.orders) AS o")
	if after[0]["bo"] != before[0]["bo"] || after[0]["fs"] != before[0]["fs"] || after[0]["o"] != before[0]["o"] {
		t.Fatalf("a killed run is visible: before %v, after %v", before, after)
	}
	if out := nexus(t, dir, false, "doctor"); !strings.Contains(out, "all intact") {
		t.Errorf("doctor after kill:\n%s", out)
	}
	if killedRun == "" {
		t.Fatal("the killed run left no record with status running")
	}
	nexus(t, dir, false, "run", "--source", "b")
	var rec struct{ Status string }
	b, err := os.ReadFile(filepath.Join(dir, "lake", "_nexus", "runs", killedRun+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rec); err != nil || rec.Status != "abandoned" {
		t.Errorf("killed run record status %q (%v)", rec.Status, err)
	}
	final := queryJSON(t, dir, "SELECT (SELECT count(*) FROM silver.orders) AS n, (SELECT count(DISTINCT _ingest_run_id) FROM bronze.orders) AS runs")
	if final[0]["runs"].(float64) != 1 || final[0]["n"].(float64) == 0 {
		t.Errorf("after re-run: %v", final)
	}
	out := nexus(t, dir, false, "snapshots")
	if !strings.Contains(out, "2 *") {
		t.Errorf("snapshots after kill and re-run (the killed run must not have a snapshot):\n%s", out)
	}
}

// killWhen runs nexus with args in dir and SIGKILLs it as soon as ready()
// holds (within a minute); it reports whether the process was killed before
// it finished.
func killWhen(t *testing.T, dir string, ready func() bool, args ...string) bool {
	t.Helper()
	cmd := exec.Command(nexusBin, args...)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		if ready() {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			killed = true
			break
		}
		time.Sleep(time.Millisecond)
	}
	return cmd.Wait() != nil && killed
}

// runningRecord returns the id of the run record with status running.
func runningRecord(t *testing.T, dir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "lake", "_nexus", "runs", "*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rec struct {
			RunID  string `json:"run_id"`
			Status string `json:"status"`
		}
		if json.Unmarshal(b, &rec) == nil && rec.Status == "running" {
			return rec.RunID
		}
	}
	return ""
}

// TestDamagedLakeCommands: with one part file of gold.fact_sales removed,
// every command still works on the other tables, check runs, doctor names the
// damage, and run / transform --full-refresh / doctor --repair fix it.
func TestDamagedLakeCommands(t *testing.T) {
	dir := t.TempDir()
	nexus(t, dir, false, "generate", "--out", "src", "--scale", "0.02", "--seed", "5")
	nexus(t, dir, false, "run", "--source", "src")
	damage := func() string {
		files, _ := filepath.Glob(filepath.Join(dir, "lake", "gold", "fact_sales", "v*", "year=*", "month=*", "*.parquet"))
		if len(files) == 0 {
			t.Fatal("no fact_sales files")
		}
		// The newest version's first file.
		victim := files[0]
		for _, f := range files {
			if filepath.Dir(filepath.Dir(filepath.Dir(f))) > filepath.Dir(filepath.Dir(filepath.Dir(victim))) {
				victim = f
			}
		}
		if err := os.Remove(victim); err != nil {
			t.Fatal(err)
		}
		return victim
	}
	damage()
	if n := queryJSON(t, dir, "SELECT count(*) AS n FROM gold.dim_customer"); n[0]["n"].(float64) == 0 {
		t.Error("dim_customer empty")
	}
	bad := nexus(t, dir, true, "query", "SELECT count(*) FROM gold.fact_sales")
	if !strings.Contains(bad, "gold.fact_sales is damaged: missing file") {
		t.Errorf("query on the damaged table:\n%s", bad)
	}
	doc := nexus(t, dir, true, "doctor")
	if !strings.Contains(doc, "gold.fact_sales") || !strings.Contains(doc, "missing file") || !strings.Contains(doc, "1 of") {
		t.Errorf("doctor:\n%s", doc)
	}
	// check runs: the suites of intact tables give verdicts.
	chk := nexus(t, dir, false, "check", "--table", "silver.orders")
	if !strings.Contains(chk, "order_id_unique") {
		t.Errorf("check on a damaged lake:\n%s", chk)
	}
	nexus(t, dir, false, "transform", "--full-refresh")
	if out := nexus(t, dir, false, "doctor"); !strings.Contains(out, "all intact") {
		t.Errorf("after transform --full-refresh:\n%s", out)
	}
	damage()
	out := nexus(t, dir, false, "run", "--source", "src")
	if !strings.Contains(out, "gold.fact_sales") {
		t.Errorf("run on a damaged lake:\n%s", out)
	}
	if out := nexus(t, dir, false, "doctor"); !strings.Contains(out, "all intact") {
		t.Errorf("after run:\n%s", out)
	}
	damage()
	rep := nexus(t, dir, false, "doctor", "--repair")
	if !strings.Contains(rep, "rebuilt from upstream") || !strings.Contains(rep, "after repair: 0 finding(s)") {
		t.Errorf("doctor --repair:\n%s", rep)
	}
}

// TestReadCommandsOnReadOnlyLake runs the read commands on a lake the user
// cannot write to: they work, and nothing in the lake changes.
func TestReadCommandsOnReadOnlyLake(t *testing.T) {
	dir := t.TempDir()
	nexus(t, dir, false, "generate", "--out", "src", "--scale", "0.01", "--seed", "6")
	nexus(t, dir, false, "run", "--source", "src")
	nexus(t, dir, false, "trigger", "olist_data_quality", "--source", "src") // a run store to read
	lakeDir := filepath.Join(dir, "lake")
	roIn := readOnlyRunner(t, dir, lakeDir)
	ro := func(args ...string) (string, error) { return roIn(lakeDir, args...) }
	before := laketest.TreeState(t, lakeDir)
	for _, args := range [][]string{
		{"query", "SELECT count(*) FROM gold.fact_sales"},
		{"tables"},
		{"snapshots"},
		{"doctor"},
		{"check", "--layer", "gold"},
		{"query", "--snapshot", "1", "SELECT count(*) FROM silver.orders"},
		{"runs"},
		{"runs", "--cycles", "--format", "json"},
		{"runs", "show", "1", "--format", "json"},
		{"vacuum", "--dry-run", "--older-than", "2h"},
	} {
		out, err := ro(args...)
		if err != nil && !(args[0] == "check" && strings.Contains(out, "fail")) {
			t.Errorf("nexus %s on a read-only lake: %v\n%s", strings.Join(args, " "), err, out)
		}
		// The tally names no run: the history does not have it.
		if args[0] == "check" && (!strings.Contains(out, "not recorded") || !regexp.MustCompile(`(?m)^\d+ checks: .*\(not recorded\)$`).MatchString(out)) {
			t.Errorf("check did not say its results were not recorded, or named a run the history does not have:\n%s", out)
		}
	}
	// The reports only read the lake too: with no --out they write under
	// the working directory's reports/, nothing in the lake.
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(work, 0o777); err != nil { // nobody writes there too
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args  []string
		wrote string
	}{
		{[]string{"report", "quality"}, "reports/quality.html"},
		{[]string{"report", "dashboard"}, "reports/dashboard/dashboard.html"},
		{[]string{"report", "charts"}, "reports/charts/monthly_sales.svg"},
		{[]string{"report", "deck"}, "reports/deck/deck.html"},
	} {
		out, err := roIn(work, tc.args...)
		if err != nil {
			t.Errorf("nexus %s on a read-only lake: %v\n%s", strings.Join(tc.args, " "), err, out)
			continue
		}
		if _, err := os.Stat(filepath.Join(work, tc.wrote)); err != nil || !strings.Contains(out, tc.wrote) {
			t.Errorf("nexus %s: %s not written or not named (%v):\n%s", strings.Join(tc.args, " "), tc.wrote, err, out)
		}
	}
	if after := laketest.TreeState(t, lakeDir); after != before {
		t.Errorf("a read command changed the lake:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// A read command never creates a lake.
	missing := filepath.Join(dir, "nonexistent")
	out := nexus(t, dir, true, "tables", "--lake", missing)
	if !strings.Contains(out, "no lake at") {
		t.Errorf("tables on a missing lake: %s", out)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("tables created %s", missing)
	}
}

// readOnlyRunner makes the lake read-only for the process that runs nexus:
// without write permission for a normal user; as root (who ignores
// permissions) by running nexus as nobody through setpriv. The runner runs
// nexus in the directory cwd.
func readOnlyRunner(t *testing.T, dir, lakeDir string) func(cwd string, args ...string) (string, error) {
	t.Helper()
	prefix := readOnlyPrefix(t, dir, lakeDir)
	return func(cwd string, args ...string) (string, error) {
		full := append(append(append([]string{}, prefix...), nexusBin, "--lake", lakeDir), args...)
		cmd := exec.Command(full[0], full[1:]...)
		cmd.Dir = cwd
		cmd.Env = append(os.Environ(), "HOME="+os.TempDir())
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
}

// readOnlyPrefix takes the write permissions of the lake away (restored at
// cleanup) and returns what to run nexus through so that they hold: nothing
// for a normal user, setpriv to nobody for root.
func readOnlyPrefix(t *testing.T, dir, lakeDir string) []string {
	t.Helper()
	laketest.MakeReadOnly(t, lakeDir)
	var prefix []string
	if os.Geteuid() == 0 {
		setpriv, err := exec.LookPath("setpriv")
		if err != nil {
			if os.Getenv("NEXUS_REQUIRE_TOOLS") != "" {
				t.Fatal("setpriv (util-linux) is required (NEXUS_REQUIRE_TOOLS is set)")
			}
			t.Skip("running as root without setpriv (util-linux): cannot make the lake read-only for nexus")
		}
		// nobody must reach the lake and the binary.
		for _, p := range []string{dir, filepath.Dir(dir), filepath.Dir(nexusBin)} {
			if err := os.Chmod(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		prefix = []string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"}
	}
	return prefix
}

// TestDamagedPointerRecovers: with _nexus/CURRENT damaged, commands refuse
// the lake with what to do, `snapshots` still lists, and `rollback N`
// rewrites the pointer.
func TestDamagedPointerRecovers(t *testing.T) {
	dir := t.TempDir()
	nexus(t, dir, false, "generate", "--out", "src", "--scale", "0.01", "--seed", "8")
	nexus(t, dir, false, "run", "--source", "src")
	if err := os.WriteFile(filepath.Join(dir, "lake", "_nexus", "CURRENT"), []byte("{\"snap"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := nexus(t, dir, true, "query", "SELECT 1")
	if !strings.Contains(out, "pointer is damaged") || !strings.Contains(out, "nexus rollback N") {
		t.Errorf("query on a damaged pointer:\n%s", out)
	}
	if out := nexus(t, dir, false, "snapshots"); !strings.Contains(out, "1 ") {
		t.Errorf("snapshots on a damaged pointer:\n%s", out)
	}
	nexus(t, dir, false, "rollback", "1")
	if out := nexus(t, dir, false, "doctor"); !strings.Contains(out, "all intact") {
		t.Errorf("doctor after recovering the pointer:\n%s", out)
	}
	if n := queryJSON(t, dir, "SELECT count(*) AS n FROM gold.fact_sales"); n[0]["n"].(float64) == 0 {
		t.Error("no sales after recovering the pointer")
	}
}

// TestKillEveryCommitter SIGKILLs each command that commits once it has
// published a new table version, and checks that the lake still reads the
// snapshot it had, intact, and that a re-run of the command converges.
func TestKillEveryCommitter(t *testing.T) {
	dir := t.TempDir()
	nexus(t, dir, false, "generate", "--out", "src", "--scale", "0.05", "--seed", "9")
	nexus(t, dir, false, "run", "--source", "src")
	manifests := func() map[string]bool {
		files, _ := filepath.Glob(filepath.Join(dir, "lake", "_nexus", "manifests", "*", "*.json"))
		out := map[string]bool{}
		for _, f := range files {
			out[f] = true
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		args   []string
		damage func()
	}{
		{"transform", []string{"transform", "--full-refresh"}, nil},
		{"ingest", []string{"ingest", "--source", "src", "--force"}, nil},
		{"doctor --repair", []string{"doctor", "--repair", "--source", "src"}, func() {
			files, _ := filepath.Glob(filepath.Join(dir, "lake", "silver", "orders", "v*", "*", "*", "*.parquet"))
			for _, f := range files {
				if err := os.Truncate(f, 10); err != nil {
					t.Fatal(err)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before string
			for attempt := 1; ; attempt++ {
				if tc.damage != nil {
					tc.damage()
				}
				before = nexus(t, dir, false, "snapshots")
				seen := manifests()
				if killWhen(t, dir, func() bool { return len(manifests()) > len(seen) }, tc.args...) {
					break
				}
				if attempt == 3 {
					t.Fatalf("%s finished before it could be killed, 3 times", tc.name)
				}
			}
			if after := nexus(t, dir, false, "snapshots"); after != before {
				t.Errorf("a killed %s changed the snapshots:\nbefore:\n%s\nafter:\n%s", tc.name, before, after)
			}
			if tc.damage == nil {
				if out := nexus(t, dir, false, "doctor"); !strings.Contains(out, "all intact") {
					t.Errorf("doctor after a killed %s:\n%s", tc.name, out)
				}
			}
			nexus(t, dir, false, tc.args...)
			if out := nexus(t, dir, false, "doctor"); !strings.Contains(out, "all intact") {
				t.Errorf("doctor after re-running %s:\n%s", tc.name, out)
			}
		})
	}
}

// TestKillWhileApplyingDrop SIGKILLs `nexus run` while it applies one day of
// a landing zone, re-runs, and gets exactly what a run that was never killed
// gives, with every batch in Bronze once.
func TestKillWhileApplyingDrop(t *testing.T) {
	dir := t.TempDir()
	nexus(t, dir, false, "generate", "--out", "lz", "--scale", "0.02", "--seed", "5", "--daily-from", "2018-08-20")
	entries, err := os.ReadDir(filepath.Join(dir, "lz"))
	if err != nil {
		t.Fatal(err)
	}
	var drops []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), "dt=") {
			drops = append(drops, e.Name())
		}
	}
	if len(drops) < 5 {
		t.Fatalf("drops: %v", drops)
	}
	link := func(src string, ds ...string) {
		for _, d := range ds {
			if err := os.Symlink(filepath.Join(dir, "lz", d), filepath.Join(dir, src, d)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, src := range []string{"src", "ref-src"} {
		if err := os.Mkdir(filepath.Join(dir, src), 0o755); err != nil {
			t.Fatal(err)
		}
		link(src, drops[:4]...)
	}
	nexus(t, dir, false, "--lake", "ref", "run", "--no-reports", "--source", "ref-src")
	nexus(t, dir, false, "--lake", "lake", "run", "--no-reports", "--source", "src")
	link("ref-src", drops[4])
	nexus(t, dir, false, "--lake", "ref", "run", "--no-reports", "--source", "ref-src")

	link("src", drops[4])
	silverManifests := func() int {
		m, _ := filepath.Glob(filepath.Join(dir, "lake", "_nexus", "manifests", "silver.*", "*.json"))
		return len(m)
	}
	before := silverManifests()
	for attempt := 0; ; attempt++ {
		if killWhen(t, dir, func() bool { return silverManifests() > before }, "run", "--no-reports", "--source", "src") {
			break
		}
		if attempt == 3 {
			t.Fatal("could not kill the run while it applied the drop")
		}
		nexus(t, dir, false, "rollback", "1")
	}
	nexus(t, dir, false, "run", "--no-reports", "--source", "src")

	// Every table has the rows of the run never killed (run ids aside).
	const fingerprint = `SELECT '%[1]s' AS t, count(*) AS n, sum(hash(CAST(x AS VARCHAR))) AS h
		FROM (SELECT * %[2]s FROM %[1]s) AS x`
	for _, tc := range []struct{ table, exclude string }{
		{"bronze.orders", "EXCLUDE (_ingest_run_id, _ingested_at)"}, {"bronze.order_reviews", "EXCLUDE (_ingest_run_id, _ingested_at)"},
		{"silver.orders", ""}, {"silver.order_items", ""}, {"silver.order_reviews", ""}, {"silver.customers", ""},
		{"gold.fact_sales", ""}, {"gold.fact_reviews", ""}, {"gold.dim_customer", ""}, {"gold.dim_product", ""},
		{"gold.mart_monthly_sales", ""}, {"quarantine.silver_orders", "EXCLUDE (_quarantine_run_id, _quarantined_at)"},
	} {
		q := fmt.Sprintf(fingerprint, tc.table, tc.exclude)
		got := nexus(t, dir, false, "--lake", "lake", "query", "--format", "csv", q)
		want := nexus(t, dir, false, "--lake", "ref", "query", "--format", "csv", q)
		if got != want {
			t.Errorf("%s after kill and re-run:\n%s\nwant (never killed):\n%s", tc.table, got, want)
		}
	}
	dup := queryJSON(t, dir, `SELECT count(*) AS n FROM (SELECT _batch, _source_line FROM bronze.orders GROUP BY ALL HAVING count(*) > 1)`)
	if dup[0]["n"].(float64) != 0 {
		t.Errorf("a batch was ingested twice: %v", dup)
	}
}

// vacuum on a local lake: snapshots superseded longer ago than
// --older-than go with the versions only they used; the current snapshot
// answers as before, the vacuumed one is said to be gone; a retention
// shorter than a reader's pin is refused.
func TestVacuumLocal(t *testing.T) {
	dir := t.TempDir()
	nexus(t, dir, false, "generate", "--out", "src", "--scale", "0.01", "--seed", "6")
	nexus(t, dir, false, "run", "--source", "src", "--no-reports")
	nexus(t, dir, false, "generate", "--out", "src", "--scale", "0.012", "--seed", "7", "--force")
	nexus(t, dir, false, "run", "--source", "src", "--no-reports")
	q := "SELECT count(*) AS n FROM gold.fact_sales"
	current := nexus(t, dir, false, "query", "--format", "json", q)
	if out := nexus(t, dir, true, "vacuum", "--older-than", "5m"); !strings.Contains(out, "at least 1h") {
		t.Errorf("vacuum --older-than 5m: %s", out)
	}
	if out := nexus(t, dir, false, "vacuum"); !strings.Contains(out, "removed nothing") {
		t.Errorf("within the hour, vacuum: %s", out)
	}
	// Three hours later, as far as the snapshots say.
	snaps, err := filepath.Glob(filepath.Join(dir, "lake", "_nexus", "snapshots", "*.json"))
	if err != nil || len(snaps) != 2 {
		t.Fatalf("snapshots %v %v", snaps, err)
	}
	for _, p := range snaps {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var s map[string]any
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		created, _ := time.Parse(time.RFC3339Nano, s["created_at"].(string))
		s["created_at"] = created.Add(-3 * time.Hour)
		if b, err = json.Marshal(s); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	plan := nexus(t, dir, false, "vacuum", "--dry-run")
	out := nexus(t, dir, false, "vacuum")
	if !strings.Contains(plan, "would remove 1 snapshot(s) (1)") || !strings.Contains(out, "removed 1 snapshot(s) (1)") || !strings.Contains(out, "table version(s)") {
		t.Errorf("vacuum three hours later:\n%s\n%s", plan, out)
	}
	if got := nexus(t, dir, false, "query", "--format", "json", q); got != current {
		t.Errorf("after vacuum the current snapshot answers %s, before %s", got, current)
	}
	if out := nexus(t, dir, true, "query", "--snapshot", "1", q); !strings.Contains(out, "snapshot 1") {
		t.Errorf("query --snapshot 1 after vacuum: %s", out)
	}
	if out := nexus(t, dir, false, "doctor"); strings.Contains(out, "missing") {
		t.Errorf("doctor after vacuum:\n%s", out)
	}
}
