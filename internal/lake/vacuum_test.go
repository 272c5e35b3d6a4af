package lake

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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
			root := t.TempDir()
			w, err := Open(root)
			if err != nil {
				t.Fatal(err)
			}
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
			_, err = v.Vacuum(context.Background(), Retention{Keep: 1, Grace: time.Hour}, now)
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
