package lake

import (
	"os"
	"path/filepath"
	"testing"
)

func writePart(t *testing.T, s *Staging, name, content string) {
	t.Helper()
	p := filepath.Join(s.Dir(), name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPublishVersionsAndCollect(t *testing.T) {
	t.Parallel()
	lk, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if m, err := lk.Manifest(Bronze, "orders"); err != nil || m != nil {
		t.Fatalf("unpublished table: %v %v", m, err)
	}
	var dirs []string
	for i, run := range []string{"r1", "r2", "r3"} {
		s, err := lk.Stage(Bronze, "orders", run)
		if err != nil {
			t.Fatal(err)
		}
		writePart(t, s, "year=2017/part-0.parquet", "x")
		writePart(t, s, "part-1.parquet", "yy")
		m, err := s.Publish(Manifest{Schema: []Column{{Name: "a", Type: "INTEGER"}}},
			map[string]int64{"year=2017/part-0.parquet": 3, "part-1.parquet": 4})
		if err != nil {
			t.Fatal(err)
		}
		if m.Version != int64(i+1) || m.Rows != 7 || m.Bytes != 3 || len(m.Files) != 2 || m.RunID != run {
			t.Fatalf("manifest %+v", m)
		}
		dirs = append(dirs, m.Dir)
	}
	// The current and one previous version are kept; older ones are removed.
	for i, d := range dirs {
		_, err := os.Stat(filepath.Join(lk.Root, d))
		if exists := err == nil; exists != (i >= 1) {
			t.Errorf("version dir %s exists=%v", d, exists)
		}
	}
	m, _ := lk.Manifest(Bronze, "orders")
	for _, f := range lk.AbsFiles(m) {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("published file missing: %v", err)
		}
	}
}

func TestAbortAndOrphans(t *testing.T) {
	t.Parallel()
	lk, _ := Open(t.TempDir())
	s, _ := lk.Stage(Silver, "orders", "ok")
	writePart(t, s, "part-0.parquet", "x")
	if _, err := s.Publish(Manifest{}, map[string]int64{"part-0.parquet": 1}); err != nil {
		t.Fatal(err)
	}
	// A crashed writer leaves a staged version that no manifest lists.
	crashed, _ := lk.Stage(Silver, "orders", "crashed")
	writePart(t, crashed, "part-0.parquet", "half")
	orphans, err := lk.Orphans()
	if err != nil || len(orphans) != 1 {
		t.Fatalf("orphans = %v, %v", orphans, err)
	}
	m, _ := lk.Manifest(Silver, "orders")
	if m.RunID != "ok" || m.Version != 1 {
		t.Fatalf("published manifest changed by a crashed writer: %+v", m)
	}
	// The next publish of the table removes the orphan.
	s2, _ := lk.Stage(Silver, "orders", "next")
	writePart(t, s2, "part-0.parquet", "x")
	if _, err := s2.Publish(Manifest{}, map[string]int64{"part-0.parquet": 1}); err != nil {
		t.Fatal(err)
	}
	if orphans, _ := lk.Orphans(); len(orphans) != 0 {
		t.Errorf("orphans after publish: %v", orphans)
	}
	aborted, _ := lk.Stage(Silver, "orders", "aborted")
	aborted.Abort()
	if _, err := os.Stat(aborted.Dir()); !os.IsNotExist(err) {
		t.Errorf("aborted stage still on disk")
	}
	if _, err := s2.Publish(Manifest{}, map[string]int64{}); err == nil {
		// part-0 has no row count in the map: must be an error, not a silent 0.
		t.Errorf("publish without row counts accepted")
	}
}

func TestLockExcludesSecondWriter(t *testing.T) {
	t.Parallel()
	lk, _ := Open(t.TempDir())
	unlock, err := lk.Lock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lk.Lock(); err == nil {
		t.Fatal("second lock succeeded")
	}
	unlock()
	unlock2, err := lk.Lock()
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()
}
