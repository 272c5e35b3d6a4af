package lake

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
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

// parquetish is the smallest byte string Verify accepts as Parquet.
func parquetish(body string) string {
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(body)))
	return "PAR1" + body + string(n[:]) + "PAR1"
}

// openNew opens a writable lake in a new temporary directory.
func openNew(t *testing.T) (root string, w *Lake) {
	t.Helper()
	root = t.TempDir()
	w, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	return root, w
}

func publish(t *testing.T, lk *Lake, layer, table, run string, rows int64) *Manifest {
	t.Helper()
	s, err := lk.Stage(layer, table, run)
	if err != nil {
		t.Fatal(err)
	}
	writePart(t, s, "part-0.parquet", parquetish("rows"))
	m, err := s.Publish(Manifest{Schema: []Column{{Name: "a", Type: "INTEGER"}}}, map[string]int64{"part-0.parquet": rows})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPublishIsInvisibleUntilCommit(t *testing.T) {
	t.Parallel()
	root, w := openNew(t)
	if _, err := w.Manifest(Bronze, "orders"); !errors.Is(err, ErrNoTable) {
		t.Fatalf("unpublished table: %v", err)
	}
	s, err := w.Stage(Bronze, "orders", "r1")
	if err != nil {
		t.Fatal(err)
	}
	writePart(t, s, "year=2017/part-0.parquet", "x")
	writePart(t, s, "part-1.parquet", "yy")
	m, err := s.Publish(Manifest{}, map[string]int64{"year=2017/part-0.parquet": 3, "part-1.parquet": 4})
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != 1 || m.Rows != 7 || m.Bytes != 3 || len(m.Files) != 2 || m.RunID != "r1" {
		t.Fatalf("manifest %+v", m)
	}
	// The writer sees its own version; a reader does not, until the commit.
	if got, err := w.Manifest(Bronze, "orders"); err != nil || got.Version != 1 {
		t.Fatalf("writer view: %v %v", got, err)
	}
	r, err := OpenRead(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Manifest(Bronze, "orders"); !errors.Is(err, ErrNoTable) {
		t.Fatalf("reader sees an uncommitted version: %v", err)
	}
	snap, err := w.Commit(CommitInfo{RunID: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	if snap.ID != 1 || len(snap.Changed) != 1 || snap.Changed[0] != "bronze.orders" {
		t.Fatalf("snapshot %+v", snap)
	}
	// The old reader stays pinned; a new one sees the commit.
	if _, err := r.Manifest(Bronze, "orders"); !errors.Is(err, ErrNoTable) {
		t.Fatalf("pinned reader moved: %v", err)
	}
	r2, _ := r.Reopen()
	if got, err := r2.Manifest(Bronze, "orders"); err != nil || got.Version != 1 {
		t.Fatalf("reopened reader: %v %v", got, err)
	}
	// Nothing pending: no new snapshot.
	if again, err := w.Commit(CommitInfo{}); err != nil || again.ID != 1 {
		t.Fatalf("empty commit: %+v %v", again, err)
	}
}

func TestOpenReadNeverCreates(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "nope")
	if _, err := OpenRead(root); err == nil {
		t.Fatal("OpenRead of a missing lake succeeded")
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Fatalf("OpenRead created %s", root)
	}
	existing := t.TempDir()
	if _, err := Open(existing); err != nil {
		t.Fatal(err)
	}
	r, err := OpenRead(existing)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Stage(Bronze, "x", "r"); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("stage on a read handle: %v", err)
	}
}

func TestRollbackAtAndVacuum(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	w, _ := Open(root)
	var dirs []string
	for i, run := range []string{"r1", "r2", "r3"} {
		m := publish(t, w, Silver, "orders", run, int64(10*(i+1)))
		publish(t, w, Gold, "fact_"+run, run, 1)
		if _, err := w.Commit(CommitInfo{RunID: run}); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, m.Dir)
	}
	// Time travel.
	old, err := w.At(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := old.Manifest(Silver, "orders"); err != nil || m.Rows != 10 {
		t.Fatalf("snapshot 1: %+v %v", m, err)
	}
	if _, err := old.Manifest(Gold, "fact_r2"); !errors.Is(err, ErrNoTable) {
		t.Fatalf("snapshot 1 has a later table: %v", err)
	}
	// Rollback is a new commit with the old mapping.
	s, err := w.Rollback(1, "rb")
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != 4 || s.Kind != CommitRollback || len(s.Removed) != 2 {
		t.Fatalf("rollback snapshot %+v", s)
	}
	if m, _ := w.Manifest(Silver, "orders"); m.Rows != 10 || m.Version != 1 {
		t.Fatalf("after rollback: %+v", m)
	}
	// A version number is never reused after a rollback.
	if m := publish(t, w, Silver, "orders", "r5", 5); m.Version != 4 {
		t.Fatalf("version after rollback = %d, want 4", m.Version)
	}
	if _, err := w.Commit(CommitInfo{RunID: "r5"}); err != nil {
		t.Fatal(err)
	}
	// A crashed writer's staged version is an orphan.
	crashed, _ := w.Stage(Silver, "orders", "crashed")
	writePart(t, crashed, "part-0.parquet", "half")
	w2, _ := Open(root)
	orphans, err := w2.Orphans()
	if err != nil || len(orphans) != 1 {
		t.Fatalf("orphans = %v, %v", orphans, err)
	}
	// Retention: keep 2 snapshots, no grace: snapshots 1-3 go, with the
	// versions only they referenced and the orphan.
	res, err := w2.Vacuum(context.Background(), Retention{Keep: 2}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Snapshots) != 3 {
		t.Fatalf("vacuumed snapshots %v", res.Snapshots)
	}
	for i, d := range dirs {
		_, err := os.Stat(filepath.Join(root, d))
		// dirs[0] (v1) is referenced by snapshot 4 (the rollback).
		if exists := err == nil; exists != (i == 0) {
			t.Errorf("version dir %s exists=%v", d, exists)
		}
	}
	if orphans, _ := w2.Orphans(); len(orphans) != 0 {
		t.Errorf("orphans after vacuum: %v", orphans)
	}
	if _, err := w2.At(context.Background(), 2); err == nil {
		t.Errorf("vacuumed snapshot still readable")
	}
	// Grace keeps recently superseded snapshots.
	publish(t, w2, Silver, "orders", "r6", 6)
	if _, err := w2.Commit(CommitInfo{}); err != nil {
		t.Fatal(err)
	}
	if res, _ := w2.Vacuum(context.Background(), Retention{Keep: 1, Grace: time.Hour}, time.Now()); len(res.Snapshots) != 0 {
		t.Errorf("grace did not keep snapshots: %v", res.Snapshots)
	}
}

func TestConcurrentCommitLoses(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	a, _ := Open(root)
	b, _ := Open(root)
	publish(t, a, Bronze, "orders", "a", 1)
	publish(t, b, Bronze, "orders", "b", 2)
	if _, err := a.Commit(CommitInfo{RunID: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Commit(CommitInfo{RunID: "b"}); !errors.Is(err, ErrConcurrentCommit) {
		t.Fatalf("second writer: %v", err)
	}
	r, _ := OpenRead(root)
	if m, _ := r.Manifest(Bronze, "orders"); m.RunID != "a" {
		t.Fatalf("current = %+v", m)
	}
}

func TestVerifyAndDamagedManifest(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	w, _ := Open(root)
	good := publish(t, w, Silver, "orders", "r1", 1)
	bad := publish(t, w, Gold, "fact_sales", "r1", 1)
	trunc := publish(t, w, Gold, "dim_date", "r1", 1)
	if _, err := w.Commit(CommitInfo{}); err != nil {
		t.Fatal(err)
	}
	if f := w.Verify(good); len(f) != 0 {
		t.Fatalf("intact table: %v", f)
	}
	if err := os.Remove(w.AbsFiles(bad)[0]); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.AbsFiles(trunc)[0], []byte("PAR1"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, _ := OpenRead(root)
	got := map[string]Problem{}
	for _, f := range r.Check() {
		got[f.Table] = f.Problem
	}
	want := map[string]Problem{"gold.fact_sales": ProblemMissingFile, "gold.dim_date": ProblemSize}
	if len(got) != len(want) || got["gold.fact_sales"] != want["gold.fact_sales"] || got["gold.dim_date"] != want["gold.dim_date"] {
		t.Fatalf("findings %v, want %v", got, want)
	}
	// A truncated manifest damages its table only.
	if err := os.WriteFile(filepath.Join(root, manifestRel(Gold, "fact_sales", bad.Dir)), []byte(`{"lay`), 0o644); err != nil {
		t.Fatal(err)
	}
	r, _ = OpenRead(root)
	ms, err := r.Manifests()
	if err != nil || len(ms) != 2 {
		t.Fatalf("manifests with one damaged: %d %v", len(ms), err)
	}
	if _, err := r.Manifest(Gold, "fact_sales"); err == nil || errors.Is(err, ErrNoTable) {
		t.Fatalf("damaged manifest: %v", err)
	}
}

func TestLegacyLakeIsSnapshotZero(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "_nexus", "tables"), 0o755); err != nil {
		t.Fatal(err)
	}
	legacy := `{"layer":"bronze","table":"orders","version":3,"run_id":"old","dir":"bronze/orders/v000003-old","files":[],"rows":5}`
	if err := os.WriteFile(filepath.Join(root, "_nexus", "tables", "bronze.orders.json"), []byte(legacy), 0o644); err != nil {
		t.Fatal(err)
	}
	w, _ := Open(root)
	if m, err := w.Manifest(Bronze, "orders"); err != nil || m.Version != 3 {
		t.Fatalf("legacy manifest: %+v %v", m, err)
	}
	if m := publish(t, w, Silver, "orders", "new", 1); m.Version != 1 {
		t.Fatal(m.Version)
	}
	s, err := w.Commit(CommitInfo{})
	if err != nil || s.ID != 1 || s.Tables["bronze.orders"].Version != 3 {
		t.Fatalf("first commit over a legacy lake: %+v %v", s, err)
	}
	// Once no kept snapshot uses the legacy manifest, vacuum removes it.
	publish(t, w, Bronze, "orders", "newer", 2)
	if _, err := w.Commit(CommitInfo{}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Vacuum(context.Background(), Retention{Keep: 1}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "_nexus", "tables", "bronze.orders.json")); !os.IsNotExist(err) {
		t.Errorf("legacy manifest kept after vacuum: %v", err)
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

// TestConcurrentCommitsWithoutTheLock: writers that do not hold the writer
// lock and commit from the same base at the same time: exactly one wins,
// the others get ErrConcurrentCommit, and no reported commit is lost.
func TestConcurrentCommitsWithoutTheLock(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	w0, _ := Open(root)
	publish(t, w0, Bronze, "seed", "r0", 1)
	if _, err := w0.Commit(CommitInfo{}); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 40; round++ {
		const n = 4
		hs := make([]*Lake, n)
		for i := range hs {
			var err error
			if hs[i], err = Open(root); err != nil {
				t.Fatal(err)
			}
			publish(t, hs[i], Silver, fmt.Sprintf("r%d_w%d", round, i), fmt.Sprintf("run%d-%d", round, i), 1)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		won := make([]bool, n)
		for i := range hs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := hs[i].Commit(CommitInfo{})
				if err != nil && !errors.Is(err, ErrConcurrentCommit) {
					t.Error(err)
				}
				won[i] = err == nil
			}()
		}
		close(start)
		wg.Wait()
		cur, err := OpenRead(root)
		if err != nil {
			t.Fatal(err)
		}
		wins := 0
		for i, ok := range won {
			if !ok {
				continue
			}
			wins++
			if _, in := cur.Snapshot().Tables[fmt.Sprintf("silver.r%d_w%d", round, i)]; !in {
				t.Errorf("round %d: writer %d was told it committed, but the current snapshot does not hold its table", round, i)
			}
		}
		if wins != 1 {
			t.Errorf("round %d: %d writers committed from the same base", round, wins)
		}
	}
}

// TestGraceDatesFromTheChain: a snapshot superseded a moment ago keeps its
// files for the grace period even when a dead writer's snapshot file (never
// current) dated hours ago sits between them.
func TestGraceDatesFromTheChain(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	w, _ := Open(root)
	publish(t, w, Bronze, "t", "run1", 1)
	if _, err := w.Commit(CommitInfo{}); err != nil {
		t.Fatal(err)
	}
	dead, _ := Open(root)
	dm := publish(t, dead, Bronze, "t", "dead", 1)
	s2 := &Snapshot{ID: 2, Parent: 1, Kind: CommitRun, CreatedAt: time.Now().Add(-3 * time.Hour),
		Tables: map[string]TableRef{"bronze.t": refOf(dm)}}
	b, _ := json.Marshal(s2)
	if err := os.WriteFile(dead.snapshotPath(2), b, 0o644); err != nil {
		t.Fatal(err)
	}
	reader, _ := OpenRead(root)
	rm, _ := reader.Manifest(Bronze, "t")
	w2, _ := Open(root)
	publish(t, w2, Bronze, "t", "run3", 1)
	if _, err := w2.Commit(CommitInfo{}); err != nil {
		t.Fatal(err)
	}
	if _, err := w2.Vacuum(context.Background(), Retention{Keep: 1, Grace: time.Hour}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if f := reader.Verify(rm); len(f) > 0 {
		t.Errorf("snapshot 1 was current a moment ago but its files are gone: %v", f[0])
	}
}

// TestLegacyReaderKeepsItsFiles: a reader pinned to a lake from before
// snapshots keeps its files through the first commit and vacuum.
func TestLegacyReaderKeepsItsFiles(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir := "bronze/t/v000001-old"
	body := parquetish("rows")
	if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, dir, "part-0.parquet"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	m := Manifest{Layer: Bronze, Table: "t", Version: 1, RunID: "old", Dir: dir,
		Files: []File{{Path: dir + "/part-0.parquet", Rows: 1, Bytes: int64(len(body))}}, Rows: 1, Bytes: int64(len(body))}
	b, _ := json.Marshal(m)
	if err := os.MkdirAll(filepath.Join(root, "_nexus", "tables"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "_nexus", "tables", "bronze.t.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	reader, err := OpenRead(root)
	if err != nil {
		t.Fatal(err)
	}
	rm, err := reader.Manifest(Bronze, "t")
	if err != nil {
		t.Fatal(err)
	}
	w, _ := Open(root)
	publish(t, w, Bronze, "t", "new", 1)
	if _, err := w.Commit(CommitInfo{}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Vacuum(context.Background(), DefaultRetention(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if f := reader.Verify(rm); len(f) > 0 {
		t.Errorf("legacy-pinned reader lost its files at the first commit+vacuum: %v", f[0])
	}
}

// A rollback makes the meta committed with the old mapping current again: a
// stream's offsets go back with its data (and a key added later goes).
func TestRollbackRestoresMeta(t *testing.T) {
	t.Parallel()
	w, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var first *Snapshot
	for i, meta := range []map[string]string{{"stream.offset.t.0": "10"}, {"stream.offset.t.0": "20", "stream.offset.t.1": "5"}} {
		publish(t, w, Bronze, "orders", fmt.Sprint("r", i), 1)
		s, err := w.Commit(CommitInfo{Kind: CommitStream, Meta: meta})
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = s
		}
	}
	s, err := w.Rollback(first.ID, "back")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(s.Meta); got != "map[stream.offset.t.0:10]" {
		t.Errorf("meta after rollback: %s", got)
	}
}

// A version a killed writer published but never committed keeps its number:
// the next writer takes the one after, so no two manifests share a version.
func TestOrphanVersionNumberNotReused(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	w, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, w, Bronze, "orders", "r1", 1)
	if _, err := w.Commit(CommitInfo{Kind: CommitRun}); err != nil {
		t.Fatal(err)
	}
	if m := publish(t, w, Bronze, "orders", "killed", 2); m.Version != 2 { // never committed
		t.Fatalf("orphan version %d", m.Version)
	}
	next, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	m := publish(t, next, Bronze, "orders", "r3", 3)
	if m.Version != 3 {
		t.Errorf("the next writer's version is %d, want 3", m.Version)
	}
	if _, err := next.Commit(CommitInfo{Kind: CommitRun}); err != nil {
		t.Fatal(err)
	}
	for _, v := range []int64{2, 3} {
		if _, err := next.ManifestAt(Bronze, "orders", v); err != nil {
			t.Errorf("version %d: %v", v, err)
		}
	}
}

// TestFlag: the --lake of a suggested command names the lake as a shell
// reads it, whatever its path.
func TestFlag(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ arg, want string }{
		{"/srv/lake", "/srv/lake"},
		{"s3://bucket/olist", "s3://bucket/olist"},
		{"/home/me/my lake", "'/home/me/my lake'"},
		{"/tmp/it's", `'/tmp/it'\''s'`},
		{"", "''"},
		{"/tmp/$HOME", "'/tmp/$HOME'"},
	} {
		if got := ShellArg(tc.arg); got != tc.want {
			t.Errorf("ShellArg(%q) = %s, want %s", tc.arg, got, tc.want)
		}
	}
	dir := filepath.Join(t.TempDir(), "a lake")
	lk, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := lk.Flag(), "--lake '"+dir+"'"; got != want {
		t.Errorf("Flag() = %s, want %s", got, want)
	}
}
