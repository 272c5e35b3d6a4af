package engine

import (
	"context"
	"database/sql/driver"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"
)

// Statement traces: with Options.Trace, every statement DuckDB runs is
// logged at debug level with its time (a query's until its rows are closed),
// so `--log-level debug` shows where a command's time goes, statement by
// statement, as dbt's debug log does.

type traceConnector struct {
	driver.Connector
	log *slog.Logger
}

func (c traceConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &traceConn{forwardConn: forwardConn{conn}, log: c.log}, nil
}

// Close closes the driver's connector (DuckDB's database): sql.DB.Close
// does so only for a connector that is an io.Closer, which the embedded
// driver.Connector does not promote.
func (c traceConnector) Close() error {
	if cl, ok := c.Connector.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

// traceConn wraps the driver's connection and logs its statements.
type traceConn struct {
	forwardConn
	log *slog.Logger
}

func (c *traceConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	start := time.Now()
	r, err := c.Conn.(driver.ExecerContext).ExecContext(ctx, query, args)
	c.done(ctx, query, start, err)
	return r, err
}

func (c *traceConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	start := time.Now()
	r, err := c.Conn.(driver.QueryerContext).QueryContext(ctx, query, args)
	if err != nil {
		c.done(ctx, query, start, err)
		return nil, err
	}
	return &traceRows{Rows: r, close: func() { c.done(ctx, query, start, nil) }}, nil
}

func (c *traceConn) done(ctx context.Context, query string, start time.Time, err error) {
	attrs := []slog.Attr{slog.Int64("ms", time.Since(start).Milliseconds()), slog.String("sql", oneLine(query, 300))}
	if err != nil {
		attrs = append(attrs, slog.String("err", oneLine(err.Error(), 200)))
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "duckdb statement", attrs...)
}

type traceRows struct {
	driver.Rows
	close  func()
	closed bool
}

// The column types pass through: without them database/sql reports every
// column as "" of type any, and a DATE would print as a timestamp.

func (r *traceRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *traceRows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

func (r *traceRows) Close() error {
	if !r.closed {
		r.closed = true
		r.close()
	}
	return r.Rows.Close()
}

// oneLine shortens a statement for a log line: whitespace runs become one
// space, and at most n characters are kept.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		for n > 0 && !utf8.RuneStart(s[n]) { // not in the middle of a character
			n--
		}
		s = s[:n] + "…"
	}
	return s
}
