package engine

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
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

// Pairs runs a query whose rows are a BIGINT and a UBIGINT, neither NULL,
// and returns its two columns. It reads DuckDB's result a chunk (2048 rows)
// at a time where the driver scans a row at a time (~0.4 µs a row, 20x
// DuckDB's cost to compute a hash of a key): for results of millions of
// rows, as the key sets of a table's files (transform/keyindex.go). Without
// the direct path it scans rows.
func (e *Engine) Pairs(ctx context.Context, query string) (a []int64, b []uint64, err error) {
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer func() { err = errors.Join(err, conn.Close()) }()
	direct := false
	err = conn.Raw(func(dc any) error {
		raw, done := directHandle(ctx, dc, query)
		if raw == nil || raw.Ptr == nil {
			return nil
		}
		direct = true
		a, b, err = pairs(ctx, *raw, query)
		done(err)
		return err
	})
	if err != nil || direct {
		return a, b, err
	}
	rows, err := conn.QueryContext(ctx, query)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, nil, err
	}
	if len(types) != 2 || types[0].DatabaseTypeName() != "BIGINT" || types[1].DatabaseTypeName() != "UBIGINT" {
		return nil, nil, fmt.Errorf("pairs: the query gives %d columns, not a BIGINT and a UBIGINT", len(types))
	}
	for rows.Next() {
		var x int64
		var y uint64
		if err := rows.Scan(&x, &y); err != nil {
			return nil, nil, err
		}
		a, b = append(a, x), append(b, y)
	}
	return a, b, rows.Err()
}

// directHandle finds the DuckDB connection of a connection of Open's, under
// its trace; done records the statement in the trace.
func directHandle(ctx context.Context, dc any, query string) (*bindings.Connection, func(error)) {
	start := time.Now()
	switch c := dc.(type) {
	case *directConn:
		return c.raw, func(error) {}
	case *traceConn:
		raw, _ := directHandle(ctx, c.Conn, query)
		return raw, func(err error) { c.done(ctx, query, start, err) }
	}
	return nil, nil
}

func pairs(ctx context.Context, conn bindings.Connection, query string) ([]int64, []uint64, error) {
	var res bindings.Result
	stop := interruptOnCancel(ctx, conn)
	state := bindings.Query(conn, query, &res)
	stop()
	defer bindings.DestroyResult(&res)
	if state == bindings.StateError {
		err := &duckdb.Error{Type: duckdb.ErrorType(bindings.ResultErrorType(&res)), Msg: bindings.ResultError(&res)}
		if ctx.Err() != nil {
			return nil, nil, errors.Join(ctx.Err(), err)
		}
		return nil, nil, err
	}
	if n := bindings.ColumnCount(&res); n != 2 || bindings.ColumnType(&res, 0) != bindings.TypeBigInt || bindings.ColumnType(&res, 1) != bindings.TypeUBigInt {
		return nil, nil, fmt.Errorf("pairs: the query gives %d columns, not a BIGINT and a UBIGINT", n)
	}
	var a []int64
	var b []uint64
	for {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		chunk := bindings.FetchChunk(res)
		if chunk.Ptr == nil {
			return a, b, nil
		}
		n := bindings.DataChunkGetSize(chunk)
		va, vb := bindings.DataChunkGetVector(chunk, 0), bindings.DataChunkGetVector(chunk, 1)
		for _, v := range []bindings.Vector{va, vb} {
			if mask := bindings.VectorGetValidity(v); mask != nil {
				for i := bindings.IdxT(0); i < n; i++ {
					if !bindings.ValidityRowIsValid(mask, i) {
						bindings.DestroyDataChunk(&chunk)
						return nil, nil, errors.New("pairs: the query gives a NULL")
					}
				}
			}
		}
		if n > 0 {
			a = append(a, unsafe.Slice((*int64)(bindings.VectorGetData(va)), n)...)
			b = append(b, unsafe.Slice((*uint64)(bindings.VectorGetData(vb)), n)...)
		}
		bindings.DestroyDataChunk(&chunk)
	}
}
