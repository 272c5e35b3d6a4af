package analytics

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// Statement is one SQL statement an analysis runs, written on the lake's
// tables: the working set's tables are replaced by the queries that define
// them, so it is the statement an engine without the working set (Athena
// on the lake's Parquet) would run for the analysis.
type Statement struct {
	Analysis string
	SQL      string
	Args     []any // the parameters ($1, $2, ...) of SQL; none without a filter
}

// Statements runs the analyses of o for f with their default parameters, one
// after another, and returns the statements each ran, in registry order.
func Statements(ctx context.Context, db *sql.DB, f Filter, o Output) ([]Statement, error) {
	var out []Statement
	for _, a := range Select(o) {
		args, err := a.complete(nil)
		if err != nil {
			return nil, err
		}
		rec := &recorder{}
		if _, err := a.run(context.WithValue(ctx, recorderKey{}, rec), db, f, args); err != nil {
			return nil, fmt.Errorf("%s: %w", a.Name, err)
		}
		for _, s := range rec.stmts {
			s.Analysis, s.SQL = a.Name, onLake(s.SQL)
			out = append(out, s)
		}
	}
	return out, nil
}

type recorderKey struct{}

// recorder collects the statements run under a context (Statements).
type recorder struct {
	mu    sync.Mutex
	stmts []Statement
}

func note(ctx context.Context, stmt string, args []any) {
	if r, ok := ctx.Value(recorderKey{}).(*recorder); ok {
		r.mu.Lock()
		r.stmts = append(r.stmts, Statement{SQL: stmt, Args: args})
		r.mu.Unlock()
	}
}

// queryRows and queryRow are how the analyses query: db's, noting the
// statement when Statements asks.
func queryRows(ctx context.Context, db *sql.DB, stmt string, args ...any) (*sql.Rows, error) {
	note(ctx, stmt, args)
	return db.QueryContext(ctx, stmt, args...)
}

func queryRow(ctx context.Context, db *sql.DB, stmt string, args ...any) *sql.Row {
	note(ctx, stmt, args)
	return db.QueryRowContext(ctx, stmt, args...)
}

// worksetName matches the name of a working set's table (newWorkset).
var worksetName = regexp.MustCompile(regexp.QuoteMeta(wsSchema) + `\.(sales|persons|products)_([0-9a-z_]+)`)

// onLake replaces the working set's tables in stmt by their definitions.
func onLake(stmt string) string {
	return worksetName.ReplaceAllStringFunc(stmt, func(name string) string {
		m := worksetName.FindStringSubmatch(name)
		ws := newWorkset(m[2])
		d := ws.definitions()
		switch m[1] {
		case "persons":
			return "(" + d.persons + ")"
		case "products":
			return "(" + d.products + ")"
		}
		sales := strings.NewReplacer(ws.persons, "("+d.persons+")", ws.products, "("+d.products+")").Replace(d.sales)
		return "(" + sales + ")"
	})
}
