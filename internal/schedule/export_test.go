package schedule

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rhysd/actionlint"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

// exportNow: the exports' dates (start date, SLA tick, zone offsets) are
// taken at it, so that the golden files do not move.
var exportNow = time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)

func intp(n int) *int { return &n }

// exportCases: the default schedule and one that changes every key the
// exports read, with jobs that are not a plain chain.
func exportCases() []struct {
	name string
	cfg  Config
	opts ExportOptions
	sla  time.Duration // the SLA as a duration after the tick, 0 for none
	utc  string        // the cron as GitHub runs it
} {
	custom := Default()
	custom.Cron = "30 5 * * 1-5"
	custom.Timezone = "America/Sao_Paulo" // UTC-3 all year since 2019
	custom.Catchup = CatchupAll
	custom.Retries = 1
	custom.RetryBackoff = Duration(10 * time.Second)
	custom.RetryMaxBackoff = Duration(time.Minute)
	custom.StepTimeout = Duration(45 * time.Minute)
	custom.SLA = "3h"
	custom.Alerts.Webhooks = []string{"https://hooks.example.com/nexus", "http://127.0.0.1:9/alert"}
	custom.Alerts.SecretEnv = "OLIST_HMAC"
	custom.Jobs = []Job{
		{Name: "land", Task: TaskIngest},
		{Name: "models", Task: TaskTransform, Retries: intp(5), Timeout: Duration(90 * time.Minute)},
		{Name: "gate", Task: TaskCheck, Upstream: "land"},
		{Name: "refresh-reports", Task: TaskReports, Upstream: "-", Retries: intp(0)},
	}
	return []struct {
		name string
		cfg  Config
		opts ExportOptions
		sla  time.Duration
		utc  string
	}{
		{"default", Default(), ExportOptions{Lake: "lake", Source: "data/landing", Config: "nexus.yaml", Now: exportNow}, 4 * time.Hour, "0 2 * * *"},
		{"custom", custom, ExportOptions{NexusBin: "/opt/nexus/bin/nexus", Lake: "/data/olist lake", Source: "/data/it's landing",
			Now: exportNow}, 3 * time.Hour, "30 8 * * 1-5"},
	}
}

// golden compares got with testdata/export/name (rewritten with -update).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "export", name)
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run %s -update writes it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		i := 0
		for i < len(g) && i < len(w) && g[i] == w[i] {
			i++
		}
		line := func(l []string) string {
			if i < len(l) {
				return l[i]
			}
			return "(end of file)"
		}
		t.Errorf("%s differs from line %d (go test -run '%s' -update to accept):\ngot:  %s\nwant: %s", path, i+1, t.Name(), line(g), line(w))
	}
}

// needTool finds a program the test runs, or skips (fails when
// NEXUS_REQUIRE_TOOLS is set).
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("NEXUS_REQUIRE_TOOLS") != "" {
			t.Fatalf("%s is required (NEXUS_REQUIRE_TOOLS is set)", name)
		}
		t.Skipf("%s not found: cannot check the exported file with it (set NEXUS_REQUIRE_TOOLS=1 to make this a failure)", name)
	}
	return p
}

func render(t *testing.T, target ExportTarget, cfg Config, o ExportOptions) (*Plan, []byte) {
	t.Helper()
	p, err := cfg.Compile()
	if err != nil {
		t.Fatal(err)
	}
	d, ok := LookupExport(target)
	if !ok {
		t.Fatalf("no export %s", target)
	}
	b, err := d.Render(p, o)
	if err != nil {
		t.Fatal(err)
	}
	again, err := d.Render(p, o)
	if err != nil || !bytes.Equal(b, again) {
		t.Fatalf("two renders differ (%v)", err)
	}
	return p, b
}

// The parts of the DAG file that the test reads (testdata/airflow_dags.py).
type pyFile struct {
	Constants map[string]json.RawMessage
	Functions []string
	Imports   []string
	DAGs      []pyDAG `json:"dags"`
}

type pyDAG struct {
	DagID         string          `json:"dag_id"`
	Schedule      json.RawMessage `json:"schedule"`
	StartDate     pyCall          `json:"start_date"`
	Catchup       bool            `json:"catchup"`
	MaxActiveRuns int             `json:"max_active_runs"`
	SLAMiss       pyName          `json:"sla_miss_callback"`
	Tasks         []pyTask
	Edges         [][2]string
}

type pyTask struct {
	TaskID            string    `json:"task_id"`
	Operator          string    `json:"operator"`
	Argv              []string  `json:"argv"`
	Jinja             []string  `json:"jinja"`
	Retries           int       `json:"retries"`
	RetryDelay        pySeconds `json:"retry_delay"`
	RetryExponential  bool      `json:"retry_exponential_backoff"`
	MaxRetryDelay     pySeconds `json:"max_retry_delay"`
	ExecutionTimeout  pySeconds `json:"execution_timeout"`
	SLA               *pySeconds
	OnFailure         pyName `json:"on_failure_callback"`
	ExternalDagID     string `json:"external_dag_id"`
	ExternalTaskID    string `json:"external_task_id"`
	Mode              string `json:"mode"`
	Timeout           int64  `json:"timeout"`
	FailedStates      []string
	AllowedStatesJSON []string `json:"allowed_states"`
}

type pySeconds struct{ Seconds float64 }
type pyName struct{ Name string }
type pyCall struct {
	Call   string
	Args   []json.RawMessage
	Kwargs map[string]json.RawMessage
}

func (s pySeconds) D() time.Duration { return time.Duration(s.Seconds * float64(time.Second)) }

// readDAGs runs the AST reader on a DAG file.
func readDAGs(t *testing.T, python, path string) pyFile {
	t.Helper()
	out, err := exec.Command(python, filepath.Join("testdata", "airflow_dags.py"), path).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("airflow_dags.py %s: %v\n%s", path, err, stderr)
	}
	var f pyFile
	if err := json.Unmarshal(out, &f); err != nil {
		t.Fatalf("airflow_dags.py output: %v\n%s", err, out)
	}
	return f
}

// TestExportAirflow: the DAG file compiles, and its syntax tree has one DAG
// per job of the plan with the plan's schedule, zone, catch-up, retries,
// timeouts, SLA, dependencies and command; the file is the golden one.
func TestExportAirflow(t *testing.T) {
	python := needTool(t, "python3")
	for _, tc := range exportCases() {
		t.Run(tc.name, func(t *testing.T) {
			p, b := render(t, ExportAirflow, tc.cfg, tc.opts)
			golden(t, tc.name+"/olist_resilient_pipeline.py", b)
			dir := t.TempDir()
			path := filepath.Join(dir, "olist_resilient_pipeline.py")
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(python, "-m", "py_compile", path).CombinedOutput(); err != nil {
				t.Fatalf("py_compile: %v\n%s", err, out)
			}
			f := readDAGs(t, python, path)
			checkDAGs(t, p, tc.opts, tc.sla, f)
		})
	}
}

func checkDAGs(t *testing.T, p *Plan, o ExportOptions, sla time.Duration, f pyFile) {
	t.Helper()
	var ids []string
	for _, d := range f.DAGs {
		ids = append(ids, d.DagID)
	}
	if !slices.Equal(ids, p.JobNames()) {
		t.Fatalf("DAG ids %v, want the jobs %v", ids, p.JobNames())
	}
	var tz pyCall
	if err := json.Unmarshal(f.Constants["TZ"], &tz); err != nil || tz.Call != "pendulum.timezone" || len(tz.Args) != 1 || string(tz.Args[0]) != strconv.Quote(p.Location.String()) {
		t.Errorf("TZ = %s, want pendulum.timezone(%q)", f.Constants["TZ"], p.Location)
	}
	for _, want := range []string{"nexus_on_failure", "nexus_sla_miss"} {
		if !slices.Contains(f.Functions, want) {
			t.Errorf("no function %s in %v", want, f.Functions)
		}
	}
	for _, want := range []string{"airflow.DAG", "airflow.operators.bash.BashOperator", "airflow.sensors.external_task.ExternalTaskSensor", "pendulum"} {
		if !slices.Contains(f.Imports, want) {
			t.Errorf("no import %s in %v", want, f.Imports)
		}
	}
	date := "{{ data_interval_end.in_timezone('" + p.Location.String() + "').subtract(days=1).strftime('%Y-%m-%d') }}"
	bin := o.NexusBin
	if bin == "" {
		bin = "nexus"
	}
	for _, d := range f.DAGs {
		j, _ := p.Job(d.DagID)
		if string(d.Schedule) != strconv.Quote(p.Cron) {
			t.Errorf("%s: schedule %s, want %q", d.DagID, d.Schedule, p.Cron)
		}
		if d.Catchup != (p.Catchup == CatchupAll) || d.MaxActiveRuns != 1 {
			t.Errorf("%s: catchup %v max_active_runs %d, want %v and 1", d.DagID, d.Catchup, d.MaxActiveRuns, p.Catchup == CatchupAll)
		}
		if d.StartDate.Call != "pendulum.datetime" || string(d.StartDate.Kwargs["tz"]) != `{"name":"TZ"}` {
			t.Errorf("%s: start_date %+v, want pendulum.datetime(..., tz=TZ)", d.DagID, d.StartDate)
		}
		if d.SLAMiss.Name != "nexus_sla_miss" {
			t.Errorf("%s: sla_miss_callback %q", d.DagID, d.SLAMiss.Name)
		}
		// Sensors: the upstream job succeeded; the job before, when it is
		// not the upstream, is over. Each outlasts the jobs before it.
		type sensor struct {
			dag     string
			allowed []string
		}
		var sensors []sensor
		up, i := p.UpstreamOf(d.DagID), slices.Index(p.JobNames(), d.DagID)
		if up != "" {
			sensors = append(sensors, sensor{up, []string{"success"}})
		}
		if i > 0 && p.JobNames()[i-1] != up {
			sensors = append(sensors, sensor{p.JobNames()[i-1], []string{"success", "failed", "upstream_failed", "skipped"}})
		}
		var before time.Duration
		for _, name := range p.JobNames()[:i] {
			j := mustJob(t, p, name)
			before += time.Duration(p.RetriesOf(j)+1) * p.TimeoutOf(j)
		}
		if len(d.Tasks) != len(sensors)+1 {
			t.Errorf("%s: tasks %+v, want %d sensor(s) and the job", d.DagID, d.Tasks, len(sensors))
			continue
		}
		var wantEdges [][2]string
		for k, s := range sensors {
			got := d.Tasks[k]
			wantEdges = append(wantEdges, [2]string{got.TaskID, d.DagID})
			if got.Operator != "ExternalTaskSensor" || got.ExternalDagID != s.dag || got.ExternalTaskID != s.dag || got.Mode != "reschedule" ||
				!slices.Equal(got.AllowedStatesJSON, s.allowed) || time.Duration(got.Timeout)*time.Second < before {
				t.Errorf("%s: sensor %+v, want one on %s's task in %v, outlasting %s", d.DagID, got, s.dag, s.allowed, before)
			}
		}
		if d.Tasks[len(sensors)].TaskID != d.DagID || !slices.Equal(d.Edges, wantEdges) {
			t.Errorf("%s: task %s, edges %v; want %s and %v", d.DagID, d.Tasks[len(sensors)].TaskID, d.Edges, d.DagID, wantEdges)
		}
		run := d.Tasks[len(d.Tasks)-1]
		wantArgv := []string{bin, "trigger", d.DagID, "--date", "JINJA", "--lake", o.Lake, "--source", o.Source}
		if o.Config != "" {
			wantArgv = append(wantArgv, "--config", o.Config)
		}
		wantArgv = append(wantArgv, "--no-alerts", "--retries", "0")
		if run.Operator != "BashOperator" || !slices.Equal(run.Argv, wantArgv) || !slices.Equal(run.Jinja, []string{date}) {
			t.Errorf("%s: %s %q %q, want BashOperator %q with --date %s", d.DagID, run.Operator, run.Argv, run.Jinja, wantArgv, date)
		}
		if run.Retries != p.RetriesOf(j) || run.RetryDelay.D() != p.RetryBackoff.D() || run.MaxRetryDelay.D() != p.RetryMaxBackoff.D() ||
			run.RetryExponential != (p.RetryMaxBackoff > p.RetryBackoff) || run.ExecutionTimeout.D() != p.TimeoutOf(j) {
			t.Errorf("%s: retries %d delay %s..%s (exponential %v) timeout %s, want %d %s..%s %s", d.DagID,
				run.Retries, run.RetryDelay.D(), run.MaxRetryDelay.D(), run.RetryExponential, run.ExecutionTimeout.D(),
				p.RetriesOf(j), p.RetryBackoff.D(), p.RetryMaxBackoff.D(), p.TimeoutOf(j))
		}
		if run.SLA == nil || run.SLA.D() != sla {
			t.Errorf("%s: sla %v, want %s", d.DagID, run.SLA, sla)
		}
		if run.OnFailure.Name != "nexus_on_failure" {
			t.Errorf("%s: on_failure_callback %q", d.DagID, run.OnFailure.Name)
		}
	}
}

func mustJob(t *testing.T, p *Plan, name string) Job {
	t.Helper()
	j, ok := p.Job(name)
	if !ok {
		t.Fatalf("no job %s", name)
	}
	return j
}

// TestExportAirflowSchedules: an interval schedule becomes a timedelta, a
// descriptor its 5 fields, a CRON_TZ= prefix the zone; no SLA, no sla=.
func TestExportAirflowSchedules(t *testing.T) {
	python := needTool(t, "python3")
	for _, tc := range []struct{ cron, tz, schedule, zone string }{
		{"@every 30s", "UTC", `{"seconds":30}`, "UTC"},
		{"@daily", "UTC", `"0 0 * * *"`, "UTC"},
		{"CRON_TZ=Asia/Tokyo 15 3 * * *", "UTC", `"15 3 * * *"`, "Asia/Tokyo"},
	} {
		t.Run(tc.cron, func(t *testing.T) {
			cfg := Default()
			cfg.Cron, cfg.Timezone, cfg.SLA = tc.cron, tc.tz, ""
			_, b := render(t, ExportAirflow, cfg, ExportOptions{Lake: "l", Source: "s", Now: exportNow})
			path := filepath.Join(t.TempDir(), "dags.py")
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			f := readDAGs(t, python, path)
			for _, d := range f.DAGs {
				if string(d.Schedule) != tc.schedule {
					t.Errorf("%s: schedule %s, want %s", d.DagID, d.Schedule, tc.schedule)
				}
				if sla := d.Tasks[len(d.Tasks)-1].SLA; sla != nil {
					t.Errorf("%s: sla %v with no SLA configured", d.DagID, sla)
				}
			}
			if !bytes.Contains(b, []byte("pendulum.timezone(\""+tc.zone+"\")")) || !bytes.Contains(b, []byte("in_timezone('"+tc.zone+"')")) {
				t.Errorf("zone %s not used", tc.zone)
			}
		})
	}
}

// lintWorkflow runs actionlint (with shellcheck on the scripts when it is
// installed) on a workflow.
func lintWorkflow(t *testing.T, b []byte) []*actionlint.Error {
	t.Helper()
	opts := &actionlint.LinterOptions{LogWriter: io.Discard}
	if sc, err := exec.LookPath("shellcheck"); err == nil {
		opts.Shellcheck = sc
	} else {
		t.Log("shellcheck not found: actionlint checks the workflow without checking its scripts")
	}
	var out bytes.Buffer
	l, err := actionlint.NewLinter(&out, opts)
	if err != nil {
		t.Fatal(err)
	}
	errs, err := l.Lint("nexus-daily.yml", b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) > 0 {
		t.Logf("actionlint:\n%s", out.String())
	}
	return errs
}

// TestExportGitHubActions: the workflow passes actionlint, runs the plan's
// jobs in its order with its upstreams, retries and timeouts, on the cron
// converted to UTC; the file is the golden one.
func TestExportGitHubActions(t *testing.T) {
	for _, tc := range exportCases() {
		t.Run(tc.name, func(t *testing.T) {
			p, b := render(t, ExportGitHubActions, tc.cfg, tc.opts)
			golden(t, tc.name+"/nexus-daily.yml", b)
			if errs := lintWorkflow(t, b); len(errs) > 0 {
				t.Fatalf("actionlint found %d problem(s)", len(errs))
			}
			wf, errs := actionlint.Parse(b)
			if len(errs) > 0 {
				t.Fatal(errs[0])
			}
			checkWorkflow(t, p, tc.utc, wf)
		})
	}
}

func checkWorkflow(t *testing.T, p *Plan, cron string, wf *actionlint.Workflow) {
	t.Helper()
	var crons []string
	dispatch := false
	for _, ev := range wf.On {
		switch e := ev.(type) {
		case *actionlint.ScheduledEvent:
			for _, s := range e.Schedules {
				crons = append(crons, s.Cron.Value)
			}
		case *actionlint.WorkflowDispatchEvent:
			_, dispatch = e.Inputs["date"]
		}
	}
	if !slices.Equal(crons, []string{cron}) || !dispatch {
		t.Errorf("schedule %q, dispatch with a date %v; want [%s] and true", crons, dispatch, cron)
	}
	names := p.JobNames()
	want := append([]string{"prepare", "save-lake", "alert"}, names...)
	var got []string
	for id := range wf.Jobs {
		got = append(got, id)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("jobs %v, want %v", got, want)
	}
	for i, name := range names {
		job := wf.Jobs[name]
		j, _ := p.Job(name)
		var needs []string
		for _, n := range job.Needs {
			needs = append(needs, n.Value)
		}
		// The job before it (the lake's hand-off) and its upstream.
		if i > 0 && !slices.Contains(needs, names[i-1]) {
			t.Errorf("%s needs %v: not the job before it, %s", name, needs, names[i-1])
		}
		up := p.UpstreamOf(name)
		switch {
		case up != "" && !slices.Contains(needs, up):
			t.Errorf("%s needs %v: not its upstream %s", name, needs, up)
		case up != "" && up != names[i-1] && (job.If == nil || !strings.Contains(job.If.Value, "needs."+up+".result == 'success'")):
			t.Errorf("%s: if %v, want its upstream %s's success", name, job.If, up)
		case up == "" && i > 0 && (job.If == nil || !strings.Contains(job.If.Value, "!cancelled()")):
			t.Errorf("%s has no upstream: if %v, want it to run after a failure before it", name, job.If)
		}
		var trigger *actionlint.Step
		for _, s := range job.Steps {
			if s.Name != nil && s.Name.Value == "nexus trigger "+name {
				trigger = s
			}
		}
		if trigger == nil {
			t.Errorf("%s: no step nexus trigger %s", name, name)
			continue
		}
		env := map[string]string{}
		for _, v := range trigger.Env.Vars {
			env[v.Name.Value] = v.Value.Value
		}
		budget := p.retryBudget(j)
		wantEnv := map[string]string{"NEXUS_JOB": name, "RETRIES": strconv.Itoa(p.RetriesOf(j)),
			"BACKOFF": strconv.Itoa(int(p.RetryBackoff.D().Seconds())), "MAX_BACKOFF": strconv.Itoa(int(p.RetryMaxBackoff.D().Seconds())),
			"ATTEMPT_TIMEOUT": strconv.Itoa(int(p.TimeoutOf(j).Seconds()))}
		for k, v := range wantEnv {
			if env[k] != v {
				t.Errorf("%s: %s=%q, want %q", name, k, env[k], v)
			}
		}
		run := trigger.Exec.(*actionlint.ExecRun).Run.Value
		if !strings.Contains(run, `trigger "$NEXUS_JOB" --date "$NEXUS_DATE"`) || !strings.Contains(run, "--retries 0") {
			t.Errorf("%s: the step does not run nexus trigger for the date:\n%s", name, run)
		}
		if stepMin := time.Duration(trigger.TimeoutMinutes.Value) * time.Minute; stepMin < budget || stepMin >= budget+time.Minute {
			t.Errorf("%s: step timeout-minutes %v, want the attempts and their waits, %s", name, trigger.TimeoutMinutes.Value, budget)
		}
		if time.Duration(job.TimeoutMinutes.Value)*time.Minute <= budget {
			t.Errorf("%s: job timeout-minutes %v within the step's", name, job.TimeoutMinutes.Value)
		}
	}
}

// TestActionlintCatchesBrokenWorkflows: the check above can fail; these
// broken workflows are refused.
func TestActionlintCatchesBrokenWorkflows(t *testing.T) {
	_, good := render(t, ExportGitHubActions, Default(), ExportOptions{Lake: "lake", Source: "src", Now: exportNow})
	for _, tc := range []struct {
		name, old, new string
		shellcheck     bool // found by shellcheck, through actionlint
	}{
		{"needs an unknown job", "      - olist_daily_ingestion\n", "      - olist_daily_ingest\n", false},
		{"bad cron", "cron: '0 2 * * *'", "cron: '0 25 * * *'", false},
		{"unknown context", "${{ needs.prepare.outputs.date }}", "${{ need.prepare.outputs.date }}", false},
		{"broken YAML", "    runs-on: ubuntu-latest\n", "    runs-on: [ubuntu-latest\n", false},
		{"unquoted variable in a script", `sleep "$wait_s"`, `sleep $wait_s`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.shellcheck {
				needTool(t, "shellcheck")
			}
			broken := bytes.Replace(good, []byte(tc.old), []byte(tc.new), 1)
			if bytes.Equal(broken, good) {
				t.Fatalf("%q not in the workflow", tc.old)
			}
			if errs := lintWorkflow(t, broken); len(errs) == 0 {
				t.Error("actionlint found nothing")
			}
		})
	}
}

// TestUTCCron: a cron of a fixed-offset zone moves to UTC, with the day when
// it crosses midnight; what cannot be moved is refused.
func TestUTCCron(t *testing.T) {
	for _, tc := range []struct{ cron, zone, want, err string }{
		{"0 2 * * *", "UTC", "0 2 * * *", ""},
		{"0 2 * * *", "Etc/UTC", "0 2 * * *", ""},
		{"0 2 * * *", "America/Sao_Paulo", "0 5 * * *", ""},
		{"0 22 * * 1-5", "America/Sao_Paulo", "0 1 * * 2-6", ""}, // written as 2,3,4,5,6
		{"0 1 * * 0", "Asia/Tokyo", "0 16 * * 6", ""},
		{"0 2,14 * * *", "Asia/Tokyo", "0 5,17 * * *", ""},
		{"30 2 * * *", "Asia/Kolkata", "0 21 * * *", ""},
		{"45 1 * * *", "Asia/Kathmandu", "0 20 * * *", ""},
		{"*/15 * * * *", "Asia/Tokyo", "*/15 * * * *", ""},
		{"0 2 * * *", "Europe/Paris", "", "changes its UTC offset"},
		{"0 1 15 * *", "Asia/Tokyo", "", "day of month"},
		{"0 1,12 * * 1", "Asia/Tokyo", "", "another day"},
		{"0 */2 * * *", "Asia/Tokyo", "", "the hour"},
		{"*/5 2 * * *", "Asia/Kolkata", "", "the minute"},
	} {
		loc, err := time.LoadLocation(tc.zone)
		if err != nil {
			t.Fatal(err)
		}
		got, err := utcCron(tc.cron, loc, exportNow)
		if tc.want == "0 1 * * 2-6" {
			tc.want = "0 1 * * 2,3,4,5,6"
		}
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%s in %s: %q, %v; want %q", tc.cron, tc.zone, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s in %s: %q, %v; want an error about %q", tc.cron, tc.zone, got, err, tc.err)
		}
	}
}

// TestExportRefuses: what a tool cannot take is a clear error, not a wrong
// file.
func TestExportRefuses(t *testing.T) {
	o := ExportOptions{Lake: "lake", Source: "src", Now: exportNow}
	for _, tc := range []struct {
		target ExportTarget
		edit   func(*Config, *ExportOptions)
		want   string
	}{
		{ExportGitHubActions, func(c *Config, _ *ExportOptions) { c.Timezone = "Europe/Paris" }, "changes its UTC offset"},
		{ExportGitHubActions, func(c *Config, _ *ExportOptions) { c.Cron = "@every 30s" }, "not @every"},
		{ExportGitHubActions, func(c *Config, _ *ExportOptions) { c.Jobs[1].Name = "silver.gold" }, `"silver.gold"`},
		{ExportAirflow, func(_ *Config, o *ExportOptions) { o.Lake = "/data/{{ lake }}" }, "template"},
		{ExportGitHubActions, func(_ *Config, o *ExportOptions) { o.Source = "${{ secrets.X }}" }, "template"},
		{ExportAirflow, func(_ *Config, o *ExportOptions) { o.Source = "" }, "required"},
	} {
		cfg, opts := Default(), o
		cfg.Jobs = slices.Clone(cfg.Jobs)
		tc.edit(&cfg, &opts)
		p, err := cfg.Compile()
		if err != nil {
			t.Fatal(err)
		}
		d, _ := LookupExport(tc.target)
		if _, err := d.Render(p, opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error about %q", tc.target, err, tc.want)
		}
	}
}

// TestAirflowCallbacks: the DAG file, imported against stand-ins of
// airflow and pendulum, posts the alerts of nexus's own scheduler (same
// JSON, same HMAC signature) to a local receiver, for the logical date nexus
// would process: the day before the tick in the schedule's zone (here Tokyo,
// where Airflow's ds would be a day earlier still).
func TestAirflowCallbacks(t *testing.T) {
	python := needTool(t, "python3")
	type received struct {
		header http.Header
		body   []byte
	}
	got := make(chan received, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		got <- received{r.Header.Clone(), b}
	}))
	defer srv.Close()
	cfg := Default()
	cfg.Timezone = "Asia/Tokyo"
	cfg.Alerts.Webhooks = []string{srv.URL + "/hook"}
	_, b := render(t, ExportAirflow, cfg, ExportOptions{Lake: "/srv/lake", Source: "/srv/landing", Now: exportNow})
	path := filepath.Join(t.TempDir(), "dags.py")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	const secret = "s3cret"
	// 02:00 in Tokyo on 10 March is 17:00 UTC on the 9th.
	cmd := exec.Command(python, filepath.Join("testdata", "airflow_callbacks.py"), path, JobTransform, "2025-03-09T17:00")
	cmd.Env = append(os.Environ(), "PYTHONPATH="+filepath.Join("testdata", "airflow_stub"), cfg.Alerts.SecretEnv+"="+secret, "PYTHONDONTWRITEBYTECODE=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	close(got)
	var events []AlertEvent
	for r := range got {
		if sig := r.header.Get(SignatureHeader); sig != Sign([]byte(secret), r.body) {
			t.Errorf("%s %q, want the body's HMAC", SignatureHeader, sig)
		}
		var a Alert
		if err := json.Unmarshal(r.body, &a); err != nil {
			t.Fatalf("%v: %s", err, r.body)
		}
		if r.header.Get("X-Nexus-Event") != string(a.Event) || a.Job != JobTransform || a.Lake != "/srv/lake" || a.Host == "" || a.Time.IsZero() || a.Severity != "error" {
			t.Errorf("alert %+v (event header %q)", a, r.header.Get("X-Nexus-Event"))
		}
		switch a.Event {
		case EventRunFailed:
			if a.LogicalDate != "2025-03-09" || a.Incident != "job:"+JobTransform || a.Error != "exit status 1" || !strings.Contains(a.Text, JobTransform+" failed for 2025-03-09") {
				t.Errorf("failure alert %+v", a)
			}
		case EventSLAMissed:
			if a.Incident != "sla" || !strings.Contains(a.Text, "missed its SLA") {
				t.Errorf("SLA alert %+v", a)
			}
		}
		events = append(events, a.Event)
	}
	if !slices.Equal(events, []AlertEvent{EventRunFailed, EventSLAMissed}) {
		t.Errorf("alerts %v, want a failure and an SLA miss", events)
	}
}

// TestGitHubActionsRetryLoop runs the workflow's trigger step in bash with a
// stand-in nexus that fails a number of times: the step makes the plan's
// attempts, passes nexus the job, date, lake, source and config, and fails
// when all attempts failed.
func TestGitHubActionsRetryLoop(t *testing.T) {
	bash := needTool(t, "bash")
	needTool(t, "timeout")
	cfg := Default()
	cfg.Retries = 2
	p, b := render(t, ExportGitHubActions, cfg, ExportOptions{Lake: "my lake", Source: "drops", Config: "nexus.yaml", Now: exportNow})
	wf, errs := actionlint.Parse(b)
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	var script string
	for _, s := range wf.Jobs[JobQuality].Steps {
		if s.Name != nil && s.Name.Value == "nexus trigger "+JobQuality {
			script = s.Exec.(*actionlint.ExecRun).Run.Value
		}
	}
	if script == "" {
		t.Fatal("no trigger step")
	}
	for _, tc := range []struct {
		failures, calls int
		ok              bool
	}{
		{0, 1, true},
		{2, 3, true},   // the last retry succeeds
		{3, 3, false},  // 1 attempt + 2 retries, all failed
		{-1, 1, false}, // a permanent failure: not retried
	} {
		dir := t.TempDir()
		calls := filepath.Join(dir, "calls")
		fake := filepath.Join(dir, "nexus")
		// Appends its arguments, one per line, then a blank line; fails
		// while it has been called no more than FAILURES times.
		if err := os.WriteFile(fake, []byte(`#!/bin/sh
printf '%s\n' "$@" >> "$CALLS"; echo >> "$CALLS"
n=$(grep -c '^$' "$CALLS")
[ "$FAILURES" -ge 0 ] || exit 3
[ "$n" -gt "$FAILURES" ]
`), 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bash, "-e", "-c", script)
		cmd.Env = append(os.Environ(), "CALLS="+calls, "FAILURES="+strconv.Itoa(tc.failures), "NEXUS_BIN="+fake, "NEXUS_JOB="+JobQuality,
			"NEXUS_DATE=2025-03-09", "NEXUS_LAKE=my lake", "NEXUS_SOURCE=drops", "NEXUS_CONFIG=nexus.yaml",
			"RETRIES="+strconv.Itoa(p.Retries), "BACKOFF=0", "MAX_BACKOFF=0", "ATTEMPT_TIMEOUT=60")
		out, err := cmd.CombinedOutput()
		if (err == nil) != tc.ok {
			t.Errorf("%d failure(s): %v, want ok=%v\n%s", tc.failures, err, tc.ok, out)
		}
		b, err := os.ReadFile(calls)
		if err != nil {
			t.Fatal(err)
		}
		attempts := strings.Split(strings.TrimSuffix(string(b), "\n\n"), "\n\n")
		want := strings.Join(triggerArgs(JobQuality, "2025-03-09", ExportOptions{Lake: "my lake", Source: "drops", Config: "nexus.yaml"}), "\n")
		if len(attempts) != tc.calls || attempts[0] != want {
			t.Errorf("%d failure(s): %d call(s) %q, want %d with\n%s", tc.failures, len(attempts), attempts, tc.calls, want)
		}
	}
}
