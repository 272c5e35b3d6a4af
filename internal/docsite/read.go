package docsite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/pipeline"
)

// Facts are what the site shows of one lake snapshot, as read from it: the
// tables' manifests and sample values, the quarantined rows per check, the
// run history and the retained snapshots. Assemble turns them into pages
// without reading anything else.
type Facts struct {
	Lake      string         // what the pages call the lake
	Snapshot  *lake.Snapshot // the snapshot documented (nil: a lake before snapshots)
	Generated time.Time
	Tables    []TableFacts
	History   []pipeline.RunRecord // newest first
	Snapshots []*lake.Snapshot     // retained snapshots, newest first
}

// TableFacts is one table of the snapshot.
type TableFacts struct {
	Name     string
	Manifest *lake.Manifest // nil when it cannot be read
	Damaged  string         // what is wrong with it, when something is
	// Examples are up to Options.Examples distinct values per column, from
	// the first rows of the table.
	Examples map[string][]string
	// Newest is the greatest value of the partition column of a dated table.
	Newest string
	// Quarantine holds, for a quarantine table, its rows per check.
	Quarantine []QuarantineGroup
}

// QuarantineGroup is the quarantined rows of one check (for Bronze: one
// error type), with the first of them.
type QuarantineGroup struct {
	Check   string
	Rows    int64
	Columns []string
	Sample  [][]string
}

// Options bound what Read samples.
type Options struct {
	Examples         int // distinct example values per column (default 3)
	ExampleRows      int // rows the examples are taken from (default 1000)
	QuarantineSample int // rows shown per check of a quarantine table (default 20)
	HistoryRuns      int // newest run records read (default 200)
	Snapshots        int // newest snapshots read (default 50)
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Examples, 3)
	def(&o.ExampleRows, 1000)
	def(&o.QuarantineSample, 20)
	def(&o.HistoryRuns, 200)
	def(&o.Snapshots, 50)
	return o
}

// maxExample is the longest example value shown, in characters.
const maxExample = 60

// Read reads the facts of the engine's snapshot of lk. It writes nothing.
// dated maps a model to its date column (partition_by), whose greatest value
// says how recent the data is.
func Read(ctx context.Context, lk *lake.Lake, eng *engine.Engine, dated map[string]string, name string, now time.Time, o Options) (*Facts, error) {
	o = o.withDefaults()
	f := &Facts{Lake: name, Snapshot: lk.Snapshot(), Generated: now.UTC()}
	damaged := eng.Damaged()
	for _, ts := range lk.Tables() {
		tf := TableFacts{Name: ts.Name, Manifest: ts.Manifest}
		if ts.Err != nil {
			tf.Damaged = ts.Err.Error()
		} else if fs, ok := damaged[ts.Name]; ok {
			var why []string
			for _, x := range fs {
				why = append(why, x.Error())
			}
			tf.Damaged = strings.Join(why, "; ")
		}
		if tf.Damaged == "" {
			var err error
			if tf.Examples, err = examples(ctx, eng, ts.Manifest, o); err != nil {
				return nil, err
			}
			if tf.Newest, err = newest(ctx, eng, ts.Manifest, dated[ts.Name]); err != nil {
				return nil, err
			}
		}
		f.Tables = append(f.Tables, tf)
	}
	if err := readQuarantine(ctx, eng, f, o); err != nil {
		return nil, err
	}
	hist, err := pipeline.History(lk, o.HistoryRuns)
	if err != nil {
		return nil, err
	}
	f.History = hist
	ids, err := lk.SnapshotIDs()
	if err != nil {
		return nil, err
	}
	slices.Reverse(ids)
	for _, id := range ids[:min(len(ids), o.Snapshots)] {
		s, err := lk.ReadSnapshot(id)
		if err != nil {
			// Retention may remove it while we read: the others still tell.
			continue
		}
		f.Snapshots = append(f.Snapshots, s)
	}
	return f, nil
}

// examples takes up to o.Examples distinct non-empty values of every column
// from the first o.ExampleRows rows (file order: the same on every read of a
// version).
func examples(ctx context.Context, eng *engine.Engine, m *lake.Manifest, o Options) (map[string][]string, error) {
	res, err := eng.Query(ctx, fmt.Sprintf("SELECT * FROM %s.%s LIMIT %d", engine.Ident(m.Layer), engine.Ident(m.Table), o.ExampleRows))
	if err != nil {
		return nil, fmt.Errorf("docs: examples of %s: %w", m.Name(), err)
	}
	out := map[string][]string{}
	for i, c := range res.Columns {
		seen := map[string]bool{}
		for _, row := range res.Rows {
			if len(out[c]) == o.Examples {
				break
			}
			if row[i] == nil || strings.TrimSpace(*row[i]) == "" || seen[*row[i]] {
				continue
			}
			seen[*row[i]] = true
			out[c] = append(out[c], clipText(*row[i], maxExample))
		}
	}
	return out, nil
}

// newest is the greatest value of a dated table's date column ("" when col
// is empty or not in the table).
func newest(ctx context.Context, eng *engine.Engine, m *lake.Manifest, col string) (string, error) {
	if col == "" || !slices.ContainsFunc(m.Schema, func(c lake.Column) bool { return c.Name == col }) {
		return "", nil
	}
	res, err := eng.Query(ctx, fmt.Sprintf("SELECT max(%s) FROM %s.%s", engine.Ident(col), engine.Ident(m.Layer), engine.Ident(m.Table)))
	if err != nil {
		return "", fmt.Errorf("docs: newest %s of %s: %w", col, m.Name(), err)
	}
	if len(res.Rows) == 1 && res.Rows[0][0] != nil {
		return col + " " + *res.Rows[0][0], nil
	}
	return "", nil
}

// readQuarantine fills the quarantine tables' groups: rows per check and
// the first of them.
func readQuarantine(ctx context.Context, eng *engine.Engine, f *Facts, o Options) error {
	byName := map[string]*TableFacts{}
	found := false
	for i := range f.Tables {
		t := &f.Tables[i]
		byName[t.Name] = t
		found = found || (t.Manifest != nil && t.Manifest.Layer == lake.Quarantine && t.Damaged == "")
	}
	if !found {
		return nil
	}
	sum, err := pipeline.QuarantineSummary(ctx, eng)
	if eng.IsDamaged(err) {
		return nil // a damaged quarantine table: its page says so, the others show no rows
	}
	if err != nil {
		return fmt.Errorf("docs: %w", err)
	}
	for _, row := range sum.Rows {
		if len(row) < 3 || row[0] == nil || row[1] == nil || row[2] == nil {
			continue
		}
		t := byName[lake.Quarantine+"."+*row[0]]
		if t == nil || t.Damaged != "" {
			continue
		}
		n, err := strconv.ParseInt(*row[2], 10, 64)
		if err != nil {
			return fmt.Errorf("docs: quarantine count of %s: %w", *row[0], err)
		}
		g := QuarantineGroup{Check: *row[1], Rows: n}
		res, err := pipeline.QuarantineRows(ctx, eng, *row[0], g.Check, o.QuarantineSample)
		if err != nil {
			return fmt.Errorf("docs: %w", err)
		}
		g.Columns, g.Sample = sampleColumns(res)
		t.Quarantine = append(t.Quarantine, g)
	}
	return nil
}

// sampleColumns puts the why first (check or error type, reason) and leaves
// out the failures list, which repeats them.
func sampleColumns(res *engine.Result) ([]string, [][]string) {
	first := []string{"check_id", "error_type", "reason"}
	var order []int
	for _, name := range first {
		if i := slices.Index(res.Columns, name); i >= 0 {
			order = append(order, i)
		}
	}
	for i, c := range res.Columns {
		if !slices.Contains(first, c) && c != "failures" {
			order = append(order, i)
		}
	}
	cols := make([]string, len(order))
	for k, i := range order {
		cols[k] = res.Columns[i]
	}
	rows := make([][]string, len(res.Rows))
	for r, row := range res.Rows {
		rows[r] = make([]string, len(order))
		for k, i := range order {
			if row[i] != nil {
				rows[r][k] = clipText(*row[i], 200)
			}
		}
	}
	return cols, rows
}

func clipText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// errNoTables is returned for a lake with nothing published.
var errNoTables = errors.New("docs: the lake has no tables yet; run `nexus run` or `nexus demo` first")
