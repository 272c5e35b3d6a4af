package transform

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/quality"
	"golang.org/x/sync/errgroup"
)

// compactAt is the number of files past which an unpartitioned table is
// rewritten into one file (a table built before files were kept in two
// tiers can have many).
const compactAt = 16

// Merge on read: a file that loses rows to an incremental build is carried
// with them listed (lake.File.Deleted) while they stay few, at most
// maxDeleted rows and 1/32 of the file's: every read of the table pays for
// skipping them (a 7,000-row file read in 2 ms takes 6 with 800 rows to
// skip; bench/results/incremental-2026-11-27.md has the bounds tried).
// Past that, or on an object store (Athena reads the files themselves),
// the file is written again.
const maxDeleted = 512

func (x *executor) mergeOnRead(f lake.File, more int) bool {
	n := int64(len(f.Deleted) + more)
	return !x.lk.Remote() && n <= maxDeleted && 32*n <= f.Held()
}

// incPlan is an incremental build: the rows to rebuild are those whose
// Incremental column is in the keys table.
type incPlan struct {
	prev, prevQ *lake.Manifest
	keys        string // _inc.<model>__keys: one column k
	nKeys       int64
	// filtered marks the inputs the model's SQL reads that have its
	// Incremental column: their changed rows' keys are rebuilt. An input
	// only the gate reads (a foreign key's target) changes the model's rows
	// only through the values that appeared in it or left it (the default
	// case of planIncremental): a drop's updated orders, which stay orders,
	// no longer rebuild their items, payments and reviews.
	filtered map[string]bool
	// narrow holds, for the filtered inputs that are partitioned, the query
	// of their rows of the keys that reads only the files holding them.
	narrow map[string]string
	// oldLoaded: the published rows of the keys are in _inc.<model>__old
	// (see loadOld).
	oldLoaded bool
	// gained maps each filtered Bronze input to the files of the rows it
	// gained since the published version was built (none: unchanged), for
	// the checks that aggregate it whole (appendedParts).
	gained map[string][]string
	// bronzeRows maps each filtered Bronze input the model's SQL reads to
	// the working table of its rows of the keys: one scan for the SQL and
	// the checks (bronzeRowsOf).
	bronzeRows map[string]string
}

// incSchema holds the working tables of incremental builds.
const incSchema = "_inc"

func incName(m *Model, what string) string {
	return engine.Ident(incSchema) + "." + engine.Ident(m.Layer+"__"+m.Table+"__"+what)
}

// The reasons of a full build that the user expects: asked for, or the
// model's first build (a damaged version is another reason, told).
const (
	reasonFullRefresh = "--full-refresh"
	reasonNoVersion   = "no published version"
)

// expectedFull says whether the reason an incremental model was built in
// full is one the user expects (ModelResult.FullExpected): asked for with
// --full-refresh, or the first build. Any other (a changed SQL, a damaged
// version, an input without a way to map its changes...) made a drop cost
// a full rebuild, which the run says.
func expectedFull(reason string) bool {
	return reason == reasonFullRefresh || reason == reasonNoVersion
}

// planIncremental decides whether m can be built incrementally on its
// published version and, when it can, collects the keys to rebuild: the
// values of m.Incremental in the rows that changed in each input since the
// versions the published one was built from. Any doubt means a full build,
// and the reason is returned: the result must always equal a full build.
func (x *executor) planIncremental(ctx context.Context, m *Model, suite *quality.Suite, code string) (*incPlan, string, error) {
	if m.Incremental == "" {
		return nil, "not incremental", nil
	}
	if x.opts.FullRefresh {
		return nil, reasonFullRefresh, nil
	}
	prev := x.lk.Intact(m.Layer, m.Table)
	if prev == nil {
		if _, err := x.lk.Manifest(m.Layer, m.Table); errors.Is(err, lake.ErrNoTable) {
			return nil, reasonNoVersion, nil
		}
		// Worth telling: a damaged table costs a full rebuild.
		return nil, "the published version is damaged (see nexus doctor)", nil
	}
	if prev.Code != code {
		return nil, "the model's SQL or suite changed", nil
	}
	if !hasColumn(prev.Schema, m.Incremental) {
		return nil, "the published version has no column " + m.Incremental, nil
	}
	for _, c := range []string{changeColumn, engine.PosColumn} {
		if hasColumn(prev.Schema, c) {
			return nil, "the model has a column named " + c + ", which incremental builds use", nil
		}
	}
	p := &incPlan{prev: prev, keys: incName(m, "keys"), filtered: map[string]bool{}, narrow: map[string]string{}, gained: map[string][]string{}, bronzeRows: map[string]string{}}
	if suite != nil {
		for _, c := range suite.Checks {
			// A unique check on columns without the key compares rows the
			// build does not rebuild together.
			if c.Kind == quality.KindUnique && !slices.Contains(append([]string{c.Column}, c.Columns...), m.Incremental) {
				return nil, "check " + c.ID + " is unique on columns without " + m.Incremental, nil
			}
		}
		qm := x.lk.Intact(lake.Quarantine, QuarantineTable(m.Layer, m.Table))
		if qm == nil || qm.Fingerprint != prev.Fingerprint {
			return nil, "its quarantine is not of the same build", nil
		}
		p.prevQ = qm
	}
	built := map[string]int64{}
	for _, in := range prev.Inputs {
		built[in.Name] = in.Version
	}
	var parts []string
	// own collects conditions on the published rows' columns: they are
	// judged in one scan of the published (and quarantined) files.
	var own []ownCond
	for _, in := range x.g.Parents[m.Name] {
		layer, table, _ := strings.Cut(in, ".")
		cur, err := x.lk.Manifest(layer, table)
		if err != nil {
			return nil, "", fmt.Errorf("model %s: input %w", m.Name, err)
		}
		_, hasExpr := m.keyExpr(in)
		switch {
		case hasExpr:
		case slices.Contains(cur.PartitionBy, m.Incremental):
			// A hive partition column is in the view, not in the rows (nor
			// in the records of what changed), and means something else
			// (gold.fact_sales' month is the month number).
			return nil, fmt.Sprintf("%s is a hive partition column of %s (declare an incremental_expr for it)", m.Incremental, in), nil
		case hasColumn(cur.Schema, m.Incremental) && slices.Contains(m.Inputs(), in):
			p.filtered[in] = true
		}
		from, ok := built[in]
		if !ok {
			return nil, "input " + in + " is new", nil
		}
		if cur.Version == from {
			if p.filtered[in] && layer == lake.Bronze {
				p.gained[in] = nil
			}
			continue
		}
		files, why := x.deltaFiles(cur, from)
		if why != "" {
			return nil, in + ": " + why, nil
		}
		if p.filtered[in] && layer == lake.Bronze {
			p.gained[in] = files
		}
		if len(files) == 0 {
			continue
		}
		list := fileList(x.lk, files)
		switch key, ok := p.readKey(m, in); {
		case ok && (hasExpr || layer == lake.Bronze):
			// Raw Bronze rows and an expression may have no key; a changed
			// row without key may concern any row: rebuild everything.
			var nulls int64
			q := fmt.Sprintf("SELECT count(*) FROM read_parquet(%s, union_by_name = true) WHERE %s IS NULL", list, key)
			if err := x.eng.DB().QueryRowContext(ctx, q).Scan(&nulls); err != nil {
				return nil, "", fmt.Errorf("model %s: changes of %s (key %s): %w", m.Name, in, key, err)
			}
			if nulls > 0 {
				return nil, in + ": changed rows where " + key + " is NULL", nil
			}
			parts = append(parts, fmt.Sprintf("SELECT %s AS k FROM read_parquet(%s, union_by_name = true)", key, list))
		case ok:
			parts = append(parts, fmt.Sprintf("SELECT %s AS k FROM read_parquet(%s, union_by_name = true)", engine.Ident(m.Incremental), list))
		case slices.Contains(m.Inputs(), in):
			lk, ok := m.lookup(in)
			if !ok {
				km, ok := m.keyMap(cur.Schema)
				if !ok {
					return nil, "no way to map the changes of " + in + " to " + m.Incremental + " (declare an incremental_lookup or incremental_map)", nil
				}
				parts = append(parts, fmt.Sprintf("SELECT %s AS k FROM (%s)", engine.Ident(m.Incremental),
					km.Select(fmt.Sprintf("SELECT %s FROM read_parquet(%s, union_by_name = true)", engine.Ident(km.Column), list))))
				continue
			}
			if !hasColumn(cur.Schema, lk.InputColumn) {
				return nil, in + " has no column " + lk.InputColumn, nil
			}
			changed := fmt.Sprintf("SELECT %s FROM read_parquet(%s, union_by_name = true)", engine.Ident(lk.InputColumn), list)
			own = append(own, ownCond{col: lk.Column, changed: changed})
		default:
			// Only the gate reads this input. Table-level checks judge the
			// whole merged table anyway; a foreign key changes its verdict
			// only for values that appeared or disappeared.
			if suite == nil {
				continue
			}
			for _, c := range suite.Checks {
				if !c.RowLevel() {
					continue
				}
				if c.Names(in) {
					return nil, "check " + c.ID + " reads " + in + " row by row", nil
				}
				if c.Kind != quality.KindRelationships || c.To != in {
					continue
				}
				field := c.Field
				if field == "" {
					field = c.Column
				}
				if layer == lake.Bronze { // its delta has new rows only
					own = append(own, ownCond{col: c.Column, changed: fmt.Sprintf("SELECT %s FROM read_parquet(%s, union_by_name = true)", engine.Ident(field), list)})
					continue
				}
				// A value that appeared in the target changes the verdict of
				// rows that failed: for a quarantine rule they are all in the
				// quarantine (a published row's value was in the target), so
				// the published rows are not read for it; tables mostly grow,
				// and the published rows are most of the reading.
				own = append(own, ownCond{col: c.Column, changed: existenceChanges(field, list, "new"), quarantinedOnly: c.Quarantine()},
					ownCond{col: c.Column, changed: existenceChanges(field, list, "old")})
			}
		}
	}
	own, err := x.changedConds(ctx, m, own)
	if err != nil {
		return nil, "", err
	}
	parts = append(parts, x.ownKeys(m, p, own)...)
	if err := x.eng.EnsureSchema(ctx, incSchema); err != nil {
		return nil, "", err
	}
	// The keys take the type of the model's column: parts from an expression
	// or a map may give another (an empty set would be VARCHAR, which a
	// DATE column cannot be compared with).
	typ := "VARCHAR"
	for _, c := range prev.Schema {
		if c.Name == m.Incremental {
			typ = c.Type
		}
	}
	q := fmt.Sprintf("SELECT CAST(NULL AS %s) AS k WHERE false", typ)
	if len(parts) > 0 {
		q = fmt.Sprintf("SELECT DISTINCT CAST(k AS %s) AS k FROM (%s) WHERE k IS NOT NULL", typ, strings.Join(parts, "\nUNION ALL\n"))
	}
	if _, err := x.eng.DB().ExecContext(ctx, "CREATE OR REPLACE TABLE "+p.keys+" AS "+q); err != nil {
		return nil, "", fmt.Errorf("model %s: keys to rebuild: %w", m.Name, err)
	}
	if err := x.eng.DB().QueryRowContext(ctx, "SELECT count(*) FROM "+p.keys).Scan(&p.nKeys); err != nil {
		return nil, "", fmt.Errorf("model %s: keys to rebuild: %w", m.Name, err)
	}
	// The inputs read for the keys only (an input only the gate reads is
	// read whole), and the published rows of the keys (loadOld): separate
	// scans, run side by side (the engine's connections bound them), each
	// recording its result under mu.
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return x.loadOld(gctx, m, p) })
	for _, in := range m.Inputs() {
		key, ok := p.readKey(m, in)
		if !ok {
			continue
		}
		layer, table, _ := strings.Cut(in, ".")
		// Bronze's batches hold any key: its rows of the keys are read once.
		if layer == lake.Bronze {
			g.Go(func() error {
				name, err := x.bronzeRowsOf(gctx, m, p, in, key)
				if err == nil && name != "" {
					mu.Lock()
					p.bronzeRows[in] = name
					mu.Unlock()
				}
				return err
			})
			continue
		}
		g.Go(func() error {
			cur, err := x.lk.Manifest(layer, table)
			if err != nil {
				return fmt.Errorf("model %s: input %w", m.Name, err)
			}
			holding, ok, err := x.keyFiles(gctx, cur, key, p, false)
			if err != nil {
				return fmt.Errorf("model %s: files of %s holding the keys (%s): %w", m.Name, in, key, err)
			}
			if ok {
				mu.Lock()
				p.narrow[in] = fmt.Sprintf("SELECT * EXCLUDE (%s) FROM (%s)", fileColumn, engine.ReadFilesWhereSQL(x.lk, cur, cur.Files, fileColumn, false,
					fmt.Sprintf("%s AND %s IN (SELECT k FROM %s)", holding, key, p.keys)))
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, "", err
	}
	return p, "", nil
}

// fileColumn names the column of a row's file in reads of a table's files.
const fileColumn = "__nexus_file"

// readKey is the SQL of the model's key of a row of input in, when in is
// read for the keys only: its incremental_expr, else its Incremental
// column (trimmed in Bronze, whose keys are raw text; the models trim them).
func (p *incPlan) readKey(m *Model, in string) (string, bool) {
	if expr, ok := m.keyExpr(in); ok {
		return "(" + expr + ")", true
	}
	if !p.filtered[in] {
		return "", false
	}
	if layer, _, _ := strings.Cut(in, "."); layer == lake.Bronze {
		return bronzeKey(m.Incremental), true
	}
	return engine.Ident(m.Incremental), true
}

// bronzeKey is the key of a Bronze row, whose text is as the source wrote
// it: its column col trimmed (as the Silver models trim it).
func bronzeKey(col string) string { return "trim(" + engine.Ident(col) + ")" }

// bronzeRowsOf reads the rows of in, a Bronze input of m, whose key (key,
// readKey) is among the keys into a working table: the model's SQL reads them from
// there (compileFiltered), and so do the checks that aggregate in whole
// (appendedParts), where each read the table again. When in only gained
// rows since the published version was built, a column gainedColumn marks
// the rows of the files it gained. Not when the keys are most of the table
// (a replaced base batch): the model then reads it as a filtered stream,
// not a copy in memory; nor for a damaged input, whose view fails with
// what is wrong. It returns the working table's name, "" when none was
// made; the caller records it in p.bronzeRows.
func (x *executor) bronzeRowsOf(ctx context.Context, m *Model, p *incPlan, in, key string) (string, error) {
	layer, table, _ := strings.Cut(in, ".")
	cur, err := x.lk.Manifest(layer, table)
	if err != nil {
		return "", fmt.Errorf("model %s: input %w", m.Name, err)
	}
	var rows int64
	for _, f := range cur.Files {
		rows += f.Rows
	}
	if len(cur.Files) == 0 || 2*p.nKeys > rows || len(x.eng.Damaged()[in]) > 0 {
		return "", nil
	}
	name := incName(m, "bronze_"+table)
	gained := "FALSE"
	if files, ok := p.gained[in]; ok && len(files) > 0 {
		if _, _, ok := appendedFiles(cur, files); ok {
			paths := make([]string, len(files))
			for i, f := range files {
				paths[i] = engine.Literal(x.lk.Abs(f))
			}
			gained = fmt.Sprintf("%s IN (%s)", fileColumn, strings.Join(paths, ", "))
		}
	}
	read, err := x.rowsOfKeys(ctx, m, in, cur, key, p)
	if err != nil {
		return "", err
	}
	q := fmt.Sprintf("SELECT * EXCLUDE (%s), %s AS %s FROM (%s)", fileColumn, gained, gainedColumn, read)
	if _, err := x.eng.DB().ExecContext(ctx, "CREATE OR REPLACE TABLE "+name+" AS "+q); err != nil {
		return "", fmt.Errorf("model %s: rows of %s of the keys: %w", m.Name, in, err)
	}
	return name, nil
}

// rowsOfKeys reads the rows of a Bronze input whose key is among the keys.
// The key of a Bronze row is its trimmed column; a filter on trim(c) is
// judged after every column of every row is decoded, one on c itself
// before: the files whose c is known trimmed (lake.File.Trimmed, nearly
// all) are read with the latter, which costs half as much. The columns come
// in the order of one read of all the files, the view's.
func (x *executor) rowsOfKeys(ctx context.Context, m *Model, in string, cur *lake.Manifest, key string, p *incPlan) (string, error) {
	where := func(k string) string { return fmt.Sprintf("%s IN (SELECT k FROM %s)", k, p.keys) }
	whole := engine.ReadFilesWhereSQL(x.lk, cur, cur.Files, fileColumn, false, where(key))
	if key != bronzeKey(m.Incremental) { // an incremental_expr
		return whole, nil
	}
	raw := engine.Ident(m.Incremental)
	var trimmed, other []lake.File
	for _, f := range cur.Files {
		if slices.Contains(f.Trimmed, m.Incremental) {
			trimmed = append(trimmed, f)
		} else {
			other = append(other, f)
		}
	}
	switch {
	case len(trimmed) == 0:
		return whole, nil
	case len(other) == 0:
		return engine.ReadFilesWhereSQL(x.lk, cur, trimmed, fileColumn, false, where(raw)), nil
	}
	cols, err := engine.Strings(ctx, x.eng.DB(), fmt.Sprintf("SELECT column_name FROM (DESCRIBE %s)", whole))
	if err != nil {
		return "", fmt.Errorf("model %s: columns of %s: %w", m.Name, in, err)
	}
	for i, c := range cols {
		cols[i] = engine.Ident(c)
	}
	return fmt.Sprintf("SELECT %s FROM (%s UNION ALL BY NAME %s)", strings.Join(cols, ", "),
		engine.ReadFilesWhereSQL(x.lk, cur, trimmed, fileColumn, false, where(raw)),
		engine.ReadFilesWhereSQL(x.lk, cur, other, fileColumn, false, where(key))), nil
}

// gainedColumn marks, in a Bronze input's working table (bronzeRowsOf), the
// rows of the files it gained since the published version was built.
const gainedColumn = "__nexus_gained"

// appendedFiles splits the files of cur into those it had before the files
// it gained (delta, lake paths) and the gained ones; false when one of them
// is not among its files (a replaced batch: its old files are gone, with
// rows the table lost).
func appendedFiles(cur *lake.Manifest, delta []string) (before, added []lake.File, ok bool) {
	gained := map[string]bool{}
	for _, f := range delta {
		gained[f] = true
	}
	for _, f := range cur.Files {
		if gained[f.Path] {
			delete(gained, f.Path)
			added = append(added, f)
			continue
		}
		before = append(before, f)
	}
	return before, added, len(gained) == 0
}

// keyFiles finds the files of a table version that hold a row whose key (a
// column, or an expression over its columns) is among the keys to rebuild,
// by one scan of it. It returns
// the condition on fileColumn that keeps those files: a query with it reads
// only them, where a filter on the keys alone decodes every column of every
// row. Worth it when the keys are in few of the files: always asked for a
// partitioned table (a drop's keys are in a few partitions), for any other
// when all is true (the old rows of the keys, often none: a drop's new
// orders and customers).
func (x *executor) keyFiles(ctx context.Context, man *lake.Manifest, key string, p *incPlan, all bool) (holding string, ok bool, err error) {
	if len(man.Files) == 0 || (!all && (len(man.PartitionBy) == 0 || len(man.Files) < 2)) {
		return "", false, nil
	}
	files, err := engine.Strings(ctx, x.eng.DB(), fmt.Sprintf("SELECT DISTINCT %s FROM (%s)", fileColumn,
		engine.ReadFilesWhereSQL(x.lk, man, man.Files, fileColumn, false, fmt.Sprintf("(%s) IN (SELECT k FROM %s)", key, p.keys))))
	if err != nil {
		return "", false, err
	}
	if len(files) == 0 {
		return "FALSE", true, nil
	}
	for i, f := range files {
		files[i] = engine.Literal(f)
	}
	return fmt.Sprintf("%s IN (%s)", fileColumn, strings.Join(files, ", ")), true, nil
}

// deltaFiles collects the changed-row files of a table from version from
// (exclusive) to cur (inclusive), following each version's delta back. A
// version without a delta, a full one, or one retention removed: "" files
// and a reason.
func (x *executor) deltaFiles(cur *lake.Manifest, from int64) ([]string, string) {
	var files []string
	m := cur
	for m.Version != from {
		if m.Delta != nil && m.Delta.Full {
			// A whole new table: plain source files, a batch replaced, a
			// full build, a source switched.
			return nil, fmt.Sprintf("version %d replaced the table whole", m.Version)
		}
		if m.Delta == nil {
			return nil, fmt.Sprintf("version %d has no record of what changed", m.Version)
		}
		for _, f := range m.Delta.Files {
			if _, err := os.Stat(x.lk.Abs(f)); err != nil {
				return nil, fmt.Sprintf("version %d's record of what changed is unreadable (%v)", m.Version, err)
			}
		}
		files = append(files, m.Delta.Files...)
		if m.Delta.Base == from {
			return files, ""
		}
		if m.Delta.Base < from {
			return nil, fmt.Sprintf("version %d does not descend from version %d", cur.Version, from)
		}
		older, err := x.lk.ManifestAt(m.Layer, m.Table, m.Delta.Base)
		if err != nil {
			return nil, fmt.Sprintf("version %d is no longer kept", m.Delta.Base)
		}
		m = older
	}
	return files, ""
}

// ownCond selects the published (and quarantined) rows whose column col is
// among the values changed selects; with quarantinedOnly, only quarantined
// rows can be concerned.
type ownCond struct {
	col, changed    string
	quarantinedOnly bool
}

// changedConds keeps the conditions whose changed values are not none: each
// condition scans a column of the whole table, and most find nothing to
// look for (a value that disappeared from a dimension is rare; one that
// appeared, new in every drop). The values come from delta files, a few
// rows: one query counts them all.
func (x *executor) changedConds(ctx context.Context, m *Model, conds []ownCond) ([]ownCond, error) {
	if len(conds) == 0 {
		return nil, nil
	}
	counts := make([]string, len(conds))
	for i, c := range conds {
		counts[i] = fmt.Sprintf("(SELECT count(*) FROM (%s))", c.changed)
	}
	n := make([]int64, len(conds))
	dest := make([]any, len(conds))
	for i := range n {
		dest[i] = &n[i]
	}
	if err := x.eng.DB().QueryRowContext(ctx, "SELECT "+strings.Join(counts, ", ")).Scan(dest...); err != nil {
		return nil, fmt.Errorf("model %s: values changed in its inputs: %w", m.Name, err)
	}
	var kept []ownCond
	for i, c := range conds {
		if n[i] > 0 {
			kept = append(kept, c)
		}
	}
	return kept, nil
}

// ownKeys selects the keys of the published rows (and quarantined ones)
// that meet any of conds: a scan of the key and one column per condition,
// each a semi join that DuckDB pushes into the scan as a filter, where an
// OR of them was evaluated row by row with every column read (measured at
// scale 10, gold.fact_sales' four conditions: 0.15 against 0.09 s).
func (x *executor) ownKeys(m *Model, p *incPlan, conds []ownCond) []string {
	var parts []string
	scan := func(om *lake.Manifest, c ownCond) {
		if om == nil || len(om.Files) == 0 {
			return
		}
		parts = append(parts, fmt.Sprintf("SELECT %s AS k FROM (%s)", engine.Ident(m.Incremental),
			engine.ReadFilesWhereSQL(x.lk, om, om.Files, "", false, fmt.Sprintf("%s IN (%s)", engine.Ident(c.col), c.changed))))
	}
	for _, c := range conds {
		if !c.quarantinedOnly {
			scan(p.prev, c)
		}
		scan(p.prevQ, c)
	}
	return parts
}

// changeColumn marks each row of a model's delta file as the version before
// ('old') or after ('new') the change.
const changeColumn = "_change"

// existenceChanges selects the values of col that appeared (side "new") or
// disappeared (side "old") in a delta: within one delta file, only new or
// only old rows.
func existenceChanges(col, list, side string) string {
	return fmt.Sprintf("SELECT %[1]s FROM read_parquet(%[2]s, union_by_name = true, filename = '__nexus_file') GROUP BY __nexus_file, %[1]s HAVING bool_and(%[3]s = %[4]s)",
		engine.Ident(col), list, changeColumn, engine.Literal(side))
}

// priorCounts counts, for each row-level check, the rows of the table that
// the incremental build does not rebuild (published and quarantined rows of
// the other keys) and those of them that failed it: one scan of each. When
// they come from the version's totals, it counts the rows of the keys, which
// the build replaces, too (replaced; nil otherwise).
func (x *executor) priorCounts(ctx context.Context, m *Model, s *quality.Suite, p *incPlan) (prior, replaced map[string]quality.RowCounts, err error) {
	var ids, pubCols, qCols []string
	for _, c := range s.Checks {
		if !c.RowLevel() {
			continue
		}
		ids = append(ids, c.ID)
		where := "TRUE"
		if c.Where != "" {
			where = "coalesce((" + c.Where + "), FALSE)"
		}
		id := engine.Literal(c.ID)
		// A published row failed only keep checks, listed in its flags; a
		// quarantined row lists every check it failed.
		failedPub := "0"
		if !c.Quarantine() && s.HasFlags() {
			failedPub = fmt.Sprintf("count(*) FILTER (WHERE %s AND list_contains(%s, %s))", where, engine.Ident(quality.FlagsColumn), id)
		}
		pubCols = append(pubCols, fmt.Sprintf("count(*) FILTER (WHERE %s)", where), failedPub)
		qCols = append(qCols, fmt.Sprintf("count(*) FILTER (WHERE %s)", where),
			fmt.Sprintf("count(*) FILTER (WHERE %s AND list_contains(list_transform(%s, lambda f: f.check_id), %s))", where, engine.Ident(QColFailures), id))
	}
	if len(ids) == 0 {
		return nil, nil, nil
	}
	key := engine.Ident(m.Incremental)
	others := fmt.Sprintf("(%s IS NULL OR %s NOT IN (SELECT k FROM %s))", key, key, p.keys)
	totals, fromTotals := checkTotals(p.prev, s)
	counts := make([]int64, 2*len(ids))
	scan := func(q string) error {
		vals := make([]int64, len(counts))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := x.eng.DB().QueryRowContext(ctx, q).Scan(ptrs...); err != nil {
			return fmt.Errorf("model %s: checks over the rows not rebuilt: %w", m.Name, err)
		}
		for i, v := range vals {
			counts[i] += v
		}
		return nil
	}
	if fromTotals {
		// The rows not rebuilt are the table's totals less the rows of
		// the keys: a count over those few rows (read once, for the merge
		// too) instead of a scan of the whole table and its quarantine.
		if err := x.loadOld(ctx, m, p); err != nil {
			return nil, nil, err
		}
		if err := scan(fmt.Sprintf("SELECT %s FROM %s", strings.Join(pubCols, ", "), incName(m, "old"))); err != nil {
			return nil, nil, err
		}
		others = fmt.Sprintf("%s IN (SELECT k FROM %s)", key, p.keys)
	} else {
		prevRel := engine.Ident(m.Layer) + "." + engine.Ident(m.Table)
		if err := scan(fmt.Sprintf("SELECT %s FROM %s WHERE %s", strings.Join(pubCols, ", "), prevRel, others)); err != nil {
			return nil, nil, err
		}
	}
	if p.prevQ != nil && len(p.prevQ.Files) > 0 {
		if err := scan(fmt.Sprintf("SELECT %s FROM read_parquet(%s) WHERE %s", strings.Join(qCols, ", "), fileList(x.lk, filePaths(p.prevQ.Files)), others)); err != nil {
			return nil, nil, err
		}
	}
	prior = make(map[string]quality.RowCounts, len(ids))
	if fromTotals {
		replaced = make(map[string]quality.RowCounts, len(ids))
	}
	for n, id := range ids {
		rc := quality.RowCounts{Checked: counts[2*n], Failed: counts[2*n+1]}
		if fromTotals {
			replaced[id] = rc
			t := totals[id]
			rc = quality.RowCounts{Checked: t.Checked - rc.Checked, Failed: t.Failed - rc.Failed}
		}
		prior[id] = rc
	}
	return prior, replaced, nil
}

// Manifest stats of a gated table: per row-level check, the rows it judged
// and the rows that failed it over the whole version (published and
// quarantined rows), as the build's results give them.
const (
	statChecked = "rows_checked:"
	statFailed  = "rows_failed:"
)

// checkStats are the stats to publish with a gated table version: the
// results of its row-level checks, which for an incremental build count the
// rows it did not rebuild too (quality.EvalOptions.Prior).
func checkStats(s *quality.Suite, results []quality.Result) map[string]int64 {
	if s == nil {
		return nil
	}
	byID := map[string]quality.Result{}
	for _, r := range results {
		byID[r.CheckID] = r
	}
	stats := map[string]int64{}
	for _, c := range s.Checks {
		r, ok := byID[c.ID]
		if !c.RowLevel() || !ok {
			continue
		}
		stats[statChecked+c.ID] = r.RowsChecked
		stats[statFailed+c.ID] = r.RowsFailed
	}
	return stats
}

// checkTotals reads the totals of s's row-level checks from a published
// version's stats; ok only when every check has them (an older version, or
// one published by a replay, has none) and no check has a where: its
// predicate would be judged on published rows whose columns a keep rule
// nulled, where the build judged the rows before.
func checkTotals(man *lake.Manifest, s *quality.Suite) (map[string]quality.RowCounts, bool) {
	out := map[string]quality.RowCounts{}
	for _, c := range s.Checks {
		if !c.RowLevel() {
			continue
		}
		checked, ok1 := man.Stats[statChecked+c.ID]
		failed, ok2 := man.Stats[statFailed+c.ID]
		if !ok1 || !ok2 || c.Where != "" {
			return nil, false
		}
		out[c.ID] = quality.RowCounts{Checked: checked, Failed: failed}
	}
	return out, true
}

// totalParts says how the relations an incremental build judges are made
// of the published version's aggregate totals (quality.Totals): less the
// published and quarantined rows of the keys, plus the rows rebuilt. Nil
// when the version keeps none (built before totals were kept, or by a
// replay): the checks then read the whole table.
func (x *executor) totalParts(ctx context.Context, m *Model, p *incPlan, gate *quality.Gate) (*quality.Parts, error) {
	if len(p.prev.Totals) == 0 {
		return nil, nil
	}
	if err := x.loadOld(ctx, m, p); err != nil {
		return nil, err
	}
	old := incName(m, "old")
	key := engine.Ident(m.Incremental)
	builtMinus := "SELECT * FROM " + old
	if len(p.prevQ.Files) > 0 {
		builtMinus += fmt.Sprintf(" UNION ALL BY NAME SELECT * FROM read_parquet(%s) WHERE %s IN (SELECT k FROM %s)",
			fileList(x.lk, filePaths(p.prevQ.Files)), key, p.keys)
	}
	tables := map[string]quality.TableParts{}
	for in, files := range p.gained {
		if tp, ok := x.appendedParts(ctx, m, p, in, files); ok {
			tables[in] = tp
		}
	}
	return &quality.Parts{
		Totals: quality.Totals(p.prev.Totals),
		Tables: tables,
		Minus:  old, Plus: gate.Passing(),
		BuiltMinus: builtMinus,
		BuiltPlus: fmt.Sprintf("%s UNION ALL BY NAME SELECT * EXCLUDE (%s) FROM %s WHERE %s",
			gate.Passing(), quality.Ident(quality.FailuresColumn), gate.Checked(), quality.Quarantined),
	}, nil
}

// appendedParts gives the rows of in, a Bronze input of m, among the keys
// to rebuild before and after the rows it gained (files, its delta since the
// published version was built), from its working table (bronzeRowsOf): the
// checks that aggregate it whole then read those rows only, not the table (a
// reconcile with Bronze's distinct records read all of bronze.order_items,
// 0.5 s at scale 10). Exact when it only gained rows: each delta file is one
// of its files now, so the other files hold the rows it had. The keys hold
// the trimmed key of every row gained (a gained row without key makes the
// build full), so the rows outside them did not change, and a record's
// copies (the same values in its columns not starting with '_', the key
// among them) all fall in or out. It checks that the table holds every
// row of the gained files, so that a file name DuckDB spells differently
// fails closed (the whole table is read), not with the gained rows on both
// sides.
func (x *executor) appendedParts(ctx context.Context, m *Model, p *incPlan, in string, files []string) (quality.TableParts, bool) {
	if strings.HasPrefix(m.Incremental, "_") {
		return quality.TableParts{}, false
	}
	layer, table, _ := strings.Cut(in, ".")
	if len(files) == 0 {
		none := "SELECT * FROM " + engine.Ident(layer) + "." + engine.Ident(table) + " WHERE false"
		return quality.TableParts{Minus: none, Plus: none}, true
	}
	rows, ok := p.bronzeRows[in]
	if !ok {
		return quality.TableParts{}, false
	}
	cur, err := x.lk.Manifest(layer, table)
	if err != nil {
		return quality.TableParts{}, false
	}
	_, added, ok := appendedFiles(cur, files)
	if !ok {
		return quality.TableParts{}, false
	}
	var want, got int64
	for _, f := range added {
		want += f.Rows
	}
	if err := x.eng.DB().QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FILTER (WHERE %s) FROM %s", gainedColumn, rows)).Scan(&got); err != nil || got != want {
		x.opts.Logger.Debug("gained rows not all found", "model", m.Name, "input", in, "want", want, "got", got, "err", err)
		return quality.TableParts{}, false
	}
	all := fmt.Sprintf("SELECT * EXCLUDE (%s) FROM %s", gainedColumn, rows)
	return quality.TableParts{Minus: fmt.Sprintf("%s WHERE NOT %s", all, gainedColumn), Plus: all}, true
}

// dropInc frees the working tables of m's incremental build. A failure to
// drop only keeps memory until the engine closes: logged, not returned.
func (x *executor) dropInc(m *Model) {
	what := []string{"keys", "new", "old", "changed", "quarantine"}
	for _, in := range m.Inputs() {
		if layer, table, _ := strings.Cut(in, "."); layer == lake.Bronze {
			what = append(what, "bronze_"+table)
		}
	}
	// One round trip for all of them (a drop builds ~15 models).
	drops := make([]string, len(what))
	for i, w := range what {
		drops[i] = "DROP TABLE IF EXISTS " + incName(m, w)
	}
	if _, err := x.eng.DB().ExecContext(context.Background(), strings.Join(drops, "; ")); err != nil {
		x.opts.Logger.Debug("drop working tables", "model", m.Name, "err", err)
	}
}

// checkKeyHeaders binds the SQL of the model's incremental_expr and
// incremental_map headers on every build, its first (full) one included:
// they are only run by incremental builds, so a typo would otherwise
// surface days later, on the first drop, as a DuckDB error without the
// header's file and line.
func (x *executor) checkKeyHeaders(ctx context.Context, m *Model) error {
	bind := func(line int, what, q string) error {
		if _, err := x.eng.DB().ExecContext(ctx, "DESCRIBE "+q); err != nil {
			first, _, _ := strings.Cut(err.Error(), "\n")
			return fmt.Errorf("model %s (%s:%d): %s: %s", m.Name, m.Path, line, what, first)
		}
		return nil
	}
	for _, e := range m.Exprs {
		if err := bind(e.Line, "incremental_expr for "+e.Input, fmt.Sprintf("SELECT (%s) AS k FROM %s", e.Expr, quality.TableRef(e.Input))); err != nil {
			return err
		}
	}
	for _, km := range m.Maps {
		q := fmt.Sprintf("SELECT %s, %s FROM (%s)", engine.Ident(km.Column), engine.Ident(m.Incremental), compileRefs(km.SQL))
		if err := bind(km.Line, "incremental_map "+km.Column+" (it must return "+km.Column+" and "+m.Incremental+")", q); err != nil {
			return err
		}
	}
	return nil
}

// keyExpr returns the expression that gives input's rows their key.
func (m *Model) keyExpr(input string) (string, bool) {
	for _, e := range m.Exprs {
		if e.Input == input {
			return e.Expr, true
		}
	}
	return "", false
}

// keyMap returns the first map whose column an input has.
func (m *Model) keyMap(schema []lake.Column) (KeyMap, bool) {
	for _, km := range m.Maps {
		if hasColumn(schema, km.Column) {
			return km, true
		}
	}
	return KeyMap{}, false
}

func (m *Model) lookup(input string) (Lookup, bool) {
	for _, l := range m.Lookups {
		if l.Input == input {
			return l, true
		}
	}
	return Lookup{}, false
}

// compileFiltered is the model's SQL with every input that has the
// Incremental column, or an incremental_expr, read only for the keys to
// rebuild.
func (m *Model) compileFiltered(p *incPlan) string {
	return refPattern.ReplaceAllStringFunc(m.SQL, func(s string) string {
		mm := refPattern.FindStringSubmatch(s)
		target := mm[2]
		if mm[3] != "" {
			target += "." + mm[3]
		}
		rel := quality.TableRef(target)
		key, ok := p.readKey(m, target)
		if !ok {
			return rel
		}
		if q, ok := p.narrow[target]; ok {
			return "(" + q + ")"
		}
		if t, ok := p.bronzeRows[target]; ok {
			return fmt.Sprintf("(SELECT * EXCLUDE (%s) FROM %s)", gainedColumn, t)
		}
		return fmt.Sprintf("(SELECT * FROM %s WHERE %s IN (SELECT k FROM %s))", rel, key, p.keys)
	})
}

func hasColumn(cols []lake.Column, name string) bool {
	for _, c := range cols {
		if c.Name == name {
			return true
		}
	}
	return false
}

func fileList(lk *lake.Lake, rel []string) string {
	q := make([]string, len(rel))
	for i, r := range rel {
		q[i] = engine.Literal(lk.Abs(r))
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// incResult is what an incremental build wrote.
type incResult struct {
	carried []lake.File
	rows    map[string]int64
	schema  []lake.Column
	delta   *lake.Delta
	// fresh rows the SQL built for the keys; of them, the rows of the keys
	// whose rows really changed replace the old rows of those keys.
	fresh, added, removed int64
}

// loadOld reads the published rows of the keys, with the file each is in
// and its position there (engine.PosColumn), into _inc.<model>__old, once per build: one scan of the published files
// serves the prior counts of the checks, the delta, the count and the files
// to rewrite.
func (x *executor) loadOld(ctx context.Context, m *Model, p *incPlan) error {
	if p.oldLoaded {
		return nil
	}
	holding, ok, err := x.keyFiles(ctx, p.prev, engine.Ident(m.Incremental), p, true)
	if err != nil {
		return fmt.Errorf("model %s: files holding the keys: %w", m.Name, err)
	}
	if !ok {
		holding = "TRUE"
	}
	key := engine.Ident(m.Incremental)
	if _, err := x.eng.DB().ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TABLE %s AS %s", incName(m, "old"),
		engine.ReadFilesWhereSQL(x.lk, p.prev, p.prev.Files, fileColumn, true, fmt.Sprintf("%s AND %s IN (SELECT k FROM %s)", holding, key, p.keys)))); err != nil {
		return fmt.Errorf("model %s: published rows of the keys: %w", m.Name, err)
	}
	p.oldLoaded = true
	return nil
}

// fewRows says whether the rows an incremental build rebuilds are few
// beside the table's (quality.Gate.Few: a relationship check then looks up
// their values instead of hashing the referenced table whole, 2x faster for
// a drop's rows, 1.7x slower for all of them): the rows the keys hold now
// (or one per key, for new keys) under a quarter of the table's. The rows
// of the keys are read once per build anyway (loadOld).
func (x *executor) fewRows(ctx context.Context, m *Model, p *incPlan) (bool, error) {
	if err := x.loadOld(ctx, m, p); err != nil {
		return false, err
	}
	var old int64
	if err := x.eng.DB().QueryRowContext(ctx, "SELECT count(*) FROM "+incName(m, "old")).Scan(&old); err != nil {
		return false, fmt.Errorf("model %s: rows of the keys: %w", m.Name, err)
	}
	return 4*max(old, p.nKeys) < p.prev.Rows, nil
}

// buildIncremental writes the new version of m into st. The keys rebuilt
// are compared with their published rows: only keys whose rows really
// changed are replaced (a re-checked order whose items are the same leaves
// the item files alone), the others' rows stay where they are. Files and
// partitions without a changed key are carried as they are.
func (x *executor) buildIncremental(ctx context.Context, m *Model, p *incPlan, st *lake.Staging, newRows string) (*incResult, error) {
	db := x.eng.DB()
	exec := func(q string) error {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("model %s: incremental build: %w", m.Name, err)
		}
		return nil
	}
	partCols := p.prev.PartitionBy
	key := engine.Ident(m.Incremental)
	fresh, old, changed := incName(m, "new"), incName(m, "old"), incName(m, "changed")
	if _, err := db.ExecContext(ctx, "CREATE OR REPLACE TABLE "+fresh+" AS "+newRows); err != nil {
		return nil, x.modelError(m, err)
	}
	// A row rebuilt for a key that is not being rebuilt breaks the promise
	// of incremental (an incremental_expr at another grain than the key,
	// say): merged, it would duplicate the published row of its key.
	var stray int64
	if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM %s WHERE %s IS NOT NULL AND %s NOT IN (SELECT k FROM %s)",
		fresh, key, key, p.keys)).Scan(&stray); err != nil {
		return nil, fmt.Errorf("model %s: incremental build: %w", m.Name, err)
	}
	if stray > 0 {
		return nil, fmt.Errorf("model %s (%s): %d rebuilt rows have a %s that is not among the %s values being rebuilt: each row must depend only on input rows of its own %s (check the model's incremental_expr and incremental_map: same grain as %s?); nothing was published",
			m.Name, m.Path, stray, m.Incremental, m.Incremental, m.Incremental, m.Incremental)
	}
	cols, err := x.columnsOf(ctx, fresh)
	if err != nil {
		return nil, err
	}
	// Compare by name: the published files list the same columns, plus
	// the partition columns a hive read adds.
	proj := strings.Join(cols, ", ")
	if err := x.loadOld(ctx, m, p); err != nil {
		return nil, err
	}
	// The delta: the old versions of the rows that changed, then the new.
	delta, deltaFile, err := x.writeDelta(ctx, st, p.prev.Version, "SELECT "+proj+" FROM "+old, "SELECT "+proj+" FROM "+fresh)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", m.Name, err)
	}
	if err := exec(fmt.Sprintf("CREATE OR REPLACE TABLE %s AS SELECT DISTINCT %s AS k FROM read_parquet(%s)", changed, key, engine.Literal(deltaFile))); err != nil {
		return nil, err
	}
	res := &incResult{rows: map[string]int64{}, delta: delta}
	inChanged := fmt.Sprintf("%s IN (SELECT k FROM %s)", key, changed)
	err = db.QueryRowContext(ctx, fmt.Sprintf(`SELECT (SELECT count(*) FROM %[1]s), (SELECT count(*) FROM %[1]s WHERE %[3]s),
		(SELECT count(*) FROM %[2]s WHERE %[3]s)`, fresh, old, inChanged)).Scan(&res.fresh, &res.added, &res.removed)
	if err != nil {
		return nil, fmt.Errorf("model %s: incremental build: %w", m.Name, err)
	}

	// Which published files hold a row that changed, and at which
	// positions?
	gone := map[string][]int64{} // absolute path → positions
	var removedGone int64
	if res.removed > 0 {
		rows, err := db.QueryContext(ctx, fmt.Sprintf("SELECT %s, %s FROM %s WHERE %s ORDER BY 1, 2",
			fileColumn, engine.Ident(engine.PosColumn), old, inChanged))
		if err != nil {
			return nil, fmt.Errorf("model %s: find rows to rebuild: %w", m.Name, err)
		}
		for rows.Next() {
			var file string
			var pos int64
			if err := rows.Scan(&file, &pos); err != nil {
				rows.Close()
				return nil, fmt.Errorf("model %s: find rows to rebuild: %w", m.Name, err)
			}
			gone[file] = append(gone[file], pos)
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("model %s: find rows to rebuild: %w", m.Name, err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("model %s: find rows to rebuild: %w", m.Name, err)
		}
	}
	// Two tiers per partition (the table, unpartitioned): its largest file
	// is kept, the rows the build replaces in it marked deleted (merge on
	// read); the partition's other, small files are written again with the
	// new rows into one. So a partition that takes rows every day holds
	// two files, not one more per day, and a build writes what changed
	// recently, not the partition. A file is written again when too many of
	// its rows are gone, and always on an object store, whose tables Athena
	// reads file by file.
	takesNew := map[string]bool{} // partition ("" unpartitioned) → new rows go there
	if res.added > 0 {
		if len(partCols) > 0 {
			added, err := engine.Strings(ctx, db, fmt.Sprintf("SELECT DISTINCT %s FROM %s WHERE %s", partitionPathExpr(m, partCols), fresh, inChanged))
			if err != nil {
				return nil, fmt.Errorf("model %s: partitions of new rows: %w", m.Name, err)
			}
			for _, part := range added {
				takesNew[part] = true
			}
		} else {
			takesNew[""] = true
		}
	}
	largest := map[string]lake.File{}
	for _, f := range p.prev.Files {
		part := partitionOf(f.Path)
		if l, ok := largest[part]; !ok || f.Held() > l.Held() {
			largest[part] = f
		}
	}
	tooMany := len(partCols) == 0 && len(p.prev.Files)+1 > compactAt
	var rewrite []lake.File // published files whose rows are written again
	for _, f := range p.prev.Files {
		part := partitionOf(f.Path)
		g := gone[x.lk.Abs(f.Path)]
		switch {
		case tooMany, takesNew[part] && f.Path != largest[part].Path:
			rewrite = append(rewrite, f)
		case len(g) == 0:
			res.carried = append(res.carried, f)
		case x.mergeOnRead(f, len(g)):
			kept := f
			kept.Deleted = append(append([]int64(nil), f.Deleted...), g...)
			slices.Sort(kept.Deleted)
			kept.Rows -= int64(len(g))
			res.carried = append(res.carried, kept)
			removedGone += int64(len(g))
		default:
			rewrite = append(rewrite, f)
		}
	}
	body := fmt.Sprintf("SELECT %s FROM %s WHERE %s", proj, fresh, inChanged)
	if len(rewrite) > 0 {
		body = fmt.Sprintf("SELECT %s FROM %s WHERE %s IS NULL OR %s NOT IN (SELECT k FROM %s) UNION ALL %s",
			proj, engine.ReadFilesSQL(x.lk, p.prev, rewrite, "", false), key, key, changed, body)
	}
	// The rows written: those of the files rewritten, less the rows
	// replaced in them, plus the new versions.
	n := res.added - (res.removed - removedGone)
	for _, f := range rewrite {
		n += f.Rows
	}
	res.schema = p.prev.Schema
	if n > 0 || len(res.carried) == 0 {
		if _, err := x.write(ctx, m, st.Dir(), body); err != nil {
			return nil, err
		}
		rows, schema, err := x.inspect(ctx, st.Dir(), len(partCols) > 0)
		if err != nil {
			return nil, fmt.Errorf("model %s: inspect output: %w", m.Name, err)
		}
		res.rows, res.schema = rows, schema
	}
	return res, nil
}

// columnsOf lists a relation's columns, quoted, in order.
func (x *executor) columnsOf(ctx context.Context, rel string) ([]string, error) {
	cols, err := engine.Strings(ctx, x.eng.DB(), "SELECT column_name FROM (DESCRIBE SELECT * FROM "+rel+")")
	for i, c := range cols {
		cols[i] = engine.Ident(c)
	}
	return cols, err
}

func filePaths(files []lake.File) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.Path
	}
	return out
}

// partitionOf returns the hive partition of a data file's path
// ("year=2017/month=3"), "" when it has none.
func partitionOf(p string) string {
	var parts []string
	for _, seg := range strings.Split(p, "/") {
		if strings.Contains(seg, "=") && !strings.HasPrefix(seg, "batch=") {
			parts = append(parts, seg)
		}
	}
	return strings.Join(parts, "/")
}

// partitionPathExpr is the SQL expression of a row's partition path, as
// write lays it out.
func partitionPathExpr(m *Model, cols []string) string {
	col := engine.Ident(m.PartitionBy)
	var segs []string
	for _, c := range cols {
		// DuckDB writes a NULL partition value under this name.
		segs = append(segs, fmt.Sprintf("'%s=' || coalesce(CAST(%s(%s) AS VARCHAR), '__HIVE_DEFAULT_PARTITION__')", c, c, col))
	}
	return strings.Join(segs, " || '/' || ")
}

// mergeQuarantine writes the model's quarantine for an incremental build:
// the published quarantine rows of the keys not rebuilt, carried when no
// file holds a rebuilt key, plus the rows the gate quarantined now.
func (x *executor) mergeQuarantine(ctx context.Context, m *Model, p *incPlan, checked string, quarantined int64, fingerprint string) error {
	st, err := x.lk.Stage(lake.Quarantine, QuarantineTable(m.Layer, m.Table), x.opts.RunID)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		st.Abort()
		return fmt.Errorf("model %s: write quarantine: %w", m.Name, err)
	}
	db := x.eng.DB()
	key := engine.Ident(m.Incremental)
	var touched int64
	old := fileList(x.lk, filePaths(p.prevQ.Files))
	if len(p.prevQ.Files) > 0 {
		if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM read_parquet(%s) WHERE %s IN (SELECT k FROM %s)", old, key, p.keys)).Scan(&touched); err != nil {
			return fail(err)
		}
	}
	file := filepath.Join(st.Dir(), "part-0.parquet")
	rows, schema := map[string]int64{}, p.prevQ.Schema
	switch {
	case touched == 0 && quarantined == 0 && len(p.prevQ.Files) > 0:
		// The same rows: the new version lists the same files (an empty
		// file per drop would only add files to read).
		st.Carry(p.prevQ.Files...)
	case touched == 0 && len(p.prevQ.Files)+1 <= compactAt:
		st.Carry(p.prevQ.Files...)
		if err := x.copyQuarantine(ctx, checked, file); err != nil {
			return fail(err)
		}
	default:
		tmp := incName(m, "quarantine")
		if _, err := db.ExecContext(ctx, "CREATE OR REPLACE TABLE "+tmp+" AS SELECT * FROM read_parquet("+old+") WHERE "+key+" IS NULL OR "+key+" NOT IN (SELECT k FROM "+p.keys+")"); err != nil {
			return fail(err)
		}
		if err := x.copyQuarantine(ctx, checked, file); err != nil {
			return fail(err)
		}
		stmt := fmt.Sprintf("COPY (SELECT * FROM %s UNION ALL BY NAME SELECT * FROM read_parquet(%s)) TO %s (%s)",
			tmp, engine.Literal(file), engine.Literal(file+".merged"), ParquetWrite)
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fail(err)
		}
		if err := os.Rename(file+".merged", file); err != nil {
			return fail(err)
		}
	}
	if _, err := os.Stat(file); err == nil {
		var written []lake.Column
		if rows, written, err = x.inspect(ctx, st.Dir(), false); err != nil {
			return fail(err)
		}
		if len(schema) == 0 {
			schema = written
		}
	}
	man, err := st.Publish(lake.Manifest{Schema: schema, Fingerprint: fingerprint,
		Description: "Rows of " + m.Name + " that failed a quarantine rule, with the rules and reasons."}, rows)
	if err != nil {
		return err
	}
	return x.eng.Register(ctx, man)
}

// writeDelta writes a version's record of what changed into st: the rows of
// oldRows not in newRows, marked 'old', then the rows of newRows not in
// oldRows, marked 'new' (as multisets). It returns the Delta and the file.
func (x *executor) writeDelta(ctx context.Context, st *lake.Staging, base int64, oldRows, newRows string) (*lake.Delta, string, error) {
	rel := lake.DeltaDir + "/changes.parquet"
	file := filepath.Join(st.Dir(), filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return nil, "", err
	}
	// The multiset difference, by one grouping of the rows (as structs:
	// NULLs group together, as EXCEPT ALL compares them): a row n times
	// more in oldRows than in newRows is written n times 'old', and the
	// reverse 'new'. EXCEPT ALL numbered the rows of each side with a
	// window, 15 ms for a few hundred rows of many columns, four times.
	stmt := fmt.Sprintf(`COPY (
    SELECT unnest(__nexus_r), CASE WHEN __nexus_n > 0 THEN 'old' ELSE 'new' END AS %[3]s
    FROM (SELECT __nexus_r, __nexus_n, unnest(range(abs(__nexus_n)))
          FROM (SELECT __nexus_r, CAST(sum(__nexus_c) AS BIGINT) AS __nexus_n
                FROM (SELECT __nexus_o AS __nexus_r, 1 AS __nexus_c FROM (%[1]s) AS __nexus_o
                      UNION ALL SELECT __nexus_w, -1 FROM (%[2]s) AS __nexus_w)
                GROUP BY __nexus_r)
          WHERE __nexus_n <> 0)
) TO %[4]s (%[5]s)`,
		oldRows, newRows, changeColumn, engine.Literal(file), ParquetWrite)
	if _, err := x.eng.DB().ExecContext(ctx, stmt); err != nil {
		return nil, "", fmt.Errorf("write delta: %w", err)
	}
	var n int64
	if err := x.eng.DB().QueryRowContext(ctx, "SELECT count(*) FROM read_parquet("+engine.Literal(file)+")").Scan(&n); err != nil {
		return nil, "", fmt.Errorf("count delta: %w", err)
	}
	return &lake.Delta{Base: base, Files: []string{st.RelDir() + "/" + rel}, Rows: n}, file, nil
}

// diffDelta records what a full build changed against the version it
// replaces, by comparing the two row sets, so that the models downstream
// can still build incrementally. Without a comparable previous version it
// says everything changed. rows are the files written (relative to st).
func (x *executor) diffDelta(ctx context.Context, m *Model, prev *lake.Manifest, code string, st *lake.Staging, rows map[string]int64, hive bool) *lake.Delta {
	full := &lake.Delta{Full: true}
	// With --full-refresh every model downstream is rebuilt in full in the
	// same run: a delta would go unread.
	if prev == nil || prev.Code != code || len(x.g.Children(m.Name)) == 0 || x.opts.FullRefresh || len(rows) == 0 || len(prev.Files) == 0 {
		return full
	}
	var files []string
	for rel := range rows {
		files = append(files, engine.Literal(filepath.Join(st.Dir(), filepath.FromSlash(rel))))
	}
	sort.Strings(files)
	newRows := fmt.Sprintf("SELECT * FROM read_parquet([%s], hive_partitioning = %t)", strings.Join(files, ", "), hive)
	oldRows := "SELECT * FROM " + engine.ReadFilesSQL(x.lk, prev, prev.Files, "", false)
	d, _, err := x.writeDelta(ctx, st, prev.Version, oldRows, newRows)
	if err != nil {
		x.opts.Logger.Debug("no delta for a full build", "model", m.Name, "err", err)
		return full
	}
	return d
}

// buildInc builds m incrementally: the model's SQL runs on the inputs
// filtered to the keys to rebuild, the gate judges those rows (row-level
// checks) and the whole merged table (table-level checks), and the new
// version is the published one with those keys' rows replaced.
func (x *executor) buildInc(ctx context.Context, m *Model, suite *quality.Suite, p *incPlan, res ModelResult, inputs []lake.Input, fp, code string, started time.Time) ModelResult {
	var merge *backgroundWrite[*incResult]
	fail := func(err error) ModelResult {
		// A merge still running is cancelled, its files discarded.
		merge.abort()
		res.Status, res.Err = StatusFailed, err
		x.opts.Logger.Info("model failed", "model", m.Name, "err", err)
		return res
	}
	res.Incremental = &IncrementalStats{Column: m.Incremental, Keys: p.nKeys}
	defer x.dropInc(m)
	phase, t0 := func(name string, since time.Time) {
		x.opts.Logger.Debug("model phase", "model", m.Name, "phase", name, "ms", time.Since(since).Milliseconds())
	}, time.Now()
	body := m.compileFiltered(p)
	prevRel := engine.Ident(m.Layer) + "." + engine.Ident(m.Table)
	exclude := ""
	if len(p.prev.PartitionBy) > 0 {
		exclude = " EXCLUDE (" + strings.Join(p.prev.PartitionBy, ", ") + ")"
	}
	key := engine.Ident(m.Incremental)
	kept := fmt.Sprintf("SELECT *%s FROM %s WHERE %s IS NULL OR %s NOT IN (SELECT k FROM %s)", exclude, prevRel, key, key, p.keys)
	var gate *quality.Gate
	newRows := body
	if suite != nil {
		if err := x.eng.EnsureSchema(ctx, "_stage"); err != nil {
			return fail(err)
		}
		gate = quality.NewGate(x.eng.DB(), suite, "_stage", stageName(m))
		defer gate.Close()
		few, err := x.fewRows(ctx, m, p)
		if err != nil {
			return fail(err)
		}
		gate.Few = few
		if err := gate.Annotate(ctx, body); err != nil {
			var se *quality.SourceError
			if errors.As(err, &se) {
				return fail(x.modelError(m, se.Err))
			}
			return fail(fmt.Errorf("model %s: %w", m.Name, err))
		}
		phase("annotate", t0)
		t0 = time.Now()
		newRows = gate.Passing()
		merge = x.startMerge(ctx, m, p, newRows) // beside the evaluation
		// Row-level checks annotate the rows rebuilt; table-level checks
		// judge the table as it will be published (and, for
		// reconciliations, with every quarantined row, old and new).
		merged := "(" + kept + " UNION ALL BY NAME " + gate.Passing() + ")"
		oldQ := "SELECT NULL WHERE false"
		if len(p.prevQ.Files) > 0 {
			oldQ = fmt.Sprintf("SELECT * EXCLUDE (%s, %s, %s, %s, %s) FROM read_parquet(%s) WHERE %s IS NULL OR %s NOT IN (SELECT k FROM %s)",
				QColCheckIDs, QColReason, QColFailures, QColRunID, QColQuarantinedAt, fileList(x.lk, filePaths(p.prevQ.Files)), key, key, p.keys)
		}
		built := fmt.Sprintf("(%s UNION ALL BY NAME SELECT * EXCLUDE (%s) FROM %s WHERE %s UNION ALL BY NAME %s)",
			merged[1:len(merged)-1], quality.Ident(quality.FailuresColumn), gate.Checked(), quality.Quarantined, oldQ)
		if len(p.prevQ.Files) == 0 {
			built = fmt.Sprintf("(%s UNION ALL BY NAME SELECT * EXCLUDE (%s) FROM %s WHERE %s)",
				merged[1:len(merged)-1], quality.Ident(quality.FailuresColumn), gate.Checked(), quality.Quarantined)
		}
		// Row-level checks are counted and judged on the table as it will
		// be, the rows rebuilt plus the others, as a full build would: a
		// keep check whose failing rows are all old ones still warns.
		prior, replaced, err := x.priorCounts(ctx, m, suite, p)
		if err != nil {
			return fail(err)
		}
		parts, err := x.totalParts(ctx, m, p, gate)
		if err != nil {
			return fail(err)
		}
		checks, err := gate.Evaluate(ctx, quality.EvalOptions{Relation: merged, Built: built, Key: m.Key, Prior: prior, Replaced: replaced, Parts: parts})
		res.Checks = checks
		res.Incremental.TablesFromTotals = parts.FromTotals()
		if err != nil {
			return fail(fmt.Errorf("model %s: %w", m.Name, err))
		}
		res.Quarantined = gate.Quarantined
		phase("evaluate", t0)
	}
	if merge == nil {
		merge = x.startMerge(ctx, m, p, newRows)
	}
	st, out, err := merge.wait()
	if err != nil {
		return fail(err)
	}
	phase("merge", merge.started)
	t0 = time.Now()
	var published int64
	for _, f := range out.carried {
		published += f.Rows
	}
	for _, n := range out.rows {
		published += n
	}
	res.Incremental.RowsRebuilt = out.fresh
	res.Incremental.FilesCarried = len(out.carried)
	// Row accounting: the table is what was published before, less the rows
	// replaced, plus their new versions; the rows rebuilt are published or
	// quarantined.
	missing := p.prev.Rows - out.removed + out.added - published
	observed := fmt.Sprintf("table %d = %d - %d replaced + %d", published, p.prev.Rows, out.removed, out.added)
	built := out.fresh
	res.RowsBuilt = out.fresh
	if gate != nil {
		built = gate.Built
		res.RowsBuilt = gate.Built
		if missing == 0 {
			missing = gate.Built - out.fresh - gate.Quarantined
		}
		observed = fmt.Sprintf("%d rebuilt = %d published + %d quarantined; %s", gate.Built, out.fresh, gate.Quarantined, observed)
	}
	acct := rowAccounting(m, built, missing, observed)
	if gate != nil {
		res.Checks = append(res.Checks, acct)
	}
	if acct.Blocking {
		return fail(fmt.Errorf("model %s: row accounting broken: %s", m.Name, observed))
	}
	merge.publishing()
	st.Carry(out.carried...)
	partCols := p.prev.PartitionBy
	man, err := st.Publish(lake.Manifest{
		Schema: out.schema, PartitionBy: partCols, Inputs: inputs, Fingerprint: fp, Description: m.Description,
		Code: code, Delta: out.delta, Stats: checkStats(suite, res.Checks), BuildTime: time.Since(started),
		Totals: gate.Totals(),
	}, out.rows)
	if err != nil {
		return fail(err)
	}
	if err := x.eng.Register(ctx, man); err != nil {
		return fail(err)
	}
	if gate != nil {
		if err := x.mergeQuarantine(ctx, m, p, gate.Checked(), gate.Quarantined, fp); err != nil {
			return fail(err)
		}
	}
	phase("publish", t0)
	res.Status, res.Version, res.RowsOut, res.Files, res.Bytes = StatusBuilt, man.Version, man.Rows, len(man.Files), man.Bytes
	x.opts.Logger.Info("model built incrementally", "model", m.Name, "keys", p.nKeys, "rows_rebuilt", out.fresh,
		"rows_replaced", out.removed, "rows_added", out.added, "rows", man.Rows, "files_carried", len(out.carried))
	return res
}

// startMerge stages m's new version and merges newRows into it
// (buildIncremental), in the background.
func (x *executor) startMerge(ctx context.Context, m *Model, p *incPlan, newRows string) *backgroundWrite[*incResult] {
	return writeInBackground(ctx, x, m, func(ctx context.Context, st *lake.Staging) (*incResult, error) {
		return x.buildIncremental(ctx, m, p, st, newRows)
	})
}
