// Package laketest holds what tests of several packages need to compare
// lakes: the model tables of a lake, and a row-by-row diff of two lakes.
package laketest

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/transform"
)

// RunCols differ between two builds of the same data: run ids and times.
var RunCols = []string{"_ingest_run_id", "_ingested_at", transform.QColRunID, transform.QColQuarantinedAt}

// ModelTables are the Silver, Gold and model quarantine tables to compare.
func ModelTables(t testing.TB, lk *lake.Lake) []*lake.Manifest {
	t.Helper()
	ms, err := lk.Manifests()
	if err != nil {
		t.Fatal(err)
	}
	var out []*lake.Manifest
	for _, m := range ms {
		if m.Layer == lake.Silver || m.Layer == lake.Gold ||
			m.Layer == lake.Quarantine && !strings.HasPrefix(m.Table, "bronze_") {
			out = append(out, m)
		}
	}
	return out
}

// DiffLakes compares every model table of a with b's, as multisets of rows
// without the columns in ignore; it returns one line per difference.
func DiffLakes(t testing.TB, a, b *lake.Lake, ignore []string) []string {
	t.Helper()
	ctx := context.Background()
	eng, err := engine.Open(ctx, a, engine.Options{MemoryLimit: "1GB", Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	var diffs []string
	seen := map[string]bool{}
	for _, ma := range ModelTables(t, a) {
		seen[ma.Name()] = true
		mb, err := b.Manifest(ma.Layer, ma.Table)
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("%s: missing in the other lake (%v)", ma.Name(), err))
			continue
		}
		var drop []string
		for _, c := range ma.Schema {
			for _, ig := range ignore {
				if c.Name == ig {
					drop = append(drop, engine.Ident(c.Name))
				}
			}
		}
		sel := "*"
		if len(drop) > 0 {
			sel = "* EXCLUDE (" + strings.Join(drop, ", ") + ")"
		}
		other := engine.ReadSQL(b, mb, "")
		mine := engine.Ident(ma.Layer) + "." + engine.Ident(ma.Table)
		q := fmt.Sprintf(`SELECT
			(SELECT count(*) FROM (SELECT %[1]s FROM %[2]s EXCEPT ALL SELECT %[1]s FROM %[3]s)),
			(SELECT count(*) FROM (SELECT %[1]s FROM %[3]s EXCEPT ALL SELECT %[1]s FROM %[2]s)),
			(SELECT count(*) FROM %[2]s)`, sel, mine, other)
		var onlyA, onlyB, rows int64
		if err := eng.DB().QueryRowContext(ctx, q).Scan(&onlyA, &onlyB, &rows); err != nil {
			diffs = append(diffs, fmt.Sprintf("%s: %v", ma.Name(), err))
			continue
		}
		if onlyA != 0 || onlyB != 0 {
			diffs = append(diffs, fmt.Sprintf("%s: %d rows only in one lake, %d only in the other (of %d)", ma.Name(), onlyA, onlyB, rows))
		}
	}
	for _, mb := range ModelTables(t, b) {
		if !seen[mb.Name()] {
			diffs = append(diffs, mb.Name()+": missing in the first lake")
		}
	}
	return diffs
}

// OpenRead opens the lake at root read-only or fails the test.
func OpenRead(t testing.TB, root string) *lake.Lake {
	t.Helper()
	lk, err := lake.OpenRead(root)
	if err != nil {
		t.Fatal(err)
	}
	return lk
}

// MakeReadOnly takes write permission away from everything under root, and
// gives it back at cleanup. Root ignores permissions: a test running as root
// must also check that nothing changed, or run the command as another user.
func MakeReadOnly(t testing.TB, root string) {
	t.Helper()
	if err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o444)
		if d.IsDir() {
			mode = 0o555
		}
		return os.Chmod(p, mode)
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Best effort: the temp directory's removal reports what stays.
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil {
				_ = os.Chmod(p, 0o755)
			}
			return nil
		})
	})
}

// TreeState lists every file and directory under root with its time, mode
// and size: two equal states mean nothing was written.
func TreeState(t testing.TB, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %s %s %d\n", p, info.ModTime(), info.Mode(), info.Size())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// BronzeLineage counts, per Bronze table of the lake at root, its rows and
// its distinct (_source_file, _source_line) pairs: equal counts mean no
// record was written twice. A missing lake counts nothing.
func BronzeLineage(t testing.TB, root string) (rows, distinct map[string]int64) {
	t.Helper()
	rows, distinct = map[string]int64{}, map[string]int64{}
	if !lake.Exists(root) {
		return
	}
	ctx := context.Background()
	eng := openEngine(t, root)
	defer eng.Close()
	for _, m := range eng.Tables() {
		if m.Layer != lake.Bronze {
			continue
		}
		var n, d int64
		q := fmt.Sprintf(`SELECT count(*), count(DISTINCT (_source_file, _source_line)) FROM bronze.%s`, engine.Ident(m.Table))
		if err := eng.DB().QueryRowContext(ctx, q).Scan(&n, &d); err != nil {
			t.Fatal(err)
		}
		rows[m.Table], distinct[m.Table] = n, d
	}
	return
}

// Column returns, per table of a layer of the lake at root that has the
// column, the text of its values (NULLs left out), in no order.
func Column(t testing.TB, root, layer, column string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	ctx := context.Background()
	eng := openEngine(t, root)
	defer eng.Close()
	for _, m := range eng.Tables() {
		has := false
		for _, c := range m.Schema {
			has = has || c.Name == column
		}
		if m.Layer != layer || !has {
			continue
		}
		rows, err := eng.DB().QueryContext(ctx, fmt.Sprintf(`SELECT %s::VARCHAR FROM %s.%s WHERE %[1]s IS NOT NULL`,
			engine.Ident(column), engine.Ident(layer), engine.Ident(m.Table)))
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out[m.Table] = append(out[m.Table], s)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return out
}

// openEngine opens a small DuckDB session on the lake at root, read-only.
func openEngine(t testing.TB, root string) *engine.Engine {
	t.Helper()
	eng, err := engine.Open(context.Background(), OpenRead(t, root), engine.Options{MemoryLimit: "1GB", Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}
