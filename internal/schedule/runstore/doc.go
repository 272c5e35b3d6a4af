// Package runstore owns the run store of the operator: an SQLite database at
// <lake>/_nexus/runs.db (cycles, runs of jobs, attempts, steps, failed
// checks, open incidents, settings), its migrations, and the Prometheus
// metrics read from it. The scheduler writes it; `nexus runs`, the
// dashboard and /metrics read it, read-only.
package runstore
