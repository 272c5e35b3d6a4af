package lake

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// A snapshot off the chain of parents from the current one may still have
// been current a moment ago: the chain is cut by a damaged snapshot file,
// or jumps back over a damaged pointer (rollback over it). Vacuum keeps
// such a snapshot's files while the snapshot above it on the chain is
// younger than the grace, not by its own (old) creation time; and it
// deletes nothing when the current snapshot cannot be read.
func TestVacuumOffTheChain(t *testing.T) {
	t.Parallel()
	now := time.Now()
	// age rewrites snapshot id as created (and written) ago.
	age := func(t *testing.T, lk *Lake, id int64, ago time.Duration) {
		t.Helper()
		s, err := lk.ReadSnapshot(id)
		if err != nil {
			t.Fatal(err)
		}
		s.CreatedAt = now.Add(-ago)
		b, _ := json.Marshal(s)
		if err := os.WriteFile(lk.snapshotPath(id), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(lk.snapshotPath(id), now.Add(-ago), now.Add(-ago)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		// damage acts on the lake of snapshots 1-4 (all three hours old
		// unless it says otherwise) and returns the handle that vacuums.
		damage func(t *testing.T, root string, w *Lake) *Lake
		// keep: the snapshot whose version must survive.
		keep int
		err  string
	}{
		{"rollback over a damaged pointer", func(t *testing.T, root string, w *Lake) *Lake {
			// Snapshot 4 was current until its pointer was damaged a
			// moment ago; a reader pinned it then.
			if err := os.WriteFile(w.pointerPath(), []byte("garbage"), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := RecoverPointer(root, 2, "recover"); err != nil {
				t.Fatal(err)
			}
			v, err := Open(root)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}, 4, ""},
		{"a damaged snapshot in the chain", func(t *testing.T, root string, w *Lake) *Lake {
			// Snapshot 3 (written half an hour ago) is damaged: snapshot 2
			// was current until then.
			age(t, w, 3, 30*time.Minute)
			if err := os.WriteFile(w.snapshotPath(3), []byte("{"), 0o644); err != nil {
				t.Fatal(err)
			}
			ago := now.Add(-30 * time.Minute)
			if err := os.Chtimes(w.snapshotPath(3), ago, ago); err != nil {
				t.Fatal(err)
			}
			age(t, w, 4, 0)
			return w
		}, 2, ""},
		{"the current snapshot is gone", func(t *testing.T, root string, w *Lake) *Lake {
			if err := os.WriteFile(w.pointerPath(), []byte(`{"snapshot": 99}`), 0o644); err != nil {
				t.Fatal(err)
			}
			return w
		}, 4, "snapshot 99"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root, w := openNew(t)
			var dirs []string
			for i := range 4 {
				m := publish(t, w, Silver, "orders", fmt.Sprint("r", i+1), int64(i+1))
				if _, err := w.Commit(CommitInfo{}); err != nil {
					t.Fatal(err)
				}
				dirs = append(dirs, m.Dir)
			}
			for id := int64(1); id <= 4; id++ {
				age(t, w, id, 3*time.Hour)
			}
			v := tc.damage(t, root, w)
			_, err := v.Vacuum(context.Background(), Retention{Keep: 1, Grace: time.Hour}, now)
			if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("vacuum: %v, want an error naming %s", err, tc.err)
			}
			if tc.err == "" && err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(root, dirs[tc.keep-1])); err != nil {
				t.Errorf("snapshot %d was current within the hour, its version: %v", tc.keep, err)
			}
		})
	}
}

// A version that carries a file of an older one keeps the older one's
// directory: vacuum learns it from the snapshot's Dirs, or, for a snapshot
// written before them, from the manifest.
func TestVacuumKeepsCarriedDirs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		stripDirs bool
	}{{"dirs in the snapshots", false}, {"snapshots without dirs (older format)", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root, w := openNew(t)
			base := publish(t, w, Bronze, "orders", "r1", 10)
			gone := publish(t, w, Silver, "orders", "r1", 10)
			if _, err := w.Commit(CommitInfo{RunID: "r1"}); err != nil {
				t.Fatal(err)
			}
			// r2 appends a file and carries r1's; r3 replaces r1's Silver
			// version.
			s, err := w.Stage(Bronze, "orders", "r2")
			if err != nil {
				t.Fatal(err)
			}
			writePart(t, s, "part-0.parquet", parquetish("more"))
			s.Carry(base.Files...)
			appended, err := s.Publish(Manifest{Schema: base.Schema}, map[string]int64{"part-0.parquet": 2})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Commit(CommitInfo{RunID: "r2"}); err != nil {
				t.Fatal(err)
			}
			replaced := publish(t, w, Silver, "orders", "r3", 1)
			snap, err := w.Commit(CommitInfo{RunID: "r3"})
			if err != nil {
				t.Fatal(err)
			}
			ref := snap.Tables["bronze.orders"]
			if want := []string{base.Dir, appended.Dir}; !slices.Equal(ref.Dirs, want) {
				t.Fatalf("snapshot dirs of bronze.orders %v, want %v", ref.Dirs, want)
			}
			if tc.stripDirs {
				for id := int64(1); id <= snap.ID; id++ {
					p := w.snapshotPath(id)
					b, err := os.ReadFile(p)
					if err != nil {
						t.Fatal(err)
					}
					var raw map[string]any
					if err := json.Unmarshal(b, &raw); err != nil {
						t.Fatal(err)
					}
					for _, r := range raw["tables"].(map[string]any) {
						delete(r.(map[string]any), "dirs")
					}
					if b, err = json.Marshal(raw); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(p, b, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			// Keep one snapshot: 1 and 2 go, and r1's Silver version with
			// them; r1's Bronze directory stays (r2's version carries its
			// file), and so do r2's and r3's.
			w2, err := Open(root)
			if err != nil {
				t.Fatal(err)
			}
			res, err := w2.Vacuum(context.Background(), Retention{Keep: 1}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Snapshots) != 2 || !slices.Equal(res.Versions, []string{gone.Dir}) {
				t.Fatalf("vacuumed %v snapshots, %v versions; want 2 snapshots, %s", res.Snapshots, res.Versions, gone.Dir)
			}
			for _, d := range []string{base.Dir, appended.Dir, replaced.Dir} {
				if _, err := os.Stat(filepath.Join(root, d)); err != nil {
					t.Errorf("version dir %s: %v", d, err)
				}
			}
		})
	}
}

// The directories a version uses: its own, its files', and those of the
// older files its delta names, each once.
func TestManifestVersionDirs(t *testing.T) {
	t.Parallel()
	m := &Manifest{Dir: "bronze/orders/v000003-r3", Files: []File{
		{Path: "bronze/orders/v000001-r1/batch=2018-01-01/part-0.parquet"},
		{Path: "bronze/orders/v000001-r1/batch=2018-01-02/part-0.parquet"},
		{Path: "bronze/orders/v000003-r3/batch=2018-01-03/part-0.parquet"},
	}, Delta: &Delta{Files: []string{"bronze/orders/v000002-r2/batch=2018-01-02/part-0.parquet"}}}
	want := []string{"bronze/orders/v000001-r1", "bronze/orders/v000002-r2", "bronze/orders/v000003-r3"}
	if got := m.VersionDirs(); !slices.Equal(got, want) {
		t.Errorf("VersionDirs = %v, want %v", got, want)
	}
}

// The vacuum after a commit (VacuumExpired) reads only the snapshots' heads
// when no snapshot expires and the writer can have left no orphan, and then
// removes nothing. It is Vacuum (orphans go too) when a snapshot expires,
// when another process left the staging marker (killed while it staged),
// and when the writer itself left a version no snapshot maps.
func TestVacuumExpired(t *testing.T) {
	t.Parallel()
	root, w := openNew(t)
	r := Retention{Keep: 1, Grace: time.Hour}
	now := time.Now()
	exists := func(rel string) bool { _, err := os.Stat(filepath.Join(root, rel)); return err == nil }
	marker := filepath.Join(metaDir, "staging")
	var dirs []string
	for i := range 3 {
		m := publish(t, w, Silver, "orders", fmt.Sprint("r", i+1), int64(i+1))
		if _, err := w.Commit(CommitInfo{}); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, m.Dir)
	}
	if !exists(marker) {
		t.Fatal("no staging marker while versions were staged")
	}
	vacuum := func(name string, w *Lake, at time.Time) VacuumResult {
		t.Helper()
		res, err := w.VacuumExpired(context.Background(), r, at)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if exists(marker) {
			t.Errorf("%s: the staging marker stays after the vacuum", name)
		}
		return res
	}

	// A: all three were current within the hour, and every version staged
	// is mapped: nothing is looked for, so not even a directory that no
	// writer staged (made by hand here) is removed; Vacuum removes it.
	stray := filepath.Join(Silver, "orders", "v000090-stray")
	if err := os.MkdirAll(filepath.Join(root, stray), 0o755); err != nil {
		t.Fatal(err)
	}
	if res := vacuum("A", w, now); res.Kept != 3 || len(res.Snapshots)+len(res.Versions) != 0 || !exists(stray) {
		t.Errorf("A: kept %d, removed %v %v; want 3 kept, nothing removed", res.Kept, res.Snapshots, res.Versions)
	}
	if res, err := w.Vacuum(context.Background(), r, now); err != nil || !slices.Equal(res.Versions, []string{stray}) {
		t.Errorf("A: Vacuum removed %v (%v); want %s", res.Versions, err, stray)
	}

	// B: a writer killed while it staged leaves a version and the marker;
	// the next writer's vacuum removes the version.
	killed, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	st, err := killed.Stage(Silver, "orders", "killed")
	if err != nil {
		t.Fatal(err)
	}
	writePart(t, st, "part-0.parquet", parquetish("x"))
	next, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	dirs = append(dirs, publish(t, next, Silver, "orders", "r4", 4).Dir)
	if _, err := next.Commit(CommitInfo{}); err != nil {
		t.Fatal(err)
	}
	if res := vacuum("B", next, now); !slices.Equal(res.Versions, []string{st.RelDir()}) || exists(st.RelDir()) {
		t.Errorf("B: removed versions %v; want the killed writer's %s", res.Versions, st.RelDir())
	}

	// C: the writer publishes a table twice in one transaction: the first
	// version is mapped by no snapshot, and goes.
	twice := publish(t, next, Silver, "orders", "r5", 5).Dir
	dirs = append(dirs, publish(t, next, Silver, "orders", "r6", 6).Dir)
	if _, err := next.Commit(CommitInfo{}); err != nil {
		t.Fatal(err)
	}
	if res := vacuum("C", next, now); !slices.Equal(res.Versions, []string{twice}) || exists(twice) {
		t.Errorf("C: removed versions %v; want %s, published then replaced before the commit", res.Versions, twice)
	}

	// D: two hours later the snapshots before the current one expire; their
	// versions go, the current one stays.
	res := vacuum("D", next, now.Add(2*time.Hour))
	if len(res.Snapshots) != 4 || exists(dirs[0]) || !exists(dirs[len(dirs)-1]) {
		t.Errorf("D: removed snapshots %v, versions %v; want the 4 before the current one and their versions", res.Snapshots, res.Versions)
	}
}

// A snapshot's head, read without its tables, says what the whole file
// says.
func TestReadSnapshotHead(t *testing.T) {
	t.Parallel()
	_, w := openNew(t)
	for i := range 2 {
		publish(t, w, Silver, "orders", fmt.Sprint("r", i+1), 1)
		if _, err := w.Commit(CommitInfo{RunID: "run", Note: "a note"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []int64{1, 2} {
		full, err := w.ReadSnapshot(id)
		if err != nil {
			t.Fatal(err)
		}
		h, err := readSnapshotHead(w.snapshotPath(id))
		if err != nil {
			t.Fatal(err)
		}
		if h.ID != full.ID || h.Parent != full.Parent || !h.CreatedAt.Equal(full.CreatedAt) {
			t.Errorf("head %d/%d/%v, snapshot %d/%d/%v", h.ID, h.Parent, h.CreatedAt, full.ID, full.Parent, full.CreatedAt)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	for _, body := range []string{"", "[]", `{"parent": 1}`, `{"id": 3, "created_at": "nope"}`} {
		if err := os.WriteFile(bad, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readSnapshotHead(bad); err == nil {
			t.Errorf("head of %q read", body)
		}
	}
}

// A long-lived writer (the stream worker) stages under many locks: the
// marker it wrote under one may be swept by another writer's vacuum in
// between, so under the next lock it writes it again before staging, and a
// kill then still leaves the marker that makes the next writer sweep.
func TestVacuumExpiredMarkerAcrossLocks(t *testing.T) {
	t.Parallel()
	root, _ := openNew(t)
	open := func() *Lake {
		l, err := Open(root)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	locked := func(l *Lake, f func()) {
		unlock, err := l.Lock()
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
		f()
	}
	commit := func(l *Lake, table, run string, n int64) {
		t.Helper()
		publish(t, l, Silver, table, run, n)
		if _, err := l.Commit(CommitInfo{}); err != nil {
			t.Fatal(err)
		}
	}
	r := Retention{Keep: 10, Grace: time.Hour}
	now := time.Now()
	worker, other := open(), open()
	locked(worker, func() { commit(worker, "orders", "w1", 1) })
	locked(other, func() {
		commit(other, "customers", "o1", 1)
		if _, err := other.Vacuum(context.Background(), r, now); err != nil {
			t.Fatal(err)
		}
	})
	var killed string
	locked(worker, func() {
		st, err := worker.Stage(Silver, "orders", "w2")
		if err != nil {
			t.Fatal(err)
		}
		writePart(t, st, "part-0.parquet", parquetish("x"))
		killed = st.RelDir() // the worker dies here
	})
	next := open()
	locked(next, func() {
		commit(next, "customers", "n1", 2)
		if _, err := next.VacuumExpired(context.Background(), r, now); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := os.Stat(filepath.Join(root, killed)); err == nil {
		t.Errorf("the killed worker's version %s survived the next writer's vacuum", killed)
	}
}
