// Package engine owns the in-process DuckDB session: every published table is
// a view over exactly the files its manifest lists, and query results are
// rendered as text tables, CSV or JSON.
package engine
