package engine

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"reflect"
	"strings"
	"time"
	"unsafe"

	bindings "github.com/duckdb/duckdb-go-bindings"
	"github.com/duckdb/duckdb-go/v2"
)

// Statements without arguments run with duckdb_query, planned once.
//
// duckdb-go runs every statement as a prepared statement: DuckDB binds,
// optimizes and plans it to prepare it, then plans it all over again when it
// executes, for any statement that reads Parquet (a multi-file scan opts out
// of DuckDB's statement cache, so its prepared statements always rebind) and
// for any other whenever another connection changed the catalog in between
// (a build creates and drops working tables all the time). Nearly every
// statement the lake runs reads Parquet. A statement without arguments needs
// no prepared statement: duckdb_query parses, plans and runs it in one go.
// Measured on drops at scale 1, in turn (bench/results/incremental-2026-11-28-b.md):
// wall and CPU −6% to −14%.
//
// duckdb-go does not expose its connection handle, so directConn reads it
// from the driver's connection by reflection, checking the field's type; a
// driver whose connection no longer has it keeps the prepared path, and
// TestDirectConnHandle fails so that the upgrade is noticed.

// directConnector gives connections that run argument-less Exec statements
// with duckdb_query.
type directConnector struct{ driver.Connector }

func (c directConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	raw := connHandle(conn)
	if raw == nil {
		return conn, nil
	}
	return &directConn{forwardConn: forwardConn{conn}, raw: raw}, nil
}

// Close closes DuckDB's database (see traceConnector.Close).
func (c directConnector) Close() error {
	if cl, ok := c.Connector.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

// connHandle points at the DuckDB connection handle inside a duckdb-go
// connection (nil when the driver's connection no longer holds one there).
// It points into the driver's connection, which clears it on Close.
func connHandle(conn driver.Conn) *bindings.Connection {
	dc, ok := conn.(*duckdb.Conn)
	if !ok || dc == nil {
		return nil
	}
	f := reflect.ValueOf(dc).Elem().FieldByName("conn")
	if !f.IsValid() || f.Type() != reflect.TypeFor[bindings.Connection]() {
		return nil
	}
	return (*bindings.Connection)(unsafe.Pointer(f.UnsafeAddr()))
}

// directConn is a duckdb-go connection whose Exec without arguments runs
// with duckdb_query; everything else is the driver's.
type directConn struct {
	forwardConn
	raw *bindings.Connection // inside Conn
}

// ExecContext runs a script without arguments with duckdb_query: its
// statements in order, each in its own transaction unless one is open,
// stopping at the first error; RowsAffected is the last statement's. A
// script of no statement (only comments, say) does nothing.
func (c *directConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if len(args) > 0 || c.raw.Ptr == nil { // a closed connection: the driver says so
		return c.Conn.(driver.ExecerContext).ExecContext(ctx, query, args)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if strings.TrimSpace(query) == "" {
		return nil, errors.New("empty query")
	}
	conn := *c.raw
	var res bindings.Result
	stop := interruptOnCancel(ctx, conn)
	state := bindings.Query(conn, query, &res)
	stop()
	defer bindings.DestroyResult(&res)
	if state == bindings.StateError {
		// The driver's own error, so that callers see one kind.
		err := &duckdb.Error{Type: duckdb.ErrorType(bindings.ResultErrorType(&res)), Msg: bindings.ResultError(&res)}
		if ctx.Err() != nil {
			return nil, errors.Join(ctx.Err(), err)
		}
		return nil, err
	}
	return driver.RowsAffected(bindings.RowsChanged(&res)), nil
}

// interruptEvery: DuckDB clears an interrupt when a statement starts, so a
// cancellation that lands between two statements of a script is repeated.
const interruptEvery = 20 * time.Millisecond

// interruptOnCancel interrupts the connection's running statement once ctx
// is done, until stop is called; stop returns only when no interrupt can
// follow, so that none reaches the connection's next statement.
func interruptOnCancel(ctx context.Context, conn bindings.Connection) (stop func()) {
	if ctx.Done() == nil {
		return func() {}
	}
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		t := time.NewTicker(interruptEvery)
		defer t.Stop()
		for {
			bindings.Interrupt(conn)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}
