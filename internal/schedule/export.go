package schedule

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/keystone/nexus/internal/lake"
)

// ExportTarget is a tool the schedule can be exported to; each has one entry
// in exportDefs.
type ExportTarget string

// Export targets.
const (
	ExportAirflow       ExportTarget = "airflow"
	ExportGitHubActions ExportTarget = "github-actions"
)

// ExportDef is the one home of an export: the file it writes and how.
type ExportDef struct {
	Target ExportTarget
	// File is the name of the file written in the output directory.
	File string
	Doc  string
	// AbsolutePaths: the tool runs a task somewhere else than where the
	// export was made (Airflow: in a temporary directory), so the caller
	// makes the lake, source and config paths absolute; a CI runner works
	// in the repository's checkout, where relative paths are the right ones.
	AbsolutePaths bool
	render        func(p *Plan, o ExportOptions) ([]byte, error)
}

func exportDefs() []ExportDef {
	return []ExportDef{
		{ExportAirflow, "olist_resilient_pipeline.py",
			"Airflow 2 DAGs, one per job: same schedule, retries, timeouts, SLA; a BashOperator runs nexus trigger; ExternalTaskSensor chains the jobs",
			true, renderAirflow},
		{ExportGitHubActions, "nexus-daily.yml",
			"a GitHub Actions workflow: the cycle on a UTC cron (and by hand for a date), one job per job chained with needs, retries in bash",
			false, renderGitHubActions},
	}
}

// ExportDefs lists the export targets.
func ExportDefs() []ExportDef { return exportDefs() }

// LookupExport returns an export target's definition.
func LookupExport(t ExportTarget) (ExportDef, bool) {
	for _, d := range exportDefs() {
		if d.Target == t {
			return d, true
		}
	}
	return ExportDef{}, false
}

// ExportOptions is how the exported tasks call nexus: `NexusBin trigger JOB
// --date D --retries 0 --lake Lake --source Source [--config Config]`.
type ExportOptions struct {
	// NexusBin is the nexus the tasks run. Empty: the target's default
	// (Airflow: nexus on the PATH; GitHub Actions: built from the checkout).
	NexusBin string
	Lake     string
	Source   string
	// Config is the nexus.yaml the tasks read (the one the export was made
	// from, so both see the same plan); empty: none.
	Config string
	// Now dates the DAGs' start and picks the tick the SLA is measured
	// from; zero: the current time.
	Now time.Time
}

// Render writes the export of p.
func (d ExportDef) Render(p *Plan, o ExportOptions) ([]byte, error) {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	for _, v := range []struct{ flag, val string }{{"--nexus-bin", o.NexusBin}, {"--lake", o.Lake}, {"--source", o.Source}, {"--config", o.Config}} {
		// Both tools expand templates in the commands they run: such a
		// path would be rewritten before nexus sees it.
		if strings.Contains(v.val, "{{") || strings.Contains(v.val, "{%") {
			return nil, fmt.Errorf("export %s: %s %q: a path with {{ or {%% would be taken for a template by %s", d.Target, v.flag, v.val, d.Target)
		}
	}
	if o.Lake == "" || o.Source == "" {
		return nil, fmt.Errorf("export %s: the lake and the source directory are required", d.Target)
	}
	b, err := d.render(p, o)
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", d.Target, err)
	}
	return b, nil
}

// Write renders the export of p into dir (created when missing) and returns
// the file's path. The file is replaced whole: a tool scanning the directory
// (Airflow's scheduler reads its dags folder all the time) never sees half of
// it.
func (d ExportDef) Write(p *Plan, o ExportOptions, dir string) (string, error) {
	b, err := d.Render(p, o)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, d.File)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("export %s: %w", d.Target, err)
	}
	f, err := os.CreateTemp(dir, "."+d.File+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("export %s: %w", d.Target, err)
	}
	done := false
	defer func() {
		if !done {
			_ = os.Remove(f.Name()) // best effort: the error that matters is returned
		}
	}()
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return "", fmt.Errorf("export %s: write %s: %w", d.Target, path, err)
	}
	done = true
	return path, nil
}

//go:embed templates/*.tmpl
var exportTemplates embed.FS

var exportFuncs = template.FuncMap{"py": pyString, "yaml": yamlString}

// The workflow's own expressions are ${{ ... }}: its template takes [[ ]].
var (
	airflowTemplate = template.Must(template.New("airflow.py.tmpl").Funcs(exportFuncs).
			ParseFS(exportTemplates, "templates/airflow.py.tmpl"))
	ghaTemplate = template.Must(template.New("github-actions.yml.tmpl").Delims("[[", "]]").Funcs(exportFuncs).
			ParseFS(exportTemplates, "templates/github-actions.yml.tmpl"))
)

func execTemplate(t *template.Template, data any) ([]byte, error) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// cronSpec is the plan's schedule in the form the tools take: 5 fields
// (descriptors expanded) or an interval.
type cronSpec struct {
	Fields string
	Every  time.Duration
	Loc    *time.Location
}

// Descriptors as robfig/cron reads them.
var cronDescriptors = map[string]string{
	"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
	"@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}

func (p *Plan) cronSpec() (cronSpec, error) {
	expr, loc := strings.TrimSpace(p.Cron), p.Location
	for _, prefix := range []string{"CRON_TZ=", "TZ="} {
		if rest, ok := strings.CutPrefix(expr, prefix); ok {
			zone, tail, _ := strings.Cut(rest, " ")
			l, err := time.LoadLocation(zone)
			if err != nil {
				return cronSpec{}, fmt.Errorf("schedule.cron %q: time zone %q: %w", p.Cron, zone, err)
			}
			expr, loc = strings.TrimSpace(tail), l
		}
	}
	if rest, ok := strings.CutPrefix(expr, "@every"); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil || d <= 0 {
			return cronSpec{}, fmt.Errorf("schedule.cron %q: want @every and a positive duration", p.Cron)
		}
		return cronSpec{Every: d, Loc: loc}, nil
	}
	if f, ok := cronDescriptors[expr]; ok {
		expr = f
	}
	fields := strings.Fields(expr)
	if len(fields) != 5 {
		return cronSpec{}, fmt.Errorf("schedule.cron %q: want 5 fields (minute hour day-of-month month day-of-week)", p.Cron)
	}
	return cronSpec{Fields: strings.Join(fields, " "), Loc: loc}, nil
}

// slaAfterTick is how long after its tick a cycle must be done (0: no SLA),
// taken at the first tick after now (a time-of-day SLA is the same every day
// but across a change of daylight saving time).
func (p *Plan) slaAfterTick(now time.Time) time.Duration {
	tick := p.Next(now)
	d := p.Deadline(tick)
	if d.IsZero() {
		return 0
	}
	return d.Sub(tick)
}

// retryBudget bounds a job's attempts and the waits between them: what the
// tool must allow before it calls the job hung.
func (p *Plan) retryBudget(j Job) time.Duration {
	n := p.RetriesOf(j)
	total := time.Duration(n+1) * p.TimeoutOf(j)
	for i, wait := 0, p.RetryBackoff.D(); i < n; i++ {
		total += wait
		wait = min(2*wait, p.RetryMaxBackoff.D())
	}
	return total
}

// triggerDateArg is where triggerArgs puts the date.
const triggerDateArg = 3

// triggerArgs is the command line of a job's task after the binary.
func triggerArgs(job, date string, o ExportOptions) []string {
	args := []string{"trigger", job, "--date", date, "--lake", o.Lake, "--source", o.Source}
	if o.Config != "" {
		args = append(args, "--config", o.Config)
	}
	// The tool retries and alerts (its failure callback, its alert job):
	// nexus makes one attempt and sends nothing, so an incident is not
	// alerted twice, nor on a failure the tool is about to retry. Last, so
	// that the command never ends in ".sh", which Airflow would take for a
	// script file.
	return append(args, "--no-alerts", "--retries", "0")
}

// pyString is s as a Python string literal (JSON's escapes are Python's).
func pyString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// yamlString is s as a single-quoted YAML scalar.
func yamlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Airflow.

type airflowData struct {
	Cron, Every     string // one of them: a cron string, or a timedelta's seconds
	CronLine        string // as nexus.yaml says it
	Zone            string
	Start           [3]int
	Catchup         bool
	CatchupNote     string
	LogicalDate     string
	Lake            string
	Webhooks        []string
	SecretEnv       string
	Command         []string
	AlertRetries    int
	SensorPoke      int
	DAGs            []airflowDAG
	SLASeconds      int64
	SignatureHeader string
}

type airflowDAG struct {
	Name, Task, Doc                        string
	Var                                    string // a Python name for the DAG
	Sensors                                []airflowSensor
	Retries                                int
	RetryDelay, MaxRetryDelay, ExecTimeout int64
	BashCommand                            string
	RetryExponential                       bool
}

// airflowSensor waits for another DAG's task of the same logical date.
type airflowSensor struct {
	Var, TaskID, DAG string
	Allowed, Failed  []string
	Timeout          int64
}

// Task states an ExternalTaskSensor waits for: the upstream job must
// succeed; the job before it (when it is not the upstream) must be over,
// whatever its outcome, as nexus's scheduler runs a cycle's jobs one at a
// time.
var (
	airflowSucceeded = []string{"success"}
	airflowFailed    = []string{"failed", "upstream_failed"}
	airflowFinished  = []string{"success", "failed", "upstream_failed", "skipped"}
)

// airflowSensorPoke: how often a downstream DAG looks at its upstream's task
// (in reschedule mode: it holds no worker slot between looks).
const airflowSensorPoke = 60 * time.Second

func renderAirflow(p *Plan, o ExportOptions) ([]byte, error) {
	spec, err := p.cronSpec()
	if err != nil {
		return nil, err
	}
	bin := o.NexusBin
	if bin == "" {
		bin = "nexus"
	}
	zone := spec.Loc.String()
	start := o.Now.In(spec.Loc).AddDate(0, 0, -1)
	d := airflowData{
		Cron: spec.Fields, CronLine: p.Cron, Zone: zone, Start: [3]int{start.Year(), int(start.Month()), start.Day()},
		// Airflow without catch-up still runs the latest missed interval:
		// that is "latest"; "none" cannot be had exactly.
		Catchup: p.Catchup == CatchupAll,
		// The day before the tick in the schedule's zone, as
		// Plan.LogicalDate; Airflow's ds is the UTC date of the interval's
		// start, another day east of UTC or for schedules below a day.
		LogicalDate: "{{ data_interval_end.in_timezone(" + pyQuoteSingle(zone) + ").subtract(days=1).strftime('%Y-%m-%d') }}",
		Lake:        o.Lake, Webhooks: p.Alerts.Webhooks, SecretEnv: p.Alerts.SecretEnv, Command: p.Alerts.Command,
		AlertRetries: p.Alerts.Retries, SensorPoke: int(airflowSensorPoke.Seconds()),
		SLASeconds: int64(p.slaAfterTick(o.Now).Seconds()), SignatureHeader: SignatureHeader,
	}
	if p.Catchup == CatchupNone {
		d.CatchupNote = "catchup: none in nexus.yaml; Airflow without catch-up still runs the latest missed interval"
	}
	if spec.Every > 0 {
		d.Every = strconv.FormatInt(int64(spec.Every.Seconds()), 10)
		if spec.Every%time.Second != 0 {
			return nil, fmt.Errorf("schedule.cron %q: want whole seconds", p.Cron)
		}
	}
	vars := map[string]bool{}
	names := p.JobNames()
	var before time.Duration // the jobs before this one may take as long as this, all attempts counted
	for i, name := range names {
		j, _ := p.Job(name)
		def, _ := LookupTask(j.Task)
		v := pyNotIdent.ReplaceAllString(name, "_")
		for base, n := v, 2; vars[v]; n++ {
			v = fmt.Sprintf("%s_%d", base, n)
		}
		vars[v] = true
		args := triggerArgs(name, "", o)
		q := []string{lake.ShellArg(bin)}
		for k, a := range args {
			if k == triggerDateArg {
				q = append(q, d.LogicalDate)
			} else {
				q = append(q, lake.ShellArg(a))
			}
		}
		dag := airflowDAG{Name: name, Var: v, Task: string(j.Task), Doc: def.Doc,
			Retries: p.RetriesOf(j), RetryDelay: int64(p.RetryBackoff.D().Seconds()), MaxRetryDelay: int64(p.RetryMaxBackoff.D().Seconds()),
			ExecTimeout: int64(p.TimeoutOf(j).Seconds()), BashCommand: strings.Join(q, " "), RetryExponential: p.RetryMaxBackoff > p.RetryBackoff}
		up := p.UpstreamOf(name)
		if up != "" {
			dag.Sensors = append(dag.Sensors, airflowSensor{TaskID: "wait_for_" + up, DAG: up, Allowed: airflowSucceeded, Failed: airflowFailed})
		}
		if i > 0 && names[i-1] != up {
			dag.Sensors = append(dag.Sensors, airflowSensor{TaskID: "wait_for_" + names[i-1] + "_to_finish", DAG: names[i-1], Allowed: airflowFinished})
		}
		for k := range dag.Sensors {
			dag.Sensors[k].Var = fmt.Sprintf("wait_%s_%d", v, k+1)
			dag.Sensors[k].Timeout = int64(before.Seconds())
		}
		before += p.retryBudget(j)
		d.DAGs = append(d.DAGs, dag)
	}
	return execTemplate(airflowTemplate, d)
}

var pyNotIdent = regexp.MustCompile(`[^A-Za-z0-9_]`)

// pyQuoteSingle quotes a time zone name for a Jinja expression inside a
// Python string: zone names are plain, so single quotes suffice.
func pyQuoteSingle(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }

// GitHub Actions.

type ghaData struct {
	Cron, CronNote       string
	Zone                 string
	Lake, Source, Config string
	NexusBin             string
	Trigger              string // the arguments of nexus in a step's script
	ExitPermanent        int    // nexus trigger's exit status for a failure not worth a retry
	Jobs                 []ghaJob
	JobIDs               []string
	Webhooks             string
	SecretName           string
	AlertRetries         int
	Signature            string
}

type ghaJob struct {
	ID, Name, Task, Doc string
	Needs               []string
	If                  string
	First               bool
	Retries             int
	Backoff, MaxBackoff int64
	AttemptSeconds      int64
	StepMinutes         int64
	JobMinutes          int64
}

// ghaJobID: what GitHub accepts as a job id.
var ghaJobID = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// ghaSecretName: what GitHub accepts as a secret's name.
var ghaSecretName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ghaSetupMinutes: a job's time beside its attempts (checkout, Go, the
// lake's download and upload).
const ghaSetupMinutes = 15

func renderGitHubActions(p *Plan, o ExportOptions) ([]byte, error) {
	spec, err := p.cronSpec()
	if err != nil {
		return nil, err
	}
	if spec.Every > 0 {
		return nil, fmt.Errorf("schedule.cron %q: GitHub Actions takes a 5-field cron (every 5 minutes at most), not @every", p.Cron)
	}
	utc, err := utcCron(spec.Fields, spec.Loc, o.Now)
	if err != nil {
		return nil, fmt.Errorf("schedule.cron %q in %s: %w", spec.Fields, spec.Loc, err)
	}
	// The step's script passes everything through the environment.
	shellVars := ExportOptions{Lake: `"$NEXUS_LAKE"`, Source: `"$NEXUS_SOURCE"`}
	if o.Config != "" {
		shellVars.Config = `"$NEXUS_CONFIG"`
	}
	d := ghaData{Cron: utc, ExitPermanent: ExitPermanent, Trigger: strings.Join(triggerArgs(`"$NEXUS_JOB"`, `"$NEXUS_DATE"`, shellVars), " "), Zone: spec.Loc.String(), Lake: o.Lake, Source: o.Source, Config: o.Config, NexusBin: o.NexusBin,
		Webhooks: strings.Join(p.Alerts.Webhooks, " "), AlertRetries: p.Alerts.Retries, Signature: SignatureHeader}
	d.CronNote = spec.Fields + " " + d.Zone
	if ghaSecretName.MatchString(p.Alerts.SecretEnv) {
		d.SecretName = p.Alerts.SecretEnv
	}
	names := p.JobNames()
	for i, name := range names {
		if !ghaJobID.MatchString(name) || name == "prepare" || name == "save-lake" || name == "alert" {
			return nil, fmt.Errorf("schedule.jobs[%d].name %q: GitHub Actions wants a job id of letters, digits, _ and - (and not prepare, save-lake or alert)", i, name)
		}
		j, _ := p.Job(name)
		def, _ := LookupTask(j.Task)
		job := ghaJob{ID: name, Name: name, Task: string(j.Task), Doc: def.Doc, Needs: []string{"prepare"}, First: i == 0,
			Retries: p.RetriesOf(j), Backoff: int64(p.RetryBackoff.D().Seconds()), MaxBackoff: int64(p.RetryMaxBackoff.D().Seconds()),
			AttemptSeconds: int64(p.TimeoutOf(j).Seconds())}
		job.StepMinutes = int64((p.retryBudget(j) + time.Minute - 1) / time.Minute)
		job.JobMinutes = job.StepMinutes + ghaSetupMinutes
		// The lake goes from job to job: each waits for the one before it,
		// and runs when its own upstream succeeded (that may be another
		// job, or none).
		if i > 0 {
			job.Needs = append(job.Needs, names[i-1])
		}
		switch up := p.UpstreamOf(name); {
		case i == 0:
		case up == "":
			job.If = "${{ !cancelled() && needs.prepare.result == 'success' }}"
		case up != names[i-1]:
			job.Needs = append(job.Needs, up)
			job.If = fmt.Sprintf("${{ !cancelled() && needs.prepare.result == 'success' && needs.%s.result == 'success' }}", up)
		}
		d.Jobs = append(d.Jobs, job)
		d.JobIDs = append(d.JobIDs, name)
	}
	return execTemplate(ghaTemplate, d)
}

// utcCron rewrites a 5-field cron of zone loc in UTC, as GitHub runs it. It
// takes a zone whose offset no longer changes (no daylight saving time from
// now on) and fields it can shift: the minute and hour as numbers or lists
// (or *), and, when the shift moves the day, day-of-month and month as *.
func utcCron(fields string, loc *time.Location, now time.Time) (string, error) {
	t := now.In(loc)
	_, off := t.Zone()
	// The zone's periods over the next two years (the tz database may end
	// one without changing the offset, or in 2038).
	for from := t; ; {
		_, end := from.ZoneBounds()
		if end.IsZero() || end.After(t.AddDate(2, 0, 0)) {
			break
		}
		if _, o := end.Zone(); o != off {
			return "", fmt.Errorf("GitHub Actions runs cron in UTC and %s changes its UTC offset (next on %s): set schedule.timezone to UTC (or a zone without daylight saving time) with the cron written for it",
				loc, end.Format(time.DateOnly))
		}
		from = end
	}
	if off == 0 {
		return fields, nil
	}
	f := strings.Fields(fields)
	minute, hour, dom, month, dow := f[0], f[1], f[2], f[3], f[4]
	offMin := off / 60
	cantShift := func(field, val string) error {
		return fmt.Errorf("GitHub Actions runs cron in UTC: cannot shift %s %q by the zone's offset %s; set schedule.timezone: UTC and write the cron in UTC",
			field, val, t.Format("-07:00"))
	}
	// The minute: a whole-hour offset leaves it as it is.
	carry := 0
	if offMin%60 != 0 {
		m, err := strconv.Atoi(minute)
		if err != nil || m < 0 || m > 59 {
			return "", cantShift("the minute", minute)
		}
		m -= offMin % 60
		carry = floorDiv(m, 60)
		minute = strconv.Itoa(m - 60*carry)
	}
	if hour == "*" {
		return strings.Join([]string{minute, hour, dom, month, dow}, " "), nil
	}
	hours, err := cronNumbers(hour, 0, 23)
	if err != nil {
		return "", cantShift("the hour", hour)
	}
	days := map[int]bool{}
	var out []int
	for _, h := range hours {
		h += carry - offMin/60
		day := floorDiv(h, 24)
		days[day] = true
		out = append(out, h-24*day)
	}
	slices.Sort(out)
	hour = joinInts(out)
	if len(days) == 1 && days[0] || dom == "*" && month == "*" && dow == "*" {
		return strings.Join([]string{minute, hour, dom, month, dow}, " "), nil
	}
	if len(days) > 1 {
		return "", cantShift("the hours", f[1]+" (some move to another day)")
	}
	if dom != "*" || month != "*" {
		return "", cantShift("the day of month and month", dom+" "+month+" (the time moves to another day)")
	}
	var shift int
	for k := range days {
		shift = k
	}
	wd, err := cronNumbers(dow, 0, 7)
	if err != nil {
		return "", cantShift("the day of week", dow)
	}
	seen := map[int]bool{}
	var dows []int
	for _, w := range wd {
		w = ((w+shift)%7 + 7) % 7
		if !seen[w] {
			seen[w] = true
			dows = append(dows, w)
		}
	}
	slices.Sort(dows)
	return strings.Join([]string{minute, hour, dom, month, joinInts(dows)}, " "), nil
}

// cronNumbers reads a cron field of numbers, lists and ranges (no steps,
// names or *).
func cronNumbers(field string, lo, hi int) ([]int, error) {
	var out []int
	for part := range strings.SplitSeq(field, ",") {
		a, b, isRange := strings.Cut(part, "-")
		x, err := strconv.Atoi(a)
		if err != nil {
			return nil, err
		}
		y := x
		if isRange {
			if y, err = strconv.Atoi(b); err != nil {
				return nil, err
			}
		}
		if x < lo || y > hi || x > y {
			return nil, errors.New("out of range")
		}
		for v := x; v <= y; v++ {
			out = append(out, v)
		}
	}
	return out, nil
}

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}
