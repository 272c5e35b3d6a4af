package engine

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/keystone/nexus/internal/lake"
)

// Options tune the DuckDB session.
type Options struct {
	// MemoryLimit is DuckDB's memory_limit, e.g. "2GB"; empty = DuckDB's default
	// (80% of RAM), which is too greedy on a shared machine, so callers should set it.
	MemoryLimit string
	// Threads is DuckDB's thread count; 0 = automatic: the cores less the
	// other connections (see defaultThreads), every core for wide work
	// (see Wide).
	Threads int
	// TempDir is where DuckDB spills; empty = <lake>/_nexus/tmp.
	TempDir string
	// Trace, when set and enabled at debug level, logs every statement
	// with its time (see trace.go).
	Trace *slog.Logger
	// Conns is the number of connections, i.e. statements that may run at
	// once (independent models); 0 = 1.
	Conns int
}

// Engine is an in-process DuckDB session in which every published table of
// the lake is a view named layer.table over exactly the files its manifest
// lists.
type Engine struct {
	db      *sql.DB
	lake    *lake.Lake
	ddl     sync.Mutex // catalog changes are serialized: DuckDB rejects concurrent ones
	tables  []*lake.Manifest
	damaged map[string][]lake.Finding
	share   *threadShare // nil when the threads are fixed
}

// threadShare resizes DuckDB's thread pool for wide work (see Wide). The
// pool is global to the database: a SET on any connection resizes it for
// every connection.
type threadShare struct {
	mu     sync.Mutex
	db     *sql.DB
	cores  int
	narrow int // the size when nothing is wide: defaultThreads
	wide   int // callers of Wide not restored yet
	set    int
}

// Open starts DuckDB and registers the lake's published tables. With a nil
// lake it is a bare session (to parse SQL, say).
func Open(ctx context.Context, lk *lake.Lake, opts Options) (*Engine, error) {
	if opts.Conns <= 0 {
		opts.Conns = 1
	}
	cores := runtime.GOMAXPROCS(0)
	auto := opts.Threads <= 0 && opts.Conns > 1
	if opts.Threads <= 0 {
		opts.Threads = defaultThreads(cores, opts.Conns)
	}
	if opts.TempDir == "" && lk != nil && lk.Writable() {
		opts.TempDir = lk.MetaDir("tmp")
	}
	if opts.TempDir == "" {
		// A reader never writes into the lake (it may be read-only).
		opts.TempDir = filepath.Join(os.TempDir(), fmt.Sprintf("nexus-duckdb-%d", os.Getuid()))
	}
	if err := os.MkdirAll(opts.TempDir, 0o755); err != nil {
		return nil, fmt.Errorf("engine temp dir: %w", err)
	}
	var settings []string
	if !auto {
		// With automatic threads they are set once for the database: a
		// connection the pool opens later must not reset them.
		settings = append(settings, fmt.Sprintf("SET threads = %d", opts.Threads))
	}
	settings = append(settings,
		fmt.Sprintf("SET temp_directory = '%s'", escape(opts.TempDir)),
		"SET TimeZone = 'UTC'",
		// Repeated queries (dashboard, API) skip re-reading Parquet footers.
		"SET parquet_metadata_cache = true",
	)
	if opts.MemoryLimit != "" {
		settings = append(settings, fmt.Sprintf("SET memory_limit = '%s'", escape(opts.MemoryLimit)))
	}
	// Settings are applied to every connection the pool opens.
	connector, err := duckdb.NewConnector("", func(ex driver.ExecerContext) error {
		for _, s := range settings {
			if _, err := ex.ExecContext(context.Background(), s, nil); err != nil {
				return fmt.Errorf("duckdb %s: %w", s, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open duckdb: %w", err)
	}
	var conn driver.Connector = directConnector{Connector: connector}
	if opts.Trace != nil && opts.Trace.Enabled(ctx, slog.LevelDebug) {
		conn = traceConnector{Connector: conn, log: opts.Trace}
	}
	db := sql.OpenDB(conn)
	// Few connections: DuckDB parallelises each query itself; more than one
	// only lets independent statements overlap.
	db.SetMaxOpenConns(opts.Conns)
	db.SetMaxIdleConns(opts.Conns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open duckdb: %w", err)
	}
	e := &Engine{db: db, lake: lk, damaged: map[string][]lake.Finding{}}
	if auto {
		e.share = &threadShare{db: db, cores: cores, narrow: opts.Threads}
		if err := e.share.resize(ctx, opts.Threads); err != nil {
			return nil, errors.Join(err, e.Close())
		}
	}
	if lk == nil {
		return e, nil
	}
	if err := e.Refresh(ctx); err != nil {
		return nil, errors.Join(err, e.Close())
	}
	return e, nil
}

// Wide says that the statements to come are few and large (a full build
// of the models): with automatic threads, DuckDB's pool gets every core
// until restore is called, although two statements may then run at once on
// two connections and share them. Measured on full builds at scale 1 and 10,
// that is 7-8% less wall time than one thread per connection, for more CPU;
// an incremental build (many statements of milliseconds) is faster with one
// thread per connection, the default. Resizing the pool per model cost
// more than it saved: every resize starts or stops DuckDB threads, whose
// memory is faulted in again (twice the kernel time of a fixed pool). With
// fixed threads Wide does nothing. The resize takes a connection of the
// pool: call it with no statement of the caller's open.
func (e *Engine) Wide(ctx context.Context) (restore func() error, err error) {
	s := e.share
	if s == nil {
		return func() error { return nil }, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wide++
	if err := s.resize(ctx, s.cores); err != nil {
		s.wide--
		return nil, err
	}
	return func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.wide--
		if s.wide > 0 {
			return nil
		}
		// context.Background: the pool must shrink back even when the run
		// was cancelled, or the next statements run on the wrong size.
		return s.resize(context.Background(), s.narrow)
	}, nil
}

// resize sets DuckDB's threads to n; s.mu is held (or s is not shared yet).
func (s *threadShare) resize(ctx context.Context, n int) error {
	if n == s.set {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, fmt.Sprintf("SET threads = %d", n)); err != nil {
		return fmt.Errorf("duckdb threads = %d: %w", n, err)
	}
	s.set = n
	return nil
}

// defaultThreads sizes DuckDB's pool so that the threads at work never
// outnumber the cores: a statement runs on its caller's thread plus the
// pool's threads but one, and each connection may have a caller at once.
// With 2 cores and 2 statements at once that is one thread each: more only
// makes them contend for the cores (a drop took 10-20% longer with 2).
// Wide gives every core to a full build.
func defaultThreads(cores, conns int) int {
	return max(1, cores-conns+1)
}

// Refresh re-reads the lake handle's tables and (re)creates a view per
// table. Tables register independently: a damaged one (unreadable manifest,
// missing file, size mismatch, bad footer) becomes a view that fails with
// what is wrong, and every other table keeps working.
func (e *Engine) Refresh(ctx context.Context) error { return e.sync(ctx, true) }

// Update is Refresh for a handle that gained a few versions since the views
// were made (a run's ingest, which overlaps the engine's opening): only the
// tables whose version changed, or that are new or gone, are registered
// again.
func (e *Engine) Update(ctx context.Context) error { return e.sync(ctx, false) }

// sync makes the views match the lake handle's tables: those of tables it
// no longer has (after a rollback) disappear; every other table is
// registered, or with all false only those whose manifest is not the one
// registered.
func (e *Engine) sync(ctx context.Context, all bool) error {
	e.ddl.Lock()
	have := map[string]*lake.Manifest{}
	gone := map[string]bool{}
	for _, m := range e.tables {
		have[m.Name()] = m
		gone[m.Name()] = true
	}
	for n := range e.damaged {
		gone[n] = true
	}
	e.ddl.Unlock()
	tables := e.Lake().Tables()
	for _, t := range tables {
		delete(gone, t.Name)
	}
	for n := range gone {
		layer, table, _ := strings.Cut(n, ".")
		e.ddl.Lock()
		_, err := e.db.ExecContext(ctx, "DROP VIEW IF EXISTS "+Ident(layer)+"."+Ident(table))
		if err == nil {
			delete(e.damaged, n)
			e.tables = slices.DeleteFunc(e.tables, func(m *lake.Manifest) bool { return m.Name() == n })
		}
		e.ddl.Unlock()
		if err != nil {
			return fmt.Errorf("drop view %s: %w", n, err)
		}
	}
	for _, t := range tables {
		if m := have[t.Name]; !all && t.Err == nil && m != nil && m.Version == t.Manifest.Version && m.Dir == t.Manifest.Dir {
			continue
		}
		if err := e.registerState(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// registerState registers one table of the lake handle: its view, or a
// failing one when its manifest is unreadable.
func (e *Engine) registerState(ctx context.Context, t lake.TableState) error {
	if t.Err != nil {
		layer, table, _ := strings.Cut(t.Name, ".")
		f := lake.Finding{Table: t.Name, Problem: lake.ProblemManifest, Detail: t.Err.Error()}
		return e.registerDamaged(ctx, layer, table, nil, []lake.Finding{f})
	}
	return e.register(ctx, t.Manifest, false)
}

// Use re-points the engine at another lake handle (a newer snapshot) and
// re-creates the views. The caller makes sure no query runs meanwhile.
func (e *Engine) Use(ctx context.Context, lk *lake.Lake) error {
	e.ddl.Lock()
	prev := e.lake
	e.lake = lk
	e.ddl.Unlock()
	if err := e.Refresh(ctx); err != nil {
		// Some views may read the new snapshot and some the old: back to the
		// old one whole, so the caller can retry the move.
		e.ddl.Lock()
		e.lake = prev
		e.ddl.Unlock()
		if rerr := e.Refresh(context.WithoutCancel(ctx)); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	return nil
}

// Register (re)creates the view of one published table, e.g. right after a
// new version of it is published. A table whose files do not verify, or that
// DuckDB cannot read (a corrupt footer past the magic bytes, say), gets a view
// that fails with the finding instead: damaged, not fatal.
//
// A version that reads exactly the files of the registered one (a
// quarantine that gained no rows carries its files) keeps the view once its
// files verify: the view would be the same, and creating one binds its
// Parquet read.
func (e *Engine) Register(ctx context.Context, m *lake.Manifest) error {
	return e.register(ctx, m, true)
}

// register verifies a table's files and creates its view (unless reuse and
// the registered view reads the same files).
func (e *Engine) register(ctx context.Context, m *lake.Manifest, reuse bool) error {
	findings := e.Lake().Verify(m)
	if len(findings) == 0 {
		err := e.createView(ctx, m, reuse)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("register %s: %w", m.Name(), err)
		}
		first, _, _ := strings.Cut(err.Error(), "\n")
		findings = []lake.Finding{{Table: m.Name(), Version: m.Version, Problem: lake.ProblemFooter, Detail: first}}
	}
	return e.registerDamaged(ctx, m.Layer, m.Table, m.Schema, findings)
}

// createView creates the view of a table over its files and records it;
// with reuse, a registered view (not damaged) that reads the same files
// stays.
func (e *Engine) createView(ctx context.Context, m *lake.Manifest, reuse bool) error {
	e.ddl.Lock()
	defer e.ddl.Unlock()
	view := ViewSQL(e.lake, m)
	at := slices.IndexFunc(e.tables, func(t *lake.Manifest) bool { return t.Name() == m.Name() })
	if _, bad := e.damaged[m.Name()]; reuse && !bad && at >= 0 && ViewSQL(e.lake, e.tables[at]) == view {
		e.tables[at] = m
		return nil
	}
	if _, err := e.db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+Ident(m.Layer)+"; "+view); err != nil {
		return err
	}
	delete(e.damaged, m.Name())
	if at >= 0 {
		e.tables[at] = m
	} else {
		e.tables = append(e.tables, m)
	}
	return nil
}

// registerDamaged creates a view with the table's columns that fails, when
// read, with the finding and what to do about it.
func (e *Engine) registerDamaged(ctx context.Context, layer, table string, schema []lake.Column, findings []lake.Finding) error {
	e.ddl.Lock()
	defer e.ddl.Unlock()
	name := layer + "." + table
	e.damaged[name] = findings
	for i, t := range e.tables {
		if t.Name() == name {
			e.tables = append(e.tables[:i], e.tables[i+1:]...)
			break
		}
	}
	msg := findings[0].Error() + damagedHint
	// Every column is the error itself, not a NULL: a query that filters on
	// a constant NULL column would be folded to an empty result by the
	// optimizer, and answer zeros instead of failing.
	fail := "error(" + Literal(msg) + ")"
	cols := make([]string, 0, len(schema))
	for _, c := range schema {
		cols = append(cols, fmt.Sprintf("CAST(%s AS %s) AS %s", fail, c.Type, Ident(c.Name)))
	}
	view := func(cols []string) string {
		if len(cols) == 0 {
			cols = []string{fail + " AS damaged"}
		}
		return fmt.Sprintf("CREATE SCHEMA IF NOT EXISTS %s; CREATE OR REPLACE VIEW %s.%s AS SELECT %s FROM (SELECT 1) WHERE %s",
			Ident(layer), Ident(layer), Ident(table), strings.Join(cols, ", "), fail)
	}
	if _, err := e.db.ExecContext(ctx, view(cols)); err != nil {
		// A type the cast cannot spell: the view still fails with the finding.
		if _, err := e.db.ExecContext(ctx, view(nil)); err != nil {
			return fmt.Errorf("register damaged %s: %w", name, err)
		}
	}
	return nil
}

// damagedHint ends the error a damaged table's view raises; IsDamaged
// recognises it in the error DuckDB returns.
const damagedHint = "; run `nexus doctor` (and `nexus doctor --repair`)"

// IsDamaged reports whether a query failed because it read a damaged table:
// one found damaged when it was registered, or a file of the lake that went
// missing or became unreadable since (a DuckDB IO error naming a file under
// the lake's root; a full spill disk is not damage).
func (e *Engine) IsDamaged(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	if strings.Contains(msg, " is damaged: ") && strings.Contains(msg, damagedHint) {
		return true
	}
	lk := e.Lake()
	return lk != nil && strings.Contains(msg, "IO Error: ") && strings.Contains(msg, lk.Root+string(os.PathSeparator))
}

// Damaged returns the findings of the tables that could not be registered,
// by table name.
func (e *Engine) Damaged() map[string][]lake.Finding {
	e.ddl.Lock()
	defer e.ddl.Unlock()
	out := make(map[string][]lake.Finding, len(e.damaged))
	for k, v := range e.damaged {
		out[k] = v
	}
	return out
}

// Lake returns the lake handle (and so the snapshot) the engine reads.
func (e *Engine) Lake() *lake.Lake {
	e.ddl.Lock()
	defer e.ddl.Unlock()
	return e.lake
}

// ViewSQL is the statement that exposes a published table as a view reading
// exactly the manifest's files.
func ViewSQL(lk *lake.Lake, m *lake.Manifest) string {
	return fmt.Sprintf("CREATE OR REPLACE VIEW %s.%s AS SELECT * FROM %s", Ident(m.Layer), Ident(m.Table), ReadSQL(lk, m, ""))
}

// ReadSQL is the read of a table's view: the same columns, in the same
// order, plus a column named filename holding each row's file when filename
// is not "". A query that reads some files of a table through it (WHERE
// filename IN ...) sees the columns the view has.
func ReadSQL(lk *lake.Lake, m *lake.Manifest, filename string) string {
	return ReadFilesSQL(lk, m, m.Files, filename, false)
}

// PosColumn is the column ReadFilesSQL adds with pos: each row's position
// in its file (from 0), as File.Deleted counts. A read that skips deleted
// rows also reads it, and drops it.
const PosColumn = "file_row_number"

// parquetReader returns the read_parquet call of a list of quoted files of
// table version m, with the table's options (hive partitions, columns by
// name); filename as in ReadSQL, with pos a column PosColumn too.
func parquetReader(m *lake.Manifest, filename string) func(quoted []string, pos bool) string {
	hive := "false"
	if len(m.PartitionBy) > 0 {
		hive = "true"
	}
	// The batches of a landing-zone table may differ in extra columns
	// (--on-drift evolve): read them by name.
	// (and the files of batches ingested before the Bronze layout changed:
	// a landing zone's old batches keep the files they were written in).
	opts := ""
	for _, f := range m.Files {
		if len(f.Batches) > 0 {
			opts = ", union_by_name = true"
			break
		}
	}
	for _, in := range m.Inputs {
		if in.Batch != "" {
			opts = ", union_by_name = true"
			break
		}
	}
	return func(quoted []string, pos bool) string {
		o := opts
		if pos {
			o += ", file_row_number = true"
		}
		if filename != "" {
			o += ", filename = " + Literal(filename)
		}
		return fmt.Sprintf("read_parquet([%s], hive_partitioning = %s%s)", strings.Join(quoted, ", "), hive, o)
	}
}

// quotedPath is a file's absolute path as a SQL string.
func quotedPath(lk *lake.Lake, f lake.File) string { return "'" + escape(lk.Abs(f.Path)) + "'" }

// deletedList is a file's deleted positions, comma-separated.
func deletedList(f lake.File) string {
	gone := make([]string, len(f.Deleted))
	for j, p := range f.Deleted {
		gone[j] = strconv.FormatInt(p, 10)
	}
	return strings.Join(gone, ", ")
}

// ReadFilesSQL reads some files of a table version as its view does: a
// read_parquet call, or, when a file has deleted rows (File.Deleted), a
// subquery that skips them (the same columns in the same order). filename
// as in ReadSQL; with pos, a column PosColumn too.
func ReadFilesSQL(lk *lake.Lake, m *lake.Manifest, files []lake.File, filename string, pos bool) string {
	read := parquetReader(m, filename)
	var clean []string
	var parts []string
	for _, f := range files {
		if len(f.Deleted) == 0 {
			clean = append(clean, quotedPath(lk, f))
			continue
		}
		// Each file with deleted rows on its own, by position: an integer
		// filter on its rows, where one read of all files would compare
		// every row's file name.
		sel := "*"
		if !pos {
			sel = "* EXCLUDE (" + PosColumn + ")"
		}
		// A long list is an anti join (a hash of the positions, built once):
		// NOT IN compares each row with a list of constants, 17 ms against
		// 6 for 800 positions over 7,000 rows.
		one := read([]string{quotedPath(lk, f)}, true)
		if len(f.Deleted) > 64 {
			parts = append(parts, fmt.Sprintf("SELECT %s FROM %s ANTI JOIN (SELECT unnest([%s]) AS __nexus_gone) ON %s = __nexus_gone",
				sel, one, deletedList(f), PosColumn))
			continue
		}
		parts = append(parts, fmt.Sprintf("SELECT %s FROM %s WHERE %s NOT IN (%s)", sel, one, PosColumn, deletedList(f)))
	}
	if len(parts) == 0 {
		return read(clean, pos)
	}
	if len(clean) > 0 {
		parts = append([]string{"SELECT * FROM " + read(clean, pos)}, parts...)
	}
	return "(" + strings.Join(parts, " UNION ALL BY NAME ") + ")"
}

// ReadFilesWhereSQL is the query of the rows of ReadFilesSQL(lk, m, files,
// filename, pos) that meet where, a row filter. With deleted rows, it
// filters one read of all the files first, then leaves out the deleted rows
// among the few that passed (an anti join on file name and position):
// reading each file with deleted rows on its own to skip them first cost a
// read per file, 4× a plain read of the table for a filter on a few keys.
// (Not DuckDB's file_index: a filter that prunes files renumbers it.)
func ReadFilesWhereSQL(lk *lake.Lake, m *lake.Manifest, files []lake.File, filename string, pos bool, where string) string {
	var quoted, gone []string
	for _, f := range files {
		quoted = append(quoted, quotedPath(lk, f))
		if len(f.Deleted) > 0 {
			gone = append(gone, fmt.Sprintf("(%s, [%s])", quotedPath(lk, f), deletedList(f)))
		}
	}
	if len(gone) == 0 {
		return "SELECT * FROM " + ReadFilesSQL(lk, m, files, filename, pos) + " WHERE " + where
	}
	name, drop := filename, []string{}
	if name == "" {
		name = "__nexus_fn"
		drop = append(drop, name)
	}
	if !pos {
		drop = append(drop, PosColumn)
	}
	sel := "*"
	if len(drop) > 0 {
		sel = "* EXCLUDE (" + strings.Join(drop, ", ") + ")"
	}
	return fmt.Sprintf("SELECT %s FROM (SELECT * FROM %s WHERE %s) ANTI JOIN (SELECT __nexus_gf, unnest(__nexus_gl) AS __nexus_gp FROM (VALUES %s) AS __nexus_g(__nexus_gf, __nexus_gl)) ON %s = __nexus_gf AND %s = __nexus_gp",
		sel, parquetReader(m, name)(quoted, true), where, strings.Join(gone, ", "), Ident(name), PosColumn)
}

// EnsureSchema creates a schema once. Catalog changes go through one lock:
// two connections creating the same schema at once is a write-write
// conflict in DuckDB.
func (e *Engine) EnsureSchema(ctx context.Context, name string) error {
	e.ddl.Lock()
	defer e.ddl.Unlock()
	if _, err := e.db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+Ident(name)); err != nil {
		return fmt.Errorf("create schema %s: %w", name, err)
	}
	return nil
}

// Tables returns the manifests of the registered tables.
func (e *Engine) Tables() []*lake.Manifest {
	e.ddl.Lock()
	defer e.ddl.Unlock()
	return append([]*lake.Manifest(nil), e.tables...)
}

// DB returns the underlying database handle (one connection).
func (e *Engine) DB() *sql.DB { return e.db }

// Close ends the session.
func (e *Engine) Close() error { return e.db.Close() }

// Ident quotes an SQL identifier.
func Ident(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func escape(s string) string { return strings.ReplaceAll(s, "'", "''") }

// Literal quotes an SQL string literal.
func Literal(s string) string { return "'" + escape(s) + "'" }

// ErrNoTables is returned when a query is run on a lake with nothing published.
var ErrNoTables = errors.New("the lake has no published tables yet; run `nexus ingest` or `nexus demo` first")
