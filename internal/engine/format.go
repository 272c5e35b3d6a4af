package engine

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/duckdb/duckdb-go/v2"
)

// Result is a query result held in memory, values already rendered as text
// (NULL as nil) so every output format shows the same thing.
type Result struct {
	Columns []string
	Types   []string
	Rows    [][]*string
	// Raw keeps the typed values for JSON output.
	Raw [][]any
	// BlankNull prints NULL as an empty cell in the table format (default:
	// the word NULL, to tell it from an empty string).
	BlankNull bool
}

// Query runs one SQL statement and collects its result.
func (e *Engine) Query(ctx context.Context, query string) (*Result, error) {
	rows, err := e.db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	cts, _ := rows.ColumnTypes()
	res := &Result{Columns: cols}
	for _, ct := range cts {
		res.Types = append(res.Types, ct.DatabaseTypeName())
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		text := make([]*string, len(cols))
		raw := make([]any, len(cols))
		for i, v := range vals {
			if t, ok := v.(time.Time); ok && res.Types[i] == "DATE" {
				v = t.Format(time.DateOnly) // a DATE is not a midnight timestamp
			}
			raw[i] = jsonValue(v)
			if v != nil {
				s := Text(v)
				text[i] = &s
			}
		}
		res.Rows = append(res.Rows, text)
		res.Raw = append(res.Raw, raw)
	}
	return res, rows.Err()
}

// Text renders a DuckDB value the way a data engineer expects to read it:
// decimals with their scale (58.90, not 58.9), timestamps without a zone
// suffix when they are naive.
func Text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	case duckdb.Decimal:
		return DecimalString(x)
	case time.Time:
		if x.Nanosecond() != 0 {
			return x.Format("2006-01-02 15:04:05.000000")
		}
		return x.Format("2006-01-02 15:04:05")
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32)
	case *big.Int:
		return x.String()
	case []any, map[string]any, duckdb.Map, duckdb.OrderedMap:
		// A list or struct as JSON text (not Go's map syntax): readable, and
		// a CSV reader can parse the cell.
		b, err := marshalText(jsonValue(x))
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	case fmt.Stringer:
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}

// DecimalString formats a DECIMAL with exactly its scale.
func DecimalString(d duckdb.Decimal) string {
	if d.Value == nil {
		return ""
	}
	s := new(big.Int).Abs(d.Value).String()
	scale := int(d.Scale)
	if scale > 0 {
		if len(s) <= scale {
			s = strings.Repeat("0", scale-len(s)+1) + s
		}
		s = s[:len(s)-scale] + "." + s[len(s)-scale:]
	}
	if d.Value.Sign() < 0 {
		s = "-" + s
	}
	return s
}

// marshalText is v as JSON for a person and a terminal: '<', '>' and '&'
// as they are ("is not >= 0"), not as \u003e, which only guards HTML.
func marshalText(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func jsonValue(v any) any {
	switch x := v.(type) {
	case duckdb.Decimal:
		// A JSON number with the exact digits: no float rounding of money.
		return json.Number(DecimalString(x))
	case time.Time:
		return Text(x)
	case []byte:
		return string(x)
	case *big.Int:
		return json.Number(x.String())
	case float64:
		return x
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonValue(e)
		}
		return out
	case duckdb.Map:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[Text(k)] = jsonValue(e)
		}
		return out
	case duckdb.OrderedMap:
		out := make(map[string]any, x.Len())
		for _, k := range x.Keys() {
			e, _ := x.Get(k)
			out[Text(k)] = jsonValue(e)
		}
		return out
	default:
		return x
	}
}

// Write prints the result as an aligned text table, CSV or JSON (an array of
// objects, one per row).
func (r *Result) Write(w io.Writer, format string) error {
	switch format {
	case "", "table":
		return r.writeTable(w)
	case "csv":
		cw := csv.NewWriter(w)
		if err := cw.Write(r.Columns); err != nil {
			return err
		}
		for _, row := range r.Rows {
			rec := make([]string, len(row))
			for i, v := range row {
				if v != nil {
					rec[i] = *v
				}
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	case "json":
		// Objects keep the query's column order (a map would sort the keys).
		var b []byte
		b = append(b, '[')
		for i, row := range r.Raw {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, "\n  {"...)
			for j, v := range row {
				if j > 0 {
					b = append(b, ", "...)
				}
				k, err := marshalText(r.Columns[j])
				if err != nil {
					return fmt.Errorf("column %s: %w", r.Columns[j], err)
				}
				val, err := marshalText(v)
				if err != nil {
					return fmt.Errorf("column %s: %w", r.Columns[j], err)
				}
				b = append(append(append(b, k...), ": "...), val...)
			}
			b = append(b, '}')
		}
		if len(r.Raw) > 0 {
			b = append(b, '\n')
		}
		b = append(b, "]\n"...)
		_, err := w.Write(b)
		return err
	default:
		return fmt.Errorf("unknown format %q (want table, csv or json)", format)
	}
}

func (r *Result) writeTable(w io.Writer) error {
	const maxWidth = 60
	widths := make([]int, len(r.Columns))
	for i, c := range r.Columns {
		widths[i] = utf8.RuneCountInString(c)
	}
	null := "NULL"
	if r.BlankNull {
		null = ""
	}
	cell := func(v *string) string {
		if v == nil {
			return null
		}
		s := strings.NewReplacer("\r\n", "⏎", "\n", "⏎", "\t", " ").Replace(*v)
		if utf8.RuneCountInString(s) > maxWidth {
			rs := []rune(s)
			s = string(rs[:maxWidth-1]) + "…"
		}
		return s
	}
	cells := make([][]string, len(r.Rows))
	for j, row := range r.Rows {
		cells[j] = make([]string, len(row))
		for i, v := range row {
			cells[j][i] = cell(v)
			if n := utf8.RuneCountInString(cells[j][i]); n > widths[i] {
				widths[i] = n
			}
		}
	}
	numeric := make([]bool, len(r.Columns))
	for i, t := range r.Types {
		numeric[i] = isNumericType(t)
	}
	var sb strings.Builder
	line := func(vals []string) {
		for i, v := range vals {
			if i > 0 {
				sb.WriteString("  ")
			}
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(v))
			if numeric[i] {
				sb.WriteString(pad + v)
			} else if i == len(vals)-1 {
				sb.WriteString(v)
			} else {
				sb.WriteString(v + pad)
			}
		}
		sb.WriteString("\n")
	}
	line(r.Columns)
	seps := make([]string, len(widths))
	for i, n := range widths {
		seps[i] = strings.Repeat("-", n)
	}
	line(seps)
	for _, c := range cells {
		line(c)
	}
	fmt.Fprintf(&sb, "(%d row%s)\n", len(r.Rows), plural(len(r.Rows)))
	_, err := io.WriteString(w, sb.String())
	return err
}

// WriteRecords prints each row as a block of "column  value" lines, values
// whole (nothing cut): for wide rows with long texts, such as quarantined
// rows and their reasons.
func (r *Result) WriteRecords(w io.Writer) error {
	width := 0
	for _, c := range r.Columns {
		width = max(width, utf8.RuneCountInString(c))
	}
	var sb strings.Builder
	for j, row := range r.Rows {
		fmt.Fprintf(&sb, "-[ row %d ]%s\n", j+1, strings.Repeat("-", max(0, width-6)))
		for i, v := range row {
			val := "NULL"
			if v != nil {
				val = strings.NewReplacer("\r\n", "⏎", "\n", "⏎", "\t", " ").Replace(*v)
			}
			fmt.Fprintf(&sb, "%-*s  %s\n", width, r.Columns[i], val)
		}
	}
	fmt.Fprintf(&sb, "(%d row%s)\n", len(r.Rows), plural(len(r.Rows)))
	_, err := io.WriteString(w, sb.String())
	return err
}

func isNumericType(t string) bool {
	t = strings.ToUpper(t)
	for _, p := range []string{"INT", "BIGINT", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER", "DOUBLE", "FLOAT", "DECIMAL", "REAL"} {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Strings runs a query of one text column and returns its values in order.
func Strings(ctx context.Context, db *sql.DB, stmt string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
