package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

// openDirect is a one-connection database whose connection runs Exec
// without arguments with duckdb_query.
func openDirect(t *testing.T) *sql.DB {
	t.Helper()
	c, err := duckdb.NewConnector("", nil)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(directConnector{Connector: c})
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// The driver's connection still holds its handle where connHandle reads it:
// otherwise every statement is planned twice again, silently.
func TestDirectConnHandle(t *testing.T) {
	c, err := duckdb.NewConnector("", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn, err := directConnector{Connector: c}.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, ok := conn.(*directConn); !ok {
		t.Fatalf("duckdb-go's connection (%T) no longer gives its DuckDB handle: update connHandle", conn)
	}
}

// A script runs its statements in order and stops at the first error; the
// error is the driver's, with DuckDB's type and message.
func TestDirectExec(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		script  string
		rows    int64 // rows affected, when no error
		errType duckdb.ErrorType
		errHas  string
		count   int64 // rows of t afterwards (-1: no table)
	}{
		{name: "script", script: "CREATE TABLE t (x INT); INSERT INTO t VALUES (1), (2), (3)", rows: 3, count: 3},
		{name: "missing table", script: "INSERT INTO nope VALUES (1)", errType: duckdb.ErrorTypeCatalog, errHas: "nope", count: -1},
		{name: "stops at the error", script: "CREATE TABLE t (x INT); SELECT * FROM nope; INSERT INTO t VALUES (1)", errType: duckdb.ErrorTypeCatalog, errHas: "nope", count: 0},
		{name: "parse error", script: "CREATE TABEL t (x INT)", errType: duckdb.ErrorTypeParser, errHas: "syntax error", count: -1},
		{name: "bind error", script: "CREATE TABLE t AS SELECT no_such_column FROM range(3)", errType: duckdb.ErrorTypeBinder, errHas: "no_such_column", count: -1},
		{name: "empty", script: " \n ", errHas: "empty query", count: -1}, // as the driver says it
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openDirect(t)
			res, err := db.ExecContext(ctx, tc.script)
			if tc.errHas == "" {
				if err != nil {
					t.Fatal(err)
				}
				if n, err := res.RowsAffected(); err != nil || n != tc.rows {
					t.Errorf("rows affected %d (%v), want %d", n, err, tc.rows)
				}
			} else {
				var de *duckdb.Error
				if tc.errType == duckdb.ErrorTypeInvalid && err != nil && strings.Contains(err.Error(), tc.errHas) {
					// no DuckDB error type
				} else if !errors.As(err, &de) || de.Type != tc.errType || !strings.Contains(err.Error(), tc.errHas) {
					t.Errorf("error %v (%T), want a duckdb.Error of type %v with %q", err, err, tc.errType, tc.errHas)
				}
			}
			var n int64
			err = db.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n)
			switch {
			case tc.count < 0 && err == nil:
				t.Errorf("table t exists with %d rows, want none", n)
			case tc.count >= 0 && (err != nil || n != tc.count):
				t.Errorf("t has %d rows (%v), want %d", n, err, tc.count)
			}
		})
	}
}

// A cancelled context interrupts a running statement, and the connection
// runs its next one; a context done before the call runs nothing.
func TestDirectExecCancel(t *testing.T) {
	db := openDirect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := db.ExecContext(ctx, "CREATE TABLE big AS SELECT count(*) AS n FROM range(1000000000000) a")
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v, want the context's deadline", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the statement was not interrupted 30 s after its context's deadline")
	}
	if _, err := db.ExecContext(context.Background(), "CREATE TABLE small AS SELECT * FROM range(10)"); err != nil {
		t.Fatalf("the statement after a cancellation: %v", err)
	}
	stopped, stop := context.WithCancel(context.Background())
	stop()
	if _, err := db.ExecContext(stopped, "CREATE TABLE never (x INT)"); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	var n int
	if err := db.QueryRowContext(context.Background(), "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'never'").Scan(&n); err != nil || n != 0 {
		t.Errorf("a statement ran with a context done before it: %d tables (%v)", n, err)
	}
}

// Open's connections are direct ones, traced or not.
func TestOpenDirect(t *testing.T) {
	ctx := context.Background()
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: level}))
		e, err := Open(ctx, nil, Options{TempDir: t.TempDir(), Trace: log})
		if err != nil {
			t.Fatal(err)
		}
		conn, err := e.DB().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		err = conn.Raw(func(c any) error {
			if tc, ok := c.(*traceConn); ok {
				c = tc.Conn
			}
			if _, ok := c.(*directConn); !ok {
				return fmt.Errorf("connection %T, want a *directConn", c)
			}
			return nil
		})
		conn.Close()
		e.Close()
		if err != nil {
			t.Errorf("level %v: %v", level, err)
		}
	}
}
