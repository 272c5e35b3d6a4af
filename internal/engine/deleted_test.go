package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/keystone/nexus/internal/lake"
)

// deletedFixture writes three files of 1,000 rows (k = 0..2999) in two
// partitions; file 0 loses 3 rows (NOT IN), file 2 loses 100 (anti join).
func deletedFixture(t *testing.T) (*lake.Lake, *Engine, *lake.Manifest) {
	t.Helper()
	ctx := context.Background()
	lk, err := lake.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e, err := Open(ctx, nil, Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	var files []lake.File
	for i, part := range []string{"year=2017", "year=2017", "year=2018"} {
		rel := fmt.Sprintf("gold/t/v000001-x/%s/part-%d.parquet", part, i)
		if err := os.MkdirAll(filepath.Dir(lk.Abs(rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		q := fmt.Sprintf("COPY (SELECT range + %d AS k, 'v' || range AS v FROM range(1000)) TO %s (FORMAT parquet)", i*1000, Literal(lk.Abs(rel)))
		if _, err := e.DB().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
		files = append(files, lake.File{Path: rel, Rows: 1000})
	}
	files[0].Deleted = []int64{0, 10, 999}
	for p := int64(0); p < 100; p++ {
		files[2].Deleted = append(files[2].Deleted, 2*p)
	}
	return lk, e, &lake.Manifest{Layer: "gold", Table: "t", Files: files, PartitionBy: []string{"year"}}
}

// A table whose files list deleted rows reads without them, with the same
// columns in the same order as a plain read (partition columns, the file
// name and the position when asked), through both forms of the filter: a
// short list (NOT IN) and a long one (an anti join).
func TestReadFilesSkipsDeleted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lk, e, m := deletedFixture(t)
	files := m.Files
	plain := &lake.Manifest{Layer: "gold", Table: "t", Files: []lake.File{{Path: files[1].Path}}, PartitionBy: []string{"year"}}
	for _, tc := range []struct {
		filename string
		pos      bool
	}{{"", false}, {"f", false}, {"f", true}, {"", true}} {
		read := ReadFilesSQL(lk, m, m.Files, tc.filename, tc.pos)
		var n, sum, y2018 int64
		q := fmt.Sprintf("SELECT count(*), sum(k), count(*) FILTER (WHERE year = 2018) FROM %s", read)
		if err := e.DB().QueryRowContext(ctx, q).Scan(&n, &sum, &y2018); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		wantSum := int64(2999*3000/2) - (0 + 10 + 999)
		for p := int64(0); p < 100; p++ {
			wantSum -= 2000 + 2*p
		}
		if n != 2897 || sum != wantSum || y2018 != 900 {
			t.Errorf("filename %q pos %t: %d rows, sum %d, %d in 2018; want 2897, %d, 900", tc.filename, tc.pos, n, sum, y2018, wantSum)
		}
		cols, err := Strings(ctx, e.DB(), "SELECT column_name FROM (DESCRIBE SELECT * FROM "+read+")")
		if err != nil {
			t.Fatal(err)
		}
		want, err := Strings(ctx, e.DB(), "SELECT column_name FROM (DESCRIBE SELECT * FROM "+ReadFilesSQL(lk, plain, plain.Files, tc.filename, tc.pos)+")")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(cols, want) {
			t.Errorf("filename %q pos %t: columns %v, a file without deleted rows reads %v", tc.filename, tc.pos, cols, want)
		}
	}
}

// A filtered read of files with deleted rows (one read, the deleted rows
// left out of what passed) gives the rows and columns of the filter
// applied to the read that skips them first.
func TestReadFilesWhereSkipsDeleted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lk, e, m := deletedFixture(t)
	for _, where := range []string{
		"k IN (0, 5, 10, 999, 1000, 2000, 2001, 2198, 2199, 2999)",
		"k % 7 = 0",
		"year = 2018 AND k < 2300",
		"FALSE",
	} {
		for _, tc := range []struct {
			filename string
			pos      bool
		}{{"", false}, {"f", false}, {"f", true}, {"", true}} {
			rows := func(q string) []string {
				got, err := Strings(ctx, e.DB(), "SELECT CAST(r AS VARCHAR) FROM ("+q+") AS r ORDER BY k")
				if err != nil {
					t.Fatalf("%v: %s", err, q)
				}
				return got
			}
			got := rows(ReadFilesWhereSQL(lk, m, m.Files, tc.filename, tc.pos, where))
			want := rows("SELECT * FROM " + ReadFilesSQL(lk, m, m.Files, tc.filename, tc.pos) + " WHERE " + where)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s (filename %q, pos %t): %d rows %.300v, want %d rows %.300v", where, tc.filename, tc.pos, len(got), got, len(want), want)
			}
		}
	}
}
