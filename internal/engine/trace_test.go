package engine

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/duckdb/duckdb-go/v2"
)

// The trace only logs: a query answers the same at debug level as at any
// other, column types included (a DATE prints as a date, a DECIMAL with
// its scale).
func TestTraceKeepsResults(t *testing.T) {
	ctx := context.Background()
	const q = `SELECT DATE '2017-10-15' AS d, 58.90::DECIMAL(12,2) AS price, 'x' AS s`
	var got []*Result
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: level}))
		e, err := Open(ctx, nil, Options{TempDir: t.TempDir(), Trace: log})
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.Query(ctx, q)
		e.Close()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, res)
	}
	if !reflect.DeepEqual(got[0].Types, got[1].Types) || !reflect.DeepEqual(got[0].Raw, got[1].Raw) {
		t.Errorf("at debug level the query answers differently:\ninfo:  %v %v\ndebug: %v %v", got[0].Types, got[0].Raw, got[1].Types, got[1].Raw)
	}
	if want := []string{"DATE", "DECIMAL(12,2)", "VARCHAR"}; !reflect.DeepEqual(got[1].Types, want) {
		t.Errorf("debug level: types %v, want %v", got[1].Types, want)
	}
}

// Closing the database closes DuckDB's, traced or not: sql.DB closes its
// connector only when the connector is an io.Closer.
func TestTraceClosesDatabase(t *testing.T) {
	ctx := context.Background()
	c, err := duckdb.NewConnector("", nil)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(traceConnector{Connector: c, log: slog.New(slog.DiscardHandler)})
	if err := db.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if conn, err := c.Connect(ctx); err == nil {
		conn.Close()
		c.Close()
		t.Error("the DuckDB database is still open after the traced sql.DB was closed")
	}
}

// A shortened statement never ends in half a character.
func TestOneLine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"SELECT\n   1", 300, "SELECT 1"},
		{"SELECT 'ação'", 11, "SELECT 'aç…"},
		{"SELECT 'ação'", 10, "SELECT 'a…"},
	} {
		if got := oneLine(tc.in, tc.n); got != tc.want || !utf8.ValidString(got) {
			t.Errorf("oneLine(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
