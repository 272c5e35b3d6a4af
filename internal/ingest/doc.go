// Package ingest reads the Olist CSV files into the Bronze layer: file-level
// checks (header, delimiter, binary data), an RFC 4180 reader that tracks
// physical lines (large files parsed in parallel chunks), typing by the
// source contract, lineage columns, a quarantine of malformed records with
// their reasons, row accounting, and skipping of unchanged inputs. A source
// directory of dt=YYYY-MM-DD folders is a landing zone: each folder is a
// batch, appended once, replaced when its files change, kept when removed;
// the files of many batches are compacted into one past a file count.
package ingest
