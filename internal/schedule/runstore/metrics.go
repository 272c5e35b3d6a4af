package runstore

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keystone/nexus/internal/lake"
)

// durationBuckets of jobs and steps, in seconds: from a no-op step to a
// full rebuild at scale.
var durationBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}

// MetricsHandler serves /metrics in the Prometheus text format. Every scrape
// reads the run store and the lake read-only, so the figures are those of
// the store whichever process wrote them (the scheduler, a trigger, a
// backfill), and they survive restarts.
func MetricsHandler(root string) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&storeCollector{root: root},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

var (
	descRuns        = prometheus.NewDesc("nexus_runs_total", "Runs of a job by final status.", []string{"job", "status"}, nil)
	descAttempts    = prometheus.NewDesc("nexus_attempts_total", "Attempts of a job by status (retries included).", []string{"job", "status"}, nil)
	descCycles      = prometheus.NewDesc("nexus_cycles_total", "Cycles by trigger and status.", []string{"trigger", "status"}, nil)
	descJobDur      = prometheus.NewDesc("nexus_job_duration_seconds", "Duration of the finished runs of a job.", []string{"job"}, nil)
	descStepDur     = prometheus.NewDesc("nexus_step_duration_seconds", "Duration of the steps (tables ingested, models built, checks, reports) of the attempts of a job.", []string{"job", "kind"}, nil)
	descRowsIn      = prometheus.NewDesc("nexus_rows_in_total", "Rows read by the succeeded runs of a job.", []string{"job"}, nil)
	descRowsOut     = prometheus.NewDesc("nexus_rows_out_total", "Rows published by the succeeded runs of a job.", []string{"job"}, nil)
	descRowsQ       = prometheus.NewDesc("nexus_rows_quarantined_total", "Rows quarantined by the succeeded runs of a job.", []string{"job"}, nil)
	descChecks      = prometheus.NewDesc("nexus_checks_failed_total", "Failed quality checks seen by the runs of a job.", []string{"job"}, nil)
	descLastSuccess = prometheus.NewDesc("nexus_last_success_timestamp_seconds", "End of the last succeeded run of a job (Unix time).", []string{"job"}, nil)
	descSnapshot    = prometheus.NewDesc("nexus_lake_snapshot", "The lake's current snapshot number.", nil, nil)
	descPaused      = prometheus.NewDesc("nexus_scheduler_paused", "1 when the scheduled cycles are paused.", nil, nil)
	descRunning     = prometheus.NewDesc("nexus_runs_running", "Runs of a job in progress.", []string{"job"}, nil)
	descOpen        = prometheus.NewDesc("nexus_open_incidents", "Incidents alerted and not yet recovered.", nil, nil)
	descStoreUp     = prometheus.NewDesc("nexus_run_store_up", "1 when the run store was read, 0 when it exists but could not be read (the run metrics are then missing).", nil, nil)
)

type storeCollector struct{ root string }

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	if lk, err := lake.OpenRead(c.root); err == nil {
		ch <- prometheus.MustNewConstMetric(descSnapshot, prometheus.GaugeValue, float64(lk.SnapshotID()))
	} else {
		ch <- prometheus.NewInvalidMetric(descSnapshot, err)
	}
	st, err := OpenStoreRead(c.root)
	if errors.Is(err, ErrNoStore) {
		return // nothing scheduled yet: no run metrics
	}
	if err != nil {
		ch <- prometheus.MustNewConstMetric(descStoreUp, prometheus.GaugeValue, 0)
		ch <- prometheus.NewInvalidMetric(descRuns, err)
		return
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Metrics are collected into a buffer first: a store that fails midway
	// is reported as down, not as a partial set of figures.
	var ms []prometheus.Metric
	buf, done := make(chan prometheus.Metric), make(chan struct{})
	go func() {
		for m := range buf {
			ms = append(ms, m)
		}
		close(done)
	}()
	err = st.collect(ctx, buf)
	close(buf)
	<-done
	if err != nil {
		ch <- prometheus.MustNewConstMetric(descStoreUp, prometheus.GaugeValue, 0)
		ch <- prometheus.NewInvalidMetric(descRuns, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(descStoreUp, prometheus.GaugeValue, 1)
	for _, m := range ms {
		ch <- m
	}
}

func (s *Store) collect(ctx context.Context, ch chan<- prometheus.Metric) error {
	counts := func(desc *prometheus.Desc, q string, args ...any) error {
		rows, err := s.db.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a, b string
			var n float64
			if err := rows.Scan(&a, &b, &n); err != nil {
				return err
			}
			ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, n, a, b)
		}
		return rows.Err()
	}
	// Counters count what is over: a running run is a gauge of its own, or
	// the counter would go down when it ends (read as a reset).
	if err := counts(descRuns, `SELECT job, status, count(*) FROM runs WHERE status <> ? GROUP BY 1, 2`, StatusRunning); err != nil {
		return err
	}
	if err := counts(descAttempts, `SELECT r.job, a.status, count(*) FROM attempts a JOIN runs r ON r.id = a.run_id WHERE a.status <> ? GROUP BY 1, 2`, StatusRunning); err != nil {
		return err
	}
	if err := counts(descCycles, `SELECT trigger, status, count(*) FROM cycles WHERE status <> ? GROUP BY 1, 2`, StatusRunning); err != nil {
		return err
	}
	perJob := func(q string, args []any, emit func(job string, v float64)) error {
		rows, err := s.db.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var job string
			var v float64
			if err := rows.Scan(&job, &v); err != nil {
				return err
			}
			emit(job, v)
		}
		return rows.Err()
	}
	counter := func(d *prometheus.Desc) func(string, float64) {
		return func(job string, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, job) }
	}
	ok := []any{StatusSucceeded}
	for _, m := range []struct {
		d    *prometheus.Desc
		q    string
		args []any
	}{
		{descRowsIn, `SELECT job, sum(rows_in) FROM runs WHERE status = ? GROUP BY 1`, ok},
		{descRowsOut, `SELECT job, sum(rows_out) FROM runs WHERE status = ? GROUP BY 1`, ok},
		{descRowsQ, `SELECT job, sum(quarantined) FROM runs WHERE status = ? GROUP BY 1`, ok},
		{descChecks, `SELECT job, sum(checks_failed) FROM runs GROUP BY 1`, nil},
	} {
		if err := perJob(m.q, m.args, counter(m.d)); err != nil {
			return err
		}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT job, max(ended) FROM runs WHERE status = ? GROUP BY 1`, StatusSucceeded)
	if err != nil {
		return err
	}
	for rows.Next() {
		var job, ended string
		if err := rows.Scan(&job, &ended); err != nil {
			rows.Close()
			return err
		}
		t, err := time.Parse(time.RFC3339Nano, ended)
		if err != nil {
			rows.Close()
			return err
		}
		ch <- prometheus.MustNewConstMetric(descLastSuccess, prometheus.GaugeValue, float64(t.UnixNano())/1e9, job)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if err := s.histograms(ctx, ch); err != nil {
		return err
	}
	running, err := s.db.QueryContext(ctx, `SELECT job, count(*) FROM runs WHERE status = ? GROUP BY 1`, StatusRunning)
	if err != nil {
		return err
	}
	for running.Next() {
		var job string
		var n float64
		if err := running.Scan(&job, &n); err != nil {
			running.Close()
			return err
		}
		ch <- prometheus.MustNewConstMetric(descRunning, prometheus.GaugeValue, n, job)
	}
	running.Close()
	if err := running.Err(); err != nil {
		return err
	}
	paused, err := s.Setting(ctx, SettingPaused)
	if err != nil {
		return err
	}
	ch <- prometheus.MustNewConstMetric(descPaused, prometheus.GaugeValue, boolf(paused != ""))
	var open float64
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM incidents`).Scan(&open); err != nil {
		return err
	}
	ch <- prometheus.MustNewConstMetric(descOpen, prometheus.GaugeValue, open)
	return nil
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// histograms builds the duration histograms from the recorded runs and steps.
func (s *Store) histograms(ctx context.Context, ch chan<- prometheus.Metric) error {
	type key struct{ job, kind string }
	type hist struct {
		n       uint64
		sum     float64
		buckets map[float64]uint64
	}
	add := func(m map[key]*hist, k key, v float64) {
		h := m[k]
		if h == nil {
			h = &hist{buckets: map[float64]uint64{}}
			m[k] = h
		}
		h.n++
		h.sum += v
		for _, b := range durationBuckets {
			if v <= b {
				h.buckets[b]++
			}
		}
	}
	jobs, steps := map[key]*hist{}, map[key]*hist{}
	rows, err := s.db.QueryContext(ctx, `SELECT job, started, ended FROM runs WHERE ended IS NOT NULL AND status IN (?, ?)`, StatusSucceeded, StatusFailed)
	if err != nil {
		return err
	}
	for rows.Next() {
		var job, a, b string
		if err := rows.Scan(&job, &a, &b); err != nil {
			rows.Close()
			return err
		}
		ta, err1 := time.Parse(time.RFC3339Nano, a)
		tb, err2 := time.Parse(time.RFC3339Nano, b)
		if err := errors.Join(err1, err2); err != nil {
			rows.Close()
			return err
		}
		add(jobs, key{job: job}, tb.Sub(ta).Seconds())
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = s.db.QueryContext(ctx, `SELECT r.job, st.kind, st.duration_s FROM steps st JOIN attempts a ON a.id = st.attempt_id JOIN runs r ON r.id = a.run_id`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var k key
		var v float64
		if err := rows.Scan(&k.job, &k.kind, &v); err != nil {
			rows.Close()
			return err
		}
		add(steps, k, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for k, h := range jobs {
		ch <- prometheus.MustNewConstHistogram(descJobDur, h.n, h.sum, h.buckets, k.job)
	}
	for k, h := range steps {
		ch <- prometheus.MustNewConstHistogram(descStepDur, h.n, h.sum, h.buckets, k.job, k.kind)
	}
	return nil
}
