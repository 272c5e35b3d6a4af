// Package catalog owns what query engines other than the embedded DuckDB
// need to read the lake: the Athena (Hive) DDL of its tables, with the type
// mapping from DuckDB's types and partition projection.
package catalog
