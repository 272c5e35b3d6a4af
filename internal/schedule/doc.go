// Package schedule owns the operator: the daily cycle of the four Olist flows
// (ingestion, Silver to Gold, data quality, analytics refresh), its cron
// schedule and catch-up, retries with backoff, the landing-zone sensor, the
// run store (SQLite at <lake>/_nexus/runs.db), alerts, metrics, backfills,
// and the exports of the same jobs to Airflow and GitHub Actions.
//
// A job runs one task through the same runner the CLI uses
// (internal/pipeline), so a scheduled cycle, `nexus trigger`, a backfill and
// an exported Airflow task all do exactly what `nexus run` does.
package schedule
