package transform

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
)

// keySetLake publishes silver.orders in three partition files (months 1, 2,
// 3: o1–o3, o4–o6, o7–o9) and returns an executor on it.
func keySetLake(t *testing.T) (*executor, *lake.Manifest) {
	t.Helper()
	ctx := context.Background()
	lk, err := lake.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Open(ctx, nil, engine.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	st, err := lk.Stage(lake.Silver, "orders", "r1")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]int64{}
	for month := 1; month <= 3; month++ {
		rel := "month=" + string(rune('0'+month)) + "/part-0.parquet"
		if err := os.MkdirAll(filepath.Dir(filepath.Join(st.Dir(), rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		q := "COPY (SELECT 'o' || (i + " + string(rune('0'+3*(month-1))) + ") AS order_id, i AS n FROM range(1, 4) r(i)) TO " +
			engine.Literal(filepath.Join(st.Dir(), rel)) + " (FORMAT parquet)"
		if _, err := eng.DB().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
		rows[rel] = 3
	}
	man, err := st.Publish(lake.Manifest{Schema: []lake.Column{{Name: "order_id", Type: "VARCHAR"}, {Name: "n", Type: "BIGINT"}}, PartitionBy: []string{"month"}}, rows)
	if err != nil {
		t.Fatal(err)
	}
	return &executor{lk: lk, eng: eng}, man
}

// keysPlan makes a plan whose keys are keys (VARCHAR).
func keysPlan(t *testing.T, x *executor, name string, keys ...string) *incPlan {
	t.Helper()
	ctx := context.Background()
	if err := x.eng.EnsureSchema(ctx, incSchema); err != nil {
		t.Fatal(err)
	}
	p := &incPlan{keys: engine.Ident(incSchema) + "." + engine.Ident(name), nKeys: int64(len(keys)), keyType: "VARCHAR"}
	q := "CREATE OR REPLACE TABLE " + p.keys + " AS SELECT CAST(NULL AS VARCHAR) AS k WHERE false"
	if len(keys) > 0 {
		vals := make([]string, len(keys))
		for i, k := range keys {
			vals[i] = "(" + engine.Literal(k) + ")"
		}
		q = "CREATE OR REPLACE TABLE " + p.keys + " AS SELECT * FROM (VALUES " + strings.Join(vals, ", ") + ") t(k)"
	}
	if _, err := x.eng.DB().ExecContext(ctx, q); err != nil {
		t.Fatal(err)
	}
	return p
}

// months names the month partitions of files.
func months(files []lake.File) string {
	var ms []string
	for _, f := range files {
		_, after, _ := strings.Cut(f.Path, "month=")
		ms = append(ms, after[:1])
	}
	return strings.Join(ms, ",")
}

// The files the key sets name are those a scan of the key column finds; the
// sets are kept and used (a lying one changes the answer); one that cannot
// be trusted is computed again; keys of another type are not looked up by
// hash; sets of files no longer on disk go.
func TestKeySets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	x, man := keySetLake(t)
	dir := x.lk.MetaDir("cache", "keys", "silver.orders")

	for i, tc := range []struct {
		keys []string
		want string
	}{
		{[]string{"o1"}, "1"},
		{[]string{"o2", "o8"}, "1,3"},
		{[]string{"o4", "o5", "o6", "o9"}, "2,3"},
		{[]string{"x1", "o10"}, ""},
	} {
		p := keysPlan(t, x, "k"+string(rune('0'+i)), tc.keys...)
		held, ok, err := x.indexedKeyFiles(ctx, man, "order_id", p)
		if err != nil || !ok {
			t.Fatalf("keys %v: ok %v, err %v", tc.keys, ok, err)
		}
		if got := months(held); got != tc.want {
			t.Errorf("keys %v: files of months %q, want %q", tc.keys, got, tc.want)
		}
		scanned, ok, err := x.keyFiles(ctx, man, `"order_id"`, "", p, true)
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		indexed, _, err := x.keyFiles(ctx, man, `"order_id"`, "order_id", p, true)
		if err != nil {
			t.Fatal(err)
		}
		if scanned != indexed && !(scanned == "FALSE" && indexed == "FALSE") {
			t.Errorf("keys %v: scan %s, key sets %s", tc.keys, scanned, indexed)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("%d key set files, want 3 (one per data file)", len(entries))
	}

	version, err := x.keys.duckdbVersion(ctx, x.eng)
	if err != nil {
		t.Fatal(err)
	}
	month1 := filepath.Join(dir, keySetName(man.Files[0].Path, "order_id", "VARCHAR", version))
	// A lying set (month 1 holds o1–o3, its set says o7): the answer
	// follows it, so the sets are what the lookup reads.
	lie := keysPlan(t, x, "lie", "o7")
	lieHash, err := x.keyHashes(ctx, lie)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeKeySet(month1, man.Files[0], lieHash); err != nil {
		t.Fatal(err)
	}
	p := keysPlan(t, x, "again", "o7", "o1")
	held, _, err := x.indexedKeyFiles(ctx, man, "order_id", p)
	if err != nil {
		t.Fatal(err)
	}
	if got := months(held); got != "1,3" {
		t.Errorf("with month 1's set saying o7: months %q, want 1,3", got)
	}
	p = keysPlan(t, x, "o2only", "o2")
	if held, _, _ := x.indexedKeyFiles(ctx, man, "order_id", p); len(held) != 0 {
		t.Errorf("with month 1's set saying o7, o2 is in %s: the set was not read", months(held))
	}

	// Damaged sets are computed again, and rewritten.
	good := encodeKeySet(man.Files[0], nil)
	for name, damage := range map[string]func([]byte) []byte{
		"torn":           func(b []byte) []byte { return b[:len(b)/2] },
		"flipped bit":    func(b []byte) []byte { b[len(b)-6] ^= 1; return b },
		"empty":          func([]byte) []byte { return nil },
		"other file":     func([]byte) []byte { return encodeKeySet(man.Files[1], []uint64{1}) },
		"other size":     func([]byte) []byte { f := man.Files[0]; f.Bytes++; return encodeKeySet(f, lieHash) },
		"unsorted":       func([]byte) []byte { return encodeKeySet(man.Files[0], []uint64{5, 3}) },
		"not a key set":  func([]byte) []byte { return []byte("hello, world, this is text") },
		"good but empty": func([]byte) []byte { return good },
	} {
		b, err := os.ReadFile(month1)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(month1, damage(b), 0o644); err != nil {
			t.Fatal(err)
		}
		p := keysPlan(t, x, "o2only", "o2")
		held, _, err := x.indexedKeyFiles(ctx, man, "order_id", p)
		if err != nil {
			t.Fatal(err)
		}
		want := "1"
		if name == "good but empty" { // a valid set is believed
			want = ""
		}
		if got := months(held); got != want {
			t.Errorf("%s set: o2 in months %q, want %q", name, got, want)
		}
		if name != "good but empty" {
			if _, err := readKeySet(month1, man.Files[0]); err != nil {
				t.Errorf("%s set: not rewritten: %v", name, err)
			}
		}
	}

	// Keys of another type than the column's: no answer from the sets.
	p = keysPlan(t, x, "typed", "o1")
	p.keyType = "INTEGER"
	if _, ok, err := x.indexedKeyFiles(ctx, man, "order_id", p); ok || err != nil {
		t.Errorf("INTEGER keys on a VARCHAR column: ok %v, err %v", ok, err)
	}
	if _, ok, err := x.indexedKeyFiles(ctx, man, "no_such_column", keysPlan(t, x, "nocol", "o1")); ok || err != nil {
		t.Errorf("a column the table has not: ok %v, err %v", ok, err)
	}

	// Sets of vacuumed files go when sets are next written; a temporary
	// file another lookup may be writing stays.
	gone := lake.File{Path: "silver/orders/v000000-gone/part-0.parquet", Bytes: 10}
	stale := filepath.Join(dir, keySetName(gone.Path, "order_id", "VARCHAR", version))
	if err := writeKeySet(stale, gone, []uint64{1}); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, ".tmp-123")
	if err := os.WriteFile(tmp, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(month1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := x.indexedKeyFiles(ctx, man, "order_id", keysPlan(t, x, "prune", "o1")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the set of a vacuumed file stays: %v", err)
	}
	if _, err := os.Stat(tmp); err != nil {
		t.Errorf("a fresh temporary file was removed: %v", err)
	}
	if info, err := os.Stat(month1); err != nil || info.Mode().Perm() != 0o644 {
		t.Errorf("the set written again: %v %v", info, err)
	}
}

// A file's set covers every row it holds, deleted ones too: a rollback to a
// version without the deletion reads the same set.
func TestKeySetCoversDeletedRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	x, man := keySetLake(t)
	m := *man
	m.Files = slices.Clone(man.Files)
	m.Files[0].Deleted = []int64{0} // o1
	m.Files[0].Rows--
	held, _, err := x.indexedKeyFiles(ctx, &m, "order_id", keysPlan(t, x, "del", "o1"))
	if err != nil {
		t.Fatal(err)
	}
	if got := months(held); got != "1" {
		t.Errorf("o1 (deleted in month 1) in months %q, want 1", got)
	}
}

func TestAnyCommon(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b []uint64
		want bool
	}{
		{nil, nil, false},
		{[]uint64{1}, nil, false},
		{[]uint64{1, 5, 9}, []uint64{2, 4, 9}, true},
		{[]uint64{1, 5, 9}, []uint64{2, 4, 8, 10, 12}, false},
		{[]uint64{0}, []uint64{0}, true},
		{[]uint64{^uint64(0)}, []uint64{1, ^uint64(0)}, true},
	} {
		if got := anyCommon(tc.a, tc.b); got != tc.want {
			t.Errorf("anyCommon(%v, %v) = %v", tc.a, tc.b, got)
		}
	}
}

// FuzzDecodeKeySet: any bytes decode to an error or to a set that encodes
// back to the same bytes; never a panic.
func FuzzDecodeKeySet(f *testing.F) {
	f.Add(encodeKeySet(lake.File{Path: "silver/orders/v1/part-0.parquet", Bytes: 123}, []uint64{1, 2, 3}))
	f.Add(encodeKeySet(lake.File{}, nil))
	f.Add([]byte(keySetMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		path, size, set, err := decodeKeySet(b)
		if err != nil {
			return
		}
		if again := encodeKeySet(lake.File{Path: path, Bytes: size}, set); string(again) != string(b) {
			t.Fatalf("decoded %q %d %v, encodes to other bytes", path, size, set)
		}
	})
}
