package engine

import (
	"context"
	"database/sql"
	"log/slog"
	"testing"

	"github.com/duckdb/duckdb-go/v2"
)

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
