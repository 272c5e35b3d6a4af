package runstore

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keystone/nexus/internal/lake"
)

// The store is created and migrated once; reopening changes nothing, a
// store newer than this binary is refused, and the read-only open never
// creates one.
func TestStoreMigrations(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	if _, err := OpenStoreRead(root); !errors.Is(err, ErrNoStore) {
		t.Fatalf("read-only open of no store: %v", err)
	}
	if _, err := os.Stat(lake.MetaPath(root, StoreFile)); !os.IsNotExist(err) {
		t.Fatalf("the read-only open created the store: %v", err)
	}
	st, err := OpenStore(root)
	if err != nil {
		t.Fatal(err)
	}
	c := &Cycle{LogicalDate: "2018-07-01", Trigger: TriggerManual}
	if err := st.StartCycle(ctx, c); err != nil {
		t.Fatal(err)
	}
	st.Close()
	for range 2 {
		st, err := OpenStore(root)
		if err != nil {
			t.Fatal(err)
		}
		var v int
		if err := st.db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != len(migrations) {
			t.Fatalf("user_version %d (%v), want %d", v, err, len(migrations))
		}
		cs, err := st.Cycles(ctx, 0)
		if err != nil || len(cs) != 1 {
			t.Fatalf("cycles after reopen: %v %v", cs, err)
		}
		st.Close()
	}
	st, err = OpenStore(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.db.Exec(`PRAGMA user_version = 99`); err != nil {
		t.Fatal(err)
	}
	st.Close()
	for _, open := range []func(string) (*Store, error){OpenStore, OpenStoreRead} {
		if _, err := open(root); err == nil || !strings.Contains(err.Error(), "upgrade nexus") {
			t.Errorf("a newer store: %v", err)
		}
	}
}

// What a dead process left running is marked abandoned, once; incidents
// open once and close once.
func TestAbandonedAndIncidents(t *testing.T) {
	ctx := context.Background()
	st, err := OpenStore(filepath.Join(t.TempDir(), "lake"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c := &Cycle{LogicalDate: "2018-07-01", Trigger: TriggerScheduled}
	if err := st.StartCycle(ctx, c); err != nil {
		t.Fatal(err)
	}
	r := &Run{CycleID: c.ID, Job: "j", Task: "ingest", LogicalDate: c.LogicalDate}
	if err := st.StartRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := st.StartAttempt(ctx, r.ID, 1); err != nil {
		t.Fatal(err)
	}
	ab, err := st.MarkAbandoned(ctx)
	if err != nil || len(ab) != 1 || ab[0].ID != c.ID {
		t.Fatalf("abandoned: %v %v", ab, err)
	}
	if ab, err = st.MarkAbandoned(ctx); err != nil || len(ab) != 0 {
		t.Fatalf("second mark: %v %v", ab, err)
	}
	got, err := st.Run(ctx, r.ID)
	if err != nil || got.Status != StatusAbandoned || got.Attempts != 1 {
		t.Fatalf("run: %+v %v", got, err)
	}
	atts, err := st.Attempts(ctx, r.ID)
	if err != nil || len(atts) != 1 || atts[0].Status != StatusAbandoned {
		t.Fatalf("attempts: %+v %v", atts, err)
	}
	un, err := st.Unfinished(ctx, TriggerScheduled)
	if err != nil || len(un) != 1 {
		t.Fatalf("unfinished: %v %v", un, err)
	}
	for i, want := range []bool{true, false} {
		if opened, err := st.OpenIncident("job:j", r.ID, "boom"); err != nil || opened != want {
			t.Errorf("open %d: %t %v", i, opened, err)
		}
	}
	for i, want := range []bool{true, false} {
		if sum, _, ok, err := st.CloseIncident("job:j"); err != nil || ok != want || (ok && sum != "boom") {
			t.Errorf("close %d: %q %t %v", i, sum, ok, err)
		}
	}
}

// /metrics says when the run store cannot be read, instead of dropping the
// run metrics silently.
func TestMetricsStoreUp(t *testing.T) {
	root := filepath.Join(t.TempDir(), "lake")
	if _, err := lake.Open(root); err != nil {
		t.Fatal(err)
	}
	get := func() string {
		rec := httptest.NewRecorder()
		MetricsHandler(root).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	if body := get(); strings.Contains(body, "nexus_run_store_up") || !strings.Contains(body, "nexus_lake_snapshot 0") {
		t.Errorf("no store yet:\n%s", body)
	}
	st, err := OpenStore(root)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if body := get(); !strings.Contains(body, "nexus_run_store_up 1") || !strings.Contains(body, "nexus_scheduler_paused 0") {
		t.Errorf("a store:\n%s", body)
	}
	if err := os.WriteFile(lake.MetaPath(root, StoreFile), []byte("not a database, just text that is long enough to look like a header......"), 0o644); err != nil {
		t.Fatal(err)
	}
	if body := get(); !strings.Contains(body, "nexus_run_store_up 0") {
		t.Errorf("a damaged store:\n%s", body)
	}
}

// A writer killed mid-transaction leaves a hot journal: a read-only reader
// says what to do, and the next writer recovers the store.
func TestHotJournal(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	st, err := OpenStore(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.StartCycle(ctx, &Cycle{LogicalDate: "2018-07-01", Trigger: TriggerManual}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	path := lake.MetaPath(root, StoreFile)
	// What a killed writer leaves: the journal of a transaction that changed
	// the database file, which is then half written.
	cmd := exec.Command(os.Args[0], "-test.run=TestHelperKilledWriter")
	cmd.Env = append(os.Environ(), "NEXUS_HELPER_STORE="+root)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "writing") {
		t.Fatalf("helper: %v %s", err, out)
	}
	if _, err := os.Stat(path + "-journal"); err != nil {
		t.Skipf("no hot journal left (%v): this SQLite build did not spill the transaction", err)
	}
	if _, err := OpenStoreRead(root); err == nil || !strings.Contains(err.Error(), "killed while writing") {
		t.Fatalf("read-only open of a store with a hot journal: %v", err)
	}
	st, err = OpenStore(root)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := st.Cycles(ctx, 0)
	st.Close()
	if err != nil || len(cs) != 1 {
		t.Fatalf("after recovery: %v %v", cs, err)
	}
	if _, err := OpenStoreRead(root); err != nil {
		t.Fatalf("read-only open after recovery: %v", err)
	}
}

// TestHelperKilledWriter is run by TestHotJournal in a child process: it
// writes many rows in one transaction with a tiny page cache (so that pages
// reach the database file before the commit) and dies before committing.
func TestHelperKilledWriter(t *testing.T) {
	root := os.Getenv("NEXUS_HELPER_STORE")
	if root == "" {
		t.Skip("helper process")
	}
	st, err := OpenStore(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.db.Exec(`PRAGMA cache_size = 1`); err != nil {
		t.Fatal(err)
	}
	tx, err := st.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5000 {
		if _, err := tx.Exec(`INSERT INTO settings (key, value) VALUES (?, ?)`, fmt.Sprint("k", i), strings.Repeat("x", 200)); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Println("writing")
	os.Exit(1) // dies mid-transaction, as under SIGKILL
}
