// Package ingest reads the Olist CSV files into the Bronze layer: file-level
// checks (header, delimiter, binary data), an RFC 4180 reader that tracks
// physical lines, typing by the source contract, lineage columns, a
// quarantine of malformed records with their reasons, row accounting, and
// skipping of unchanged inputs.
package ingest
