package analytics

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ParamError is a filter value or an analysis parameter that is not
// accepted. Param names it as the CLI flag and the API query parameter do
// (from, to, state, category, or a Param of the registry).
type ParamError struct {
	Param string
	Msg   string
}

func (e *ParamError) Error() string { return e.Param + ": " + e.Msg }

// maxEcho bounds how much of a bad value an error repeats.
const maxEcho = 100

// Clip shortens s to the 100 runes an error may repeat of a client's value
// (a cut inside a rune would make the message invalid UTF-8); the CLI and
// the server both use it.
func Clip(s string) string {
	n := 0
	for i := range s {
		if n == maxEcho {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// ParseFilter builds a Filter from command-line or query-string values:
// dates as yyyy-mm-dd (empty = open), the state upper-cased, all trimmed.
// Errors are *ParamError. The values of state and category are checked
// against the lake by FilterValues.Check: the CLI and the API do both.
func ParseFilter(from, to, state, category string) (Filter, error) {
	var f Filter
	for _, d := range []struct {
		name, s string
		dst     *time.Time
	}{{"from", from, &f.From}, {"to", to, &f.To}} {
		s := strings.TrimSpace(d.s)
		if s == "" {
			continue
		}
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return Filter{}, &ParamError{d.name, fmt.Sprintf("%q is not a date yyyy-mm-dd", Clip(s))}
		}
		*d.dst = t
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.To.Before(f.From) {
		return Filter{}, &ParamError{"to", fmt.Sprintf("%s is before from (%s)", f.To.Format(time.DateOnly), f.From.Format(time.DateOnly))}
	}
	f.State = strings.ToUpper(strings.TrimSpace(state))
	f.Category = strings.TrimSpace(category)
	return f, nil
}

// FilterValues are the values the State and Category filters accept: those
// that occur on the lake's sales. A value outside them would silently give
// zeros, so it is an error instead.
type FilterValues struct {
	States     []string
	Categories []string
}

// LoadFilterValues lists the states and categories of the lake's sales.
func LoadFilterValues(ctx context.Context, db *sql.DB) (FilterValues, error) {
	var v FilterValues
	var err error
	if v.States, err = States(ctx, db); err != nil {
		return v, fmt.Errorf("states: %w", err)
	}
	if v.Categories, err = Categories(ctx, db); err != nil {
		return v, fmt.Errorf("categories: %w", err)
	}
	return v, nil
}

// Check returns a *ParamError when f's state or category is not one of v.
func (v FilterValues) Check(f Filter) error {
	if f.State != "" && !slices.Contains(v.States, f.State) {
		return &ParamError{"state", fmt.Sprintf("%q is not a customer state with sales in the lake; accepted: %s",
			Clip(f.State), strings.Join(v.States, ", "))}
	}
	if f.Category != "" && !slices.Contains(v.Categories, f.Category) {
		return &ParamError{"category", fmt.Sprintf("%q is not a product category with sales in the lake; accepted: %s",
			Clip(f.Category), strings.Join(v.Categories, ", "))}
	}
	return nil
}
