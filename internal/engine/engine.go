package engine

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
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
	// Threads is DuckDB's thread count; 0 = GOMAXPROCS.
	Threads int
	// TempDir is where DuckDB spills; empty = <lake>/_nexus/tmp.
	TempDir string
	// Conns is the number of connections, i.e. statements that may run at
	// once (independent models); 0 = 1.
	Conns int
}

// Engine is an in-process DuckDB session in which every published table of
// the lake is a view named layer.table over exactly the files its manifest
// lists.
type Engine struct {
	db     *sql.DB
	lake   *lake.Lake
	ddl    sync.Mutex // catalog changes are serialized: DuckDB rejects concurrent ones
	tables []*lake.Manifest
}

// Open starts DuckDB and registers the lake's published tables. With a nil
// lake it is a bare session (to parse SQL, say).
func Open(ctx context.Context, lk *lake.Lake, opts Options) (*Engine, error) {
	if opts.Threads <= 0 {
		opts.Threads = runtime.GOMAXPROCS(0)
	}
	if opts.TempDir == "" && lk != nil {
		opts.TempDir = lk.MetaDir("tmp")
	}
	if opts.TempDir == "" {
		opts.TempDir = filepath.Join(os.TempDir(), "nexus-duckdb")
	}
	if err := os.MkdirAll(opts.TempDir, 0o755); err != nil {
		return nil, fmt.Errorf("engine temp dir: %w", err)
	}
	settings := []string{
		fmt.Sprintf("SET threads = %d", opts.Threads),
		fmt.Sprintf("SET temp_directory = '%s'", escape(opts.TempDir)),
		"SET TimeZone = 'UTC'",
		// Repeated queries (dashboard, API) skip re-reading Parquet footers.
		"SET parquet_metadata_cache = true",
	}
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
	db := sql.OpenDB(connector)
	// Few connections: DuckDB parallelises each query itself; more than one
	// only lets independent statements overlap.
	if opts.Conns <= 0 {
		opts.Conns = 1
	}
	db.SetMaxOpenConns(opts.Conns)
	db.SetMaxIdleConns(opts.Conns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open duckdb: %w", err)
	}
	e := &Engine{db: db, lake: lk}
	if lk == nil {
		return e, nil
	}
	if err := e.Refresh(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return e, nil
}

// Refresh re-reads the manifests and (re)creates a view per published table.
func (e *Engine) Refresh(ctx context.Context) error {
	ms, err := e.lake.Manifests()
	if err != nil {
		return err
	}
	e.ddl.Lock()
	e.tables = nil
	e.ddl.Unlock()
	for _, m := range ms {
		if err := e.Register(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// Register (re)creates the view of one published table, e.g. right after a
// new version of it is published.
func (e *Engine) Register(ctx context.Context, m *lake.Manifest) error {
	e.ddl.Lock()
	defer e.ddl.Unlock()
	stmt := "CREATE SCHEMA IF NOT EXISTS " + Ident(m.Layer) + "; " + ViewSQL(e.lake, m)
	if _, err := e.db.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("register %s: %w", m.Name(), err)
	}
	for i, t := range e.tables {
		if t.Name() == m.Name() {
			e.tables[i] = m
			return nil
		}
	}
	e.tables = append(e.tables, m)
	return nil
}

// ViewSQL is the statement that exposes a published table as a view reading
// exactly the manifest's files.
func ViewSQL(lk *lake.Lake, m *lake.Manifest) string {
	files := lk.AbsFiles(m)
	quoted := make([]string, len(files))
	for i, f := range files {
		quoted[i] = "'" + escape(f) + "'"
	}
	hive := "false"
	if len(m.PartitionBy) > 0 {
		hive = "true"
	}
	return fmt.Sprintf("CREATE OR REPLACE VIEW %s.%s AS SELECT * FROM read_parquet([%s], hive_partitioning = %s)",
		Ident(m.Layer), Ident(m.Table), strings.Join(quoted, ", "), hive)
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
