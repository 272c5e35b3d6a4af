package schedule

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keystone/nexus/internal/ingest"
	"github.com/keystone/nexus/internal/lake"
)

func TestCompileErrors(t *testing.T) {
	two := -1
	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"cron", func(c *Config) { c.Cron = "0 2 * *" }, "schedule.cron"},
		{"empty cron", func(c *Config) { c.Cron = "" }, "schedule.cron"},
		{"zone", func(c *Config) { c.Timezone = "Mars/Olympus" }, "schedule.timezone"},
		{"catchup", func(c *Config) { c.Catchup = "some" }, "schedule.catchup"},
		{"retries", func(c *Config) { c.Retries = -1 }, "schedule.retries"},
		{"backoff", func(c *Config) { c.RetryBackoff = Duration(time.Hour) }, "schedule.retry_backoff"},
		{"sla", func(c *Config) { c.SLA = "6am" }, "schedule.sla"},
		{"sensor", func(c *Config) { c.Sensor.Mode = "poll" }, "schedule.sensor.mode"},
		{"marker", func(c *Config) { c.Sensor.Mode, c.Sensor.Marker = SensorMarker, "a/b" }, "schedule.sensor.marker"},
		{"webhook", func(c *Config) { c.Alerts.Webhooks = []string{"slack.example"} }, "schedule.alerts.webhooks"},
		{"no jobs", func(c *Config) { c.Jobs = nil }, "schedule.jobs"},
		{"dup job", func(c *Config) { c.Jobs[2].Name = c.Jobs[0].Name }, `jobs[2].name: "olist_daily_ingestion" appears twice`},
		{"task", func(c *Config) { c.Jobs[1].Task = "dance" }, "jobs[1].task"},
		{"upstream later", func(c *Config) { c.Jobs[0].Upstream = JobQuality }, "jobs[0].upstream"},
		{"job retries", func(c *Config) { c.Jobs[0].Retries = &two }, "jobs[0].retries"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.edit(&c)
			_, err := c.Compile()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := Default().Compile(); err != nil {
		t.Fatalf("default: %v", err)
	}
}

func TestPlanTimes(t *testing.T) {
	sp := Default()
	sp.Timezone, sp.SLA = "America/Sao_Paulo", "06:00"
	every := Default()
	every.Cron, every.SLA = "@every 30s", "90s"
	cases := []struct {
		name               string
		cfg                Config
		now                string
		next, date, before string
	}{
		{"daily utc", Default(), "2018-07-03T01:00:00Z", "2018-07-03T02:00:00Z", "2018-07-02", "2018-07-03T06:00:00Z"},
		{"daily utc after", Default(), "2018-07-03T02:00:00Z", "2018-07-04T02:00:00Z", "2018-07-03", "2018-07-04T06:00:00Z"},
		{"sao paulo", sp, "2018-07-03T04:00:00Z", "2018-07-03T05:00:00Z", "2018-07-02", "2018-07-03T09:00:00Z"},
		{"every", every, "2018-07-03T01:00:00Z", "2018-07-03T01:00:30Z", "2018-07-02", "2018-07-03T01:02:00Z"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.cfg.Compile()
			if err != nil {
				t.Fatal(err)
			}
			now, _ := time.Parse(time.RFC3339, tc.now)
			next := p.Next(now)
			if got := next.UTC().Format(time.RFC3339); got != tc.next {
				t.Errorf("next = %s, want %s", got, tc.next)
			}
			if got := p.LogicalDate(next); got != tc.date {
				t.Errorf("logical date = %s, want %s", got, tc.date)
			}
			if got := p.Deadline(next).UTC().Format(time.RFC3339); got != tc.before {
				t.Errorf("deadline = %s, want %s", got, tc.before)
			}
		})
	}
}

func TestPlanJobs(t *testing.T) {
	c := Default()
	c.Jobs[3].Upstream = JobTransform // reports need not wait for the checks
	r := 7
	c.Jobs[1].Retries, c.Jobs[1].Timeout = &r, Duration(time.Minute)
	p, err := c.Compile()
	if err != nil {
		t.Fatal(err)
	}
	for job, want := range map[string]string{JobIngestion: "", JobTransform: JobIngestion, JobQuality: JobTransform, JobAnalytics: JobTransform} {
		if got := p.UpstreamOf(job); got != want {
			t.Errorf("upstream of %s = %q, want %q", job, got, want)
		}
	}
	j, _ := p.Job(JobTransform)
	if p.RetriesOf(j) != 7 || p.TimeoutOf(j) != time.Minute {
		t.Errorf("overrides: %d %s", p.RetriesOf(j), p.TimeoutOf(j))
	}
	j, _ = p.Job(JobQuality)
	if p.RetriesOf(j) != 3 || p.TimeoutOf(j) != 2*time.Hour {
		t.Errorf("defaults: %d %s", p.RetriesOf(j), p.TimeoutOf(j))
	}
}

func TestBackoff(t *testing.T) {
	base, top := time.Second, 8*time.Second
	for n, full := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second} {
		for range 50 {
			d := Backoff(base, top, n+1)
			if d < full/2 || d > full {
				t.Fatalf("retry %d: wait %s outside [%s, %s]", n+1, d, full/2, full)
			}
		}
	}
	if d := Backoff(0, 0, 3); d != 0 {
		t.Errorf("no backoff: %s", d)
	}
}

func TestPermanent(t *testing.T) {
	bad := &ingest.FileError{File: "orders.csv", Msg: "line 1: header is missing column(s) order_id"}
	growing := &ingest.FileError{File: "orders.csv", Msg: "changed", Err: ingest.ErrSourceChanging}
	locked := fmt.Errorf("lake x is locked: %w", fmt.Errorf("%w: %w", lake.ErrLocked, syscall.EWOULDBLOCK))
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"bad header", fmt.Errorf("ingest: %w", bad), true},
		{"still written", growing, false},
		{"lock held", locked, false},
		{"disk full", &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}, false},
		{"timeout", fmt.Errorf("attempt: %w", context.DeadlineExceeded), false},
		{"sensor", fmt.Errorf("%w: dt=2018-07-03", errSensorTimeout), false},
		{"checks", fmt.Errorf("%w: gold.fact_sales.reconcile", errChecksFailed), true},
		{"plain files for a landing zone's lake", fmt.Errorf("ingest: %w: src holds plain source files", ingest.ErrSourceSwitch), true},
		{"one bad table among transient", errors.Join(locked, bad), true},
		{"all transient", errors.Join(locked, growing), false},
		{"unknown", errors.New("duckdb: out of memory"), false},
	}
	for _, tc := range cases {
		if got := Permanent(tc.err); got != tc.want {
			t.Errorf("%s: Permanent = %t, want %t", tc.name, got, tc.want)
		}
	}
}

func TestSensorIncomplete(t *testing.T) {
	now := time.Now()
	stable := Sensor{Mode: SensorStable, StableFor: Duration(time.Minute)}
	marker := Sensor{Mode: SensorMarker, Marker: "_SUCCESS"}
	old := now.Add(-time.Hour)
	cases := []struct {
		name  string
		files map[string]time.Time
		s     Sensor
		want  string // "" complete, else a part of the reason
	}{
		{"settled", map[string]time.Time{"olist_orders_dataset.csv": old}, stable, ""},
		{"fresh file", map[string]time.Time{"olist_orders_dataset.csv": old, "olist_order_items_dataset.csv": now}, stable, "olist_order_items_dataset.csv changed less than 1m0s ago"},
		{"temp copy", map[string]time.Time{"olist_orders_dataset.csv": old, ".x.tmp": now}, stable, ".x.tmp"},
		{"no marker", map[string]time.Time{"olist_orders_dataset.csv": old}, marker, "no _SUCCESS marker"},
		{"marker", map[string]time.Time{"olist_orders_dataset.csv": now, "_SUCCESS": now}, marker, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, mt := range tc.files {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(p, mt, mt); err != nil {
					t.Fatal(err)
				}
			}
			got, err := incomplete(dir, tc.s, now)
			if err != nil {
				t.Fatal(err)
			}
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("incomplete = %q, want %q", got, tc.want)
			}
		})
	}
}

// A daily tick in the hour a daylight saving change skips fires when the gap
// ends, so that no logical date is lost; on the day the hour repeats it fires
// once.
func TestDaylightSaving(t *testing.T) {
	cases := []struct {
		zone, cron, from string
		want             []string // the next ticks, local time
	}{
		{"Europe/Berlin", "30 2 * * *", "2018-03-23T12:00:00Z",
			[]string{"2018-03-24 02:30 CET", "2018-03-25 03:00 CEST", "2018-03-26 02:30 CEST"}},
		{"America/New_York", "0 2 * * *", "2018-03-09T12:00:00Z",
			[]string{"2018-03-10 02:00 EST", "2018-03-11 03:00 EDT", "2018-03-12 02:00 EDT"}},
		{"Europe/Berlin", "30 2 * * *", "2018-10-27T12:00:00Z",
			[]string{"2018-10-28 02:30 CEST", "2018-10-29 02:30 CET"}},
		{"America/Sao_Paulo", "0 0 * * *", "2017-10-14T12:00:00Z", // Brazil's spring-forward was at midnight
			[]string{"2017-10-15 01:00 -02", "2017-10-16 00:00 -02"}},
		{"UTC", "0 2 * * *", "2018-03-24T12:00:00Z", []string{"2018-03-25 02:00 UTC", "2018-03-26 02:00 UTC"}},
	}
	for _, tc := range cases {
		t.Run(tc.zone+" "+tc.from, func(t *testing.T) {
			c := Default()
			c.Cron, c.Timezone = tc.cron, tc.zone
			p, err := c.Compile()
			if err != nil {
				t.Fatal(err)
			}
			at, _ := time.Parse(time.RFC3339, tc.from)
			var got []string
			for range tc.want {
				at = p.Next(at)
				got = append(got, at.In(p.Location).Format("2006-01-02 15:04 MST"))
			}
			if strings.Join(got, ", ") != strings.Join(tc.want, ", ") {
				t.Errorf("ticks %v, want %v", got, tc.want)
			}
		})
	}
}
