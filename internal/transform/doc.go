// Package transform owns the SQL models that build Silver and Gold from
// Bronze: parsing the model files (models/<layer>/<name>.sql, embedded, plus
// a project's own), deriving the dependency graph from ref() and source(),
// building models in order with DuckDB, publishing each atomically with its
// inputs' versions, incremental builds (rebuilding only the keys that the
// inputs' recorded changes reach, identical to a full build), and
// column-level lineage derived from the SQL.
package transform
