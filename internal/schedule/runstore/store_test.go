package runstore

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
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
