package engine

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

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
}

// Engine is an in-process DuckDB session in which every published table of
// the lake is a view named layer.table over exactly the files its manifest
// lists.
type Engine struct {
	db     *sql.DB
	lake   *lake.Lake
	tables []*lake.Manifest
}

// Open starts DuckDB and registers the lake's published tables.
func Open(ctx context.Context, lk *lake.Lake, opts Options) (*Engine, error) {
	if opts.Threads <= 0 {
		opts.Threads = runtime.GOMAXPROCS(0)
	}
	if opts.TempDir == "" {
		opts.TempDir = lk.MetaDir("tmp")
	}
	if err := os.MkdirAll(opts.TempDir, 0o755); err != nil {
		return nil, fmt.Errorf("engine temp dir: %w", err)
	}
	settings := []string{
		fmt.Sprintf("SET threads = %d", opts.Threads),
		fmt.Sprintf("SET temp_directory = '%s'", escape(opts.TempDir)),
		"SET TimeZone = 'UTC'",
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
	// One connection: temp objects are per connection in DuckDB, and DuckDB
	// parallelises each query itself.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open duckdb: %w", err)
	}
	e := &Engine{db: db, lake: lk}
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
	schemas := map[string]bool{}
	for _, m := range ms {
		if !schemas[m.Layer] {
			if _, err := e.db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+Ident(m.Layer)); err != nil {
				return fmt.Errorf("create schema %s: %w", m.Layer, err)
			}
			schemas[m.Layer] = true
		}
		if _, err := e.db.ExecContext(ctx, ViewSQL(e.lake, m)); err != nil {
			return fmt.Errorf("register %s: %w", m.Name(), err)
		}
	}
	e.tables = ms
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

// Tables returns the manifests registered at the last Refresh.
func (e *Engine) Tables() []*lake.Manifest { return e.tables }

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
