package schedule

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Config is the schedule: section of nexus.yaml. Every field has a default
// (Default); a flag of `nexus scheduler` wins over the file.
type Config struct {
	// Cron is the cycle's schedule: standard 5 fields (minute hour day
	// month weekday), a descriptor (@daily, @hourly), or @every 30s.
	Cron string `yaml:"cron"`
	// Timezone of Cron and of SLA (IANA name).
	Timezone string `yaml:"timezone"`
	// Catchup: what a start does with the ticks missed while the scheduler
	// was down.
	Catchup Catchup `yaml:"catchup"`
	// Retries of a failed job (after the first attempt), unless the job sets
	// its own; a permanent failure is never retried.
	Retries int `yaml:"retries"`
	// RetryBackoff is the wait before the first retry; it doubles at each
	// retry up to RetryMaxBackoff, with jitter.
	RetryBackoff    Duration `yaml:"retry_backoff"`
	RetryMaxBackoff Duration `yaml:"retry_max_backoff"`
	// StepTimeout bounds one attempt of a job, unless the job sets its own.
	StepTimeout Duration `yaml:"step_timeout"`
	// SLA: a cycle not finished by then raises an alert. Either a time of
	// day ("06:00", in Timezone, the first such time at or after the tick)
	// or a duration after the tick ("4h"). Empty: no SLA.
	SLA    string `yaml:"sla"`
	Sensor Sensor `yaml:"sensor"`
	Alerts Alerts `yaml:"alerts"`
	// Jobs of a cycle, in order. Default: the four Olist flows.
	Jobs []Job `yaml:"jobs"`
}

// Catchup policy for ticks missed while the scheduler was down.
type Catchup string

// Catch-up policies.
const (
	CatchupLatest Catchup = "latest" // run the last missed cycle once
	CatchupAll    Catchup = "all"    // run every missed cycle, one after another
	CatchupNone   Catchup = "none"   // record them as skipped
)

// SensorMode says when a landing-zone folder is complete.
type SensorMode string

// Sensor modes.
const (
	SensorStable SensorMode = "stable" // every file unchanged for StableFor
	SensorMarker SensorMode = "marker" // the folder holds the Marker file
)

// Sensor is how the ingestion waits for the new dt= folders to be complete.
type Sensor struct {
	Mode      SensorMode `yaml:"mode"`
	StableFor Duration   `yaml:"stable_for"`
	Marker    string     `yaml:"marker"`
	// PokeInterval between looks; Timeout: a folder still incomplete after
	// it fails the attempt (a transient failure: it is retried).
	PokeInterval Duration `yaml:"poke_interval"`
	Timeout      Duration `yaml:"timeout"`
}

// Alerts is where incidents are sent.
type Alerts struct {
	// Webhooks get a POST of the alert as JSON (Slack-compatible text plus
	// structured fields).
	Webhooks []string `yaml:"webhooks"`
	// SecretEnv names the environment variable holding the shared secret of
	// the X-Nexus-Signature-256 header (HMAC-SHA256 of the body); unset: unsigned.
	SecretEnv string `yaml:"secret_env"`
	// Command, when set, is run for every alert with the JSON on stdin.
	Command []string `yaml:"command"`
	// QuarantinedSalesBRL: alert when the Silver quarantines hold more paid
	// sales than this (R$). 0: any.
	QuarantinedSalesBRL float64 `yaml:"quarantined_sales_brl"`
	// QuarantinedRecords: alert when an ingestion quarantines more source
	// records than this (records that could not be typed: a sale among them
	// is lost to Gold). 0: any.
	QuarantinedRecords int64 `yaml:"quarantined_records"`
	// Retries of one delivery.
	Retries int `yaml:"retries"`
}

// Job is one flow of the cycle.
type Job struct {
	Name string `yaml:"name"`
	Task Task   `yaml:"task"`
	// Upstream: the job must have succeeded in the same cycle first
	// (default: the job before it; "-" for none).
	Upstream string `yaml:"upstream"`
	// Retries and Timeout override the schedule's.
	Retries *int     `yaml:"retries"`
	Timeout Duration `yaml:"timeout"`
}

// Names of the default jobs (the four flows of the plan).
const (
	JobIngestion = "olist_daily_ingestion"
	JobTransform = "olist_silver_to_gold"
	JobQuality   = "olist_data_quality"
	JobAnalytics = "olist_analytics_refresh"
)

// Default is the schedule with no configuration: the four flows daily at
// 02:00 UTC.
func Default() Config {
	return Config{
		Cron:            "0 2 * * *",
		Timezone:        "UTC",
		Catchup:         CatchupLatest,
		Retries:         3,
		RetryBackoff:    Duration(30 * time.Second),
		RetryMaxBackoff: Duration(10 * time.Minute),
		StepTimeout:     Duration(2 * time.Hour),
		SLA:             "06:00",
		Sensor: Sensor{Mode: SensorStable, StableFor: Duration(time.Minute), Marker: "_SUCCESS",
			PokeInterval: Duration(10 * time.Second), Timeout: Duration(30 * time.Minute)},
		Alerts: Alerts{SecretEnv: "NEXUS_ALERT_SECRET", Retries: 3},
		Jobs: []Job{
			{Name: JobIngestion, Task: TaskIngest},
			{Name: JobTransform, Task: TaskTransform},
			{Name: JobQuality, Task: TaskCheck},
			{Name: JobAnalytics, Task: TaskReports},
		},
	}
}

// Duration is a time.Duration written as "30s", "10m", "2h" in YAML.
type Duration time.Duration

// UnmarshalText parses a Go duration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: %w (write e.g. 30s, 10m, 2h)", b, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes a Go duration.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D is the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Plan is a validated configuration, ready to run.
type Plan struct {
	Config
	Location *time.Location
	schedule cron.Schedule
	// wall is the cron read on naive wall-clock times (UTC standing for the
	// zone's local time) and zone its zone: to find the ticks a daylight
	// saving gap would skip. nil for @every.
	wall     cron.Schedule
	zone     *time.Location
	slaAt    *clock         // time of day
	slaAfter time.Duration  // or a duration after the tick
	jobs     map[string]int // name → index in Jobs
}

type clock struct{ hour, min int }

// Compile checks the configuration and returns what the scheduler runs. Every
// error names the key at fault.
func (c Config) Compile() (*Plan, error) {
	p := &Plan{Config: c, jobs: map[string]int{}}
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("schedule.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil || c.Timezone == "" {
		bad("timezone", "%q is not an IANA time zone (e.g. UTC, America/Sao_Paulo)", c.Timezone)
		loc = time.UTC
	}
	p.Location = loc
	if p.schedule, err = ParseCron(c.Cron, loc); err != nil {
		bad("cron", "%v", err)
	} else if p.wall, p.zone, err = wallCron(c.Cron, loc); err != nil {
		bad("cron", "%v", err)
	}
	switch c.Catchup {
	case CatchupLatest, CatchupAll, CatchupNone:
	default:
		bad("catchup", "%q: want latest, all or none", c.Catchup)
	}
	if c.Retries < 0 {
		bad("retries", "%d: want 0 or more", c.Retries)
	}
	if c.RetryBackoff < 0 || c.RetryMaxBackoff < c.RetryBackoff {
		bad("retry_backoff", "%s (max %s): want 0 <= retry_backoff <= retry_max_backoff", c.RetryBackoff.D(), c.RetryMaxBackoff.D())
	}
	if c.StepTimeout <= 0 {
		bad("step_timeout", "%s: want a positive duration", c.StepTimeout.D())
	}
	if c.SLA != "" {
		if t, err := time.Parse("15:04", c.SLA); err == nil {
			p.slaAt = &clock{t.Hour(), t.Minute()}
		} else if d, err := time.ParseDuration(c.SLA); err == nil && d > 0 {
			p.slaAfter = d
		} else {
			bad("sla", "%q: want a time of day HH:MM or a duration after the tick (4h)", c.SLA)
		}
	}
	switch c.Sensor.Mode {
	case SensorStable:
		if c.Sensor.StableFor < 0 {
			bad("sensor.stable_for", "%s: want 0 or more", c.Sensor.StableFor.D())
		}
	case SensorMarker:
		if c.Sensor.Marker == "" || strings.ContainsAny(c.Sensor.Marker, `/\`) {
			bad("sensor.marker", "%q: want a file name", c.Sensor.Marker)
		}
	default:
		bad("sensor.mode", "%q: want stable or marker", c.Sensor.Mode)
	}
	if c.Sensor.PokeInterval <= 0 || c.Sensor.Timeout <= 0 {
		bad("sensor", "poke_interval and timeout must be positive")
	}
	if c.Alerts.Retries < 0 {
		bad("alerts.retries", "%d: want 0 or more", c.Alerts.Retries)
	}
	for _, u := range c.Alerts.Webhooks {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			bad("alerts.webhooks", "%q: want an http:// or https:// URL", u)
		}
	}
	if len(c.Jobs) == 0 {
		bad("jobs", "no job")
	}
	for i, j := range c.Jobs {
		key := fmt.Sprintf("jobs[%d]", i)
		switch {
		case j.Name == "" || strings.ContainsAny(j.Name, " \t/"):
			bad(key+".name", "%q: want a name without spaces or slashes", j.Name)
		default:
			if _, dup := p.jobs[j.Name]; dup {
				bad(key+".name", "%q appears twice", j.Name)
			}
		}
		if _, ok := LookupTask(j.Task); !ok {
			bad(key+".task", "%q: want one of %s", j.Task, strings.Join(TaskNames(), ", "))
		}
		if j.Upstream != "" && j.Upstream != "-" {
			if _, ok := p.jobs[j.Upstream]; !ok {
				bad(key+".upstream", "%q is not a job listed before %s", j.Upstream, j.Name)
			}
		}
		if j.Retries != nil && *j.Retries < 0 {
			bad(key+".retries", "%d: want 0 or more", *j.Retries)
		}
		if j.Timeout < 0 {
			bad(key+".timeout", "%s: want a positive duration", j.Timeout.D())
		}
		p.jobs[j.Name] = i
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// ParseCron reads a schedule: 5 fields, a descriptor, or @every D, in loc
// (a CRON_TZ= prefix in expr wins).
func ParseCron(expr string, loc *time.Location) (cron.Schedule, error) {
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return nil, errors.New("empty schedule; want e.g. \"0 2 * * *\" or \"@every 30s\"")
	}
	full := expr
	if !strings.HasPrefix(expr, "@every") && !strings.HasPrefix(expr, "CRON_TZ=") && !strings.HasPrefix(expr, "TZ=") {
		full = "CRON_TZ=" + loc.String() + " " + expr
	}
	s, err := cron.ParseStandard(full)
	if err != nil {
		return nil, fmt.Errorf("%q: %w (want 5 fields: minute hour day-of-month month day-of-week, or @every 30s)", expr, err)
	}
	return s, nil
}

// wallCron is the cron expression as a schedule of wall-clock times, with
// its zone; nil for @every.
func wallCron(expr string, loc *time.Location) (cron.Schedule, *time.Location, error) {
	expr = strings.TrimSpace(expr)
	if strings.HasPrefix(expr, "@every") {
		return nil, nil, nil
	}
	for _, pre := range []string{"CRON_TZ=", "TZ="} {
		if rest, ok := strings.CutPrefix(expr, pre); ok {
			name, spec, _ := strings.Cut(rest, " ")
			l, err := time.LoadLocation(name)
			if err != nil {
				return nil, nil, fmt.Errorf("%q: %w", expr, err)
			}
			loc, expr = l, spec
		}
	}
	s, err := cron.ParseStandard("CRON_TZ=UTC " + strings.TrimSpace(expr))
	if err != nil {
		return nil, nil, fmt.Errorf("%q: %w", expr, err)
	}
	return s, loc, nil
}

// Next is the first tick after t. A tick whose local time does not exist
// (in the hour a daylight saving change skips) fires when the gap ends, as
// Airflow does, instead of being lost for the day.
func (p *Plan) Next(t time.Time) time.Time {
	n := p.schedule.Next(t)
	if p.wall == nil || n.IsZero() {
		return n
	}
	if g, ok := p.gapTick(t, n); ok {
		return g
	}
	if p.repeated(n) {
		return p.Next(n) // the hour a change repeats: the first one fired
	}
	return n
}

// repeated reports whether n's wall-clock time already occurred an offset
// change earlier (the hour that repeats when daylight saving ends).
func (p *Plan) repeated(n time.Time) bool {
	_, now := n.In(p.zone).Zone()
	for _, back := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour} {
		e := n.Add(-back)
		if _, then := e.In(p.zone).Zone(); then-now == int(back.Seconds()) {
			return e.In(p.zone).Format(time.DateTime) == n.In(p.zone).Format(time.DateTime)
		}
	}
	return false
}

// gapTick finds, between t and n, the end of a daylight saving gap whose
// missing wall-clock times hold a tick of the cron.
func (p *Plan) gapTick(t, n time.Time) (time.Time, bool) {
	offset := func(x time.Time) int { _, o := x.In(p.zone).Zone(); return o }
	for h := t.Truncate(time.Hour); h.Before(n); h = h.Add(time.Hour) {
		before, after := offset(h), offset(h.Add(time.Hour))
		if after <= before {
			continue
		}
		// The change is within this hour: find its instant to the minute.
		lo, hi := h, h.Add(time.Hour)
		for hi.Sub(lo) > time.Minute {
			mid := lo.Add(hi.Sub(lo) / 2).Truncate(time.Minute)
			if offset(mid) == before {
				lo = mid
			} else {
				hi = mid
			}
		}
		g := hi // the first instant of the new offset
		if !g.After(t) || !g.Before(n) {
			continue
		}
		lg := g.In(p.zone)
		end := time.Date(lg.Year(), lg.Month(), lg.Day(), lg.Hour(), lg.Minute(), 0, 0, time.UTC)
		for w := end.Add(-time.Duration(after-before) * time.Second); w.Before(end); w = w.Add(time.Minute) {
			if p.wall.Next(w.Add(-time.Second)).Equal(w) {
				return g, true
			}
		}
	}
	return time.Time{}, false
}

// LogicalDate is the day a tick's cycle processes: the day before the tick,
// in the schedule's zone (the 02:00 run of the 15th processes the 14th, whose
// drops are complete), as Airflow's data interval.
func (p *Plan) LogicalDate(tick time.Time) string {
	return tick.In(p.Location).AddDate(0, 0, -1).Format(time.DateOnly)
}

// Deadline is when a cycle ticked at tick must be done (zero: no SLA).
func (p *Plan) Deadline(tick time.Time) time.Time {
	switch {
	case p.slaAfter > 0:
		return tick.Add(p.slaAfter)
	case p.slaAt != nil:
		t := tick.In(p.Location)
		d := time.Date(t.Year(), t.Month(), t.Day(), p.slaAt.hour, p.slaAt.min, 0, 0, p.Location)
		if d.Before(t) {
			d = d.AddDate(0, 0, 1)
		}
		return d
	}
	return time.Time{}
}

// Job returns the job named name.
func (p *Plan) Job(name string) (Job, bool) {
	i, ok := p.jobs[name]
	if !ok {
		return Job{}, false
	}
	return p.Jobs[i], true
}

// JobNames lists the jobs in cycle order.
func (p *Plan) JobNames() []string {
	out := make([]string, len(p.Jobs))
	for i, j := range p.Jobs {
		out[i] = j.Name
	}
	return out
}

// UpstreamOf is the job that must succeed before j in a cycle ("" for none).
func (p *Plan) UpstreamOf(name string) string {
	i, ok := p.jobs[name]
	if !ok {
		return ""
	}
	switch j := p.Jobs[i]; {
	case j.Upstream == "-":
		return ""
	case j.Upstream != "":
		return j.Upstream
	case i > 0:
		return p.Jobs[i-1].Name
	}
	return ""
}

// RetriesOf is the retry count of a job.
func (p *Plan) RetriesOf(j Job) int {
	if j.Retries != nil {
		return *j.Retries
	}
	return p.Retries
}

// TimeoutOf is the attempt timeout of a job.
func (p *Plan) TimeoutOf(j Job) time.Duration {
	if j.Timeout > 0 {
		return j.Timeout.D()
	}
	return p.StepTimeout.D()
}
