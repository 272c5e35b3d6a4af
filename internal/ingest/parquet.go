package ingest

import (
	"io"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"

	"github.com/keystone/nexus/internal/olist"
)

// Lineage columns appended to every Bronze table.
const (
	ColSourceFile = "_source_file"
	ColSourceLine = "_source_line"
	ColRunID      = "_ingest_run_id"
	ColIngestedAt = "_ingested_at"
	// ColBatch is the landing-zone batch (the dt= folder's date) a record
	// came in; NULL for a source directory of plain files.
	ColBatch = "_batch"
	// ColEventID is the client's event_id of a row that came from the
	// stream (a retried event is written once by it); NULL for files.
	ColEventID = "_event_id"
)

// ColumnDoc documents a column ingest adds: the lineage columns of a Bronze
// table and the columns of its quarantine ("" for any other name).
func ColumnDoc(name string) string {
	switch name {
	case ColSourceFile:
		return "Source file the record was read from (relative to the source directory)."
	case ColSourceLine:
		return "Physical line of the source file where the record starts (1-based, the header is line 1)."
	case ColRunID:
		return "Run that ingested the record."
	case ColIngestedAt:
		return "When the record was ingested, UTC."
	case ColBatch:
		return "Landing-zone batch (the dt= folder's date) the record came in; NULL for a directory of plain files."
	case ColEventID:
		return "The stream's event id of a record that came as an event; NULL for files."
	case "column_index":
		return "Position (1-based) of the field that could not be typed; NULL when the record as a whole is malformed."
	case "column_name":
		return "Name of the field that could not be typed; NULL when the record as a whole is malformed."
	case "error_type":
		return "What is wrong with the record (wrong field count, unparsable value, broken quoting, invalid UTF-8, NUL byte)."
	case "reason":
		return "Why the record was rejected, with the offending value."
	case "raw_record":
		return "The record's raw text as it is in the file."
	}
	return ""
}

// bronzeColumn is one column of a Bronze Parquet file.
type bronzeColumn struct {
	Name string
	Type olist.Type
	node parquet.Node
}

// orderedGroup is a Parquet group that keeps its fields in the order given:
// parquet.Group sorts them by name, and a user running SELECT * on Bronze
// expects the source file's column order.
type orderedGroup struct {
	parquet.Group
	order []string
}

func (g orderedGroup) Fields() []parquet.Field {
	byName := map[string]parquet.Field{}
	for _, f := range g.Group.Fields() {
		byName[f.Name()] = f
	}
	out := make([]parquet.Field, len(g.order))
	for i, n := range g.order {
		out[i] = byName[n]
	}
	return out
}

// leafNode returns the Parquet node for a contract type. Every column is
// optional: Bronze keeps records as they came, and an empty field is NULL;
// not-null rules are quality checks, not parse errors.
func leafNode(name string, t olist.Type) parquet.Node {
	var n parquet.Node
	switch t {
	case olist.Int:
		n = parquet.Int(32)
	case olist.Money:
		n = parquet.Decimal(2, 12, parquet.Int64Type)
	case olist.Float:
		n = parquet.Leaf(parquet.DoubleType)
	case olist.Timestamp:
		// Local wall-clock time: isAdjustedToUTC=false, microseconds so that
		// every engine (Spark, Athena, pandas) reads it.
		n = parquet.TimestampAdjusted(parquet.Microsecond, false)
	default:
		n = parquet.String()
		if dictionaryFriendly(name) {
			n = parquet.Encoded(n, &parquet.RLEDictionary)
		}
	}
	return parquet.Optional(n)
}

// dictionaryFriendly guesses low cardinality from the column name: ids and free
// text are unique-ish; states, cities, statuses, categories repeat.
func dictionaryFriendly(name string) bool {
	return !strings.HasSuffix(name, "_id") && !strings.HasPrefix(name, "review_comment")
}

// bronzeSchema builds the Parquet schema for a table: the contract's columns
// (plus extra columns kept under --on-drift evolve, as strings), then lineage.
func bronzeSchema(t olist.Table, extra []string) (*parquet.Schema, []bronzeColumn) {
	var cols []bronzeColumn
	for _, c := range t.Columns {
		cols = append(cols, bronzeColumn{Name: c.Name, Type: c.Type})
	}
	for _, e := range extra {
		cols = append(cols, bronzeColumn{Name: e, Type: olist.String})
	}
	g := orderedGroup{Group: parquet.Group{}}
	for i := range cols {
		cols[i].node = leafNode(cols[i].Name, cols[i].Type)
		g.Group[cols[i].Name] = cols[i].node
		g.order = append(g.order, cols[i].Name)
	}
	lineage := []struct {
		name string
		node parquet.Node
	}{
		{ColSourceFile, parquet.Encoded(parquet.String(), &parquet.RLEDictionary)},
		{ColSourceLine, parquet.Int(64)},
		{ColRunID, parquet.Encoded(parquet.String(), &parquet.RLEDictionary)},
		{ColIngestedAt, parquet.TimestampAdjusted(parquet.Microsecond, true)},
		{ColBatch, parquet.Optional(parquet.Date())},
		{ColEventID, parquet.Optional(parquet.String())},
	}
	for _, l := range lineage {
		g.Group[l.name] = l.node
		g.order = append(g.order, l.name)
	}
	return parquet.NewSchema(t.Name, g), cols
}

// quarantineSchema is the schema of quarantine/bronze_<table>: one row per
// malformed record with where it was and why it was rejected.
func quarantineSchema() *parquet.Schema {
	g := orderedGroup{Group: parquet.Group{
		ColSourceFile:  parquet.String(),
		ColSourceLine:  parquet.Int(64),
		"column_index": parquet.Optional(parquet.Int(32)),
		"column_name":  parquet.Optional(parquet.String()),
		"error_type":   parquet.String(),
		"reason":       parquet.String(),
		"raw_record":   parquet.String(),
		ColRunID:       parquet.String(),
		ColIngestedAt:  parquet.TimestampAdjusted(parquet.Microsecond, true),
		ColBatch:       parquet.Optional(parquet.Date()),
	}, order: []string{ColSourceFile, ColSourceLine, "column_index", "column_name", "error_type", "reason", "raw_record", ColRunID, ColIngestedAt, ColBatch}}
	return parquet.NewSchema("quarantine", g)
}

// newParquetWriter opens a Parquet writer with the lake's settings. The rows
// are built as parquet.Row values against a schema known only at run time
// (extra columns under --on-drift evolve), hence the any type parameter.
func newParquetWriter(w io.Writer, schema *parquet.Schema, codec compress.Codec) *parquet.GenericWriter[any] {
	return parquet.NewGenericWriter[any](w, schema,
		parquet.Compression(codec),
		parquet.MaxRowsPerRowGroup(256<<10),
		parquet.CreatedBy("keystone-nexus", "0.1", ""),
	)
}

// sqlTypeOf returns the DuckDB type that reading a Bronze column yields; the
// manifest records it as the table's schema.
func sqlTypeOf(t olist.Type) string { return t.SQL() }
