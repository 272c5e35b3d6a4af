package schedule

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/laketest"
	"github.com/keystone/nexus/internal/olist"
	"github.com/keystone/nexus/internal/schedule/runstore"
)

// landing generates a landing zone once per test binary (scale 0.01) and
// returns its folder and its dt= folders in order.
var landingOnce struct {
	sync.Once
	dir   string
	drops []string
	err   error
}

func landing(t *testing.T) (string, []string) {
	t.Helper()
	landingOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nexus-schedule-landing-")
		if err != nil {
			landingOnce.err = err
			return
		}
		landingOnce.dir = dir
		if _, err := olist.GenerateDaily(context.Background(), dir, olist.GenOptions{Scale: 0.01, Seed: 7, DailyFrom: "2018-08-20"}); err != nil {
			landingOnce.err = err
			return
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			landingOnce.err = err
			return
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), olist.DropDirPrefix) {
				landingOnce.drops = append(landingOnce.drops, e.Name())
			}
		}
		sort.Strings(landingOnce.drops)
	})
	if landingOnce.err != nil {
		t.Fatal(landingOnce.err)
	}
	return landingOnce.dir, landingOnce.drops
}

func TestMain(m *testing.M) {
	code := m.Run()
	if landingOnce.dir != "" {
		os.RemoveAll(landingOnce.dir)
	}
	os.Exit(code)
}

// linkDrops makes a landing zone of the first n folders of the generated one.
func linkDrops(t *testing.T, dst string, n int) {
	t.Helper()
	src, drops := landing(t)
	for _, d := range drops[:n] {
		if _, err := os.Lstat(filepath.Join(dst, d)); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join(src, d), filepath.Join(dst, d)); err != nil {
			t.Fatal(err)
		}
	}
}

// alertLog is a webhook receiver that checks each alert's signature.
type alertLog struct {
	mu     sync.Mutex
	alerts []Alert
	bad    []string
	fail   int // answer 500 to this many posts first
}

func (l *alertLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail > 0 {
		l.fail--
		http.Error(w, "try later", http.StatusInternalServerError)
		return
	}
	if got, want := r.Header.Get(SignatureHeader), Sign([]byte("s3cret"), body); got != want {
		l.bad = append(l.bad, "signature "+got)
	}
	var a Alert
	if err := json.Unmarshal(body, &a); err != nil {
		l.bad = append(l.bad, err.Error())
	}
	l.alerts = append(l.alerts, a)
}

func (l *alertLog) events() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, a := range l.alerts {
		out = append(out, string(a.Event)+" "+a.Incident)
	}
	return out
}

type testSched struct {
	*Scheduler
	root, src string
	hook      *alertLog
}

// newSched is a scheduler on a new lake and landing zone, with the jobs
// named (default: ingestion, transform and quality; the reports job changes
// no table and costs a browser start) and fast retries.
func newSched(t *testing.T, edit func(*Config)) *testSched {
	t.Helper()
	hook := &alertLog{}
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	t.Setenv("NEXUS_TEST_ALERT_SECRET", "s3cret")
	c := Default()
	c.Jobs = c.Jobs[:3]
	c.RetryBackoff, c.RetryMaxBackoff = Duration(10*time.Millisecond), Duration(40*time.Millisecond)
	c.Sensor.StableFor, c.Sensor.PokeInterval, c.Sensor.Timeout = 0, Duration(10*time.Millisecond), Duration(time.Second)
	c.Alerts.Webhooks, c.Alerts.SecretEnv = []string{srv.URL}, "NEXUS_TEST_ALERT_SECRET"
	if edit != nil {
		edit(&c)
	}
	p, err := c.Compile()
	if err != nil {
		t.Fatal(err)
	}
	root, src := filepath.Join(t.TempDir(), "lake"), t.TempDir()
	if _, err := lake.Open(root); err != nil {
		t.Fatal(err)
	}
	st, err := runstore.OpenStore(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	n := NewNotifier(p.Alerts, nil)
	n.Backoff = time.Millisecond
	return &testSched{Scheduler: &Scheduler{Plan: p, Store: st, Alerts: n,
		Env: &Env{Lake: root, Source: src, Engine: engine.Options{MemoryLimit: "1GB", Threads: 2}, Sensor: p.Sensor}},
		root: root, src: src, hook: hook}
}

func (s *testSched) runs(t *testing.T, f runstore.RunFilter) []runstore.Run {
	t.Helper()
	runs, err := s.Store.Runs(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

// A backfill over 5 logical dates builds the same lake as 5 scheduled cycles
// that each found one more drop in the landing zone.
func TestBackfillEqualsScheduledCycles(t *testing.T) {
	ctx := context.Background()
	_, drops := landing(t)
	first, _ := time.Parse(time.DateOnly, strings.TrimPrefix(drops[0], olist.DropDirPrefix))

	cyc := newSched(t, nil)
	for i := range 5 {
		linkDrops(t, cyc.src, i+1)
		tick := first.AddDate(0, 0, i+1).Add(2 * time.Hour) // 02:00 the day after: that day's cycle
		if err := cyc.tick(ctx, tick, runstore.TriggerScheduled, ""); err != nil {
			t.Fatal(err)
		}
	}
	back := newSched(t, nil)
	linkDrops(t, back.src, len(drops)) // everything has arrived; each date takes its share
	d5 := first.AddDate(0, 0, 4).Format(time.DateOnly)
	cycles, err := back.Backfill(ctx, first.Format(time.DateOnly), d5, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(cycles) != 5 {
		t.Fatalf("backfill ran %d cycles", len(cycles))
	}
	for _, s := range []*testSched{cyc, back} {
		for _, r := range s.runs(t, runstore.RunFilter{}) {
			if r.Status != runstore.StatusSucceeded {
				t.Errorf("%s %s %s: %s", r.Job, r.LogicalDate, r.Status, r.Error)
			}
		}
	}
	if n := len(laketest.ModelTables(t, laketest.OpenRead(t, back.root))); n < 20 {
		t.Fatalf("the backfill built %d model tables", n)
	}
	if d := laketest.DiffLakes(t, laketest.OpenRead(t, cyc.root), laketest.OpenRead(t, back.root), laketest.RunCols); len(d) > 0 {
		t.Errorf("backfill differs from the scheduled cycles:\n%s", strings.Join(d, "\n"))
	}
	// Run again, the backfill has nothing left to do.
	again, err := back.Backfill(ctx, first.Format(time.DateOnly), d5, "")
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range again {
		if c.ID != cycles[i].ID {
			t.Errorf("date %s re-run as cycle %d", c.LogicalDate, c.ID)
		}
	}
}

// A transient failure (the lake's writer lock held by another process) is
// retried with backoff and alerted once retries are exhausted; a permanent
// one (a bad header) is not retried; the same incident alerts once, and the
// next success sends the recovery.
func TestRetriesAndAlerts(t *testing.T) {
	ctx := context.Background()
	s := newSched(t, func(c *Config) { c.Retries = 2; c.Jobs = c.Jobs[:1] })
	linkDrops(t, s.src, 2)
	_, drops := landing(t)
	date := strings.TrimPrefix(drops[1], olist.DropDirPrefix)

	lk, err := lake.Open(s.root)
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := lk.Lock()
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Trigger(ctx, JobIngestion, date, false)
	unlock()
	if err != nil {
		t.Fatal(err)
	}
	r := s.runs(t, runstore.RunFilter{CycleID: c.ID})[0]
	if r.Status != runstore.StatusFailed || r.Attempts != 3 || r.Permanent || !strings.Contains(r.Error, "locked") {
		t.Fatalf("locked lake: %+v", r)
	}
	att, err := s.Store.Attempts(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range att {
		if !a.Transient || a.Status != runstore.StatusFailed {
			t.Errorf("attempt %d: %+v", a.N, a)
		}
	}

	// Lock free: the same job succeeds, and the incident recovers.
	if c, err = s.Trigger(ctx, JobIngestion, date, false); err != nil || c.Status != runstore.StatusSucceeded {
		t.Fatalf("retry after the lock: %v %+v", err, c)
	}

	// A broken file: one attempt, one alert however many runs fail.
	bad := filepath.Join(s.src, "dt=2030-01-01")
	if err := os.MkdirAll(bad, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "olist_orders_dataset.csv"), []byte("id;status\n1;x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		c, err = s.Trigger(ctx, JobIngestion, "2030-01-01", false)
		if err != nil {
			t.Fatal(err)
		}
		r = s.runs(t, runstore.RunFilter{CycleID: c.ID})[0]
		if r.Status != runstore.StatusFailed || r.Attempts != 1 || !r.Permanent || !strings.Contains(r.Error, "olist_orders_dataset.csv") {
			t.Fatalf("bad header: %+v", r)
		}
	}
	if err := os.RemoveAll(bad); err != nil {
		t.Fatal(err)
	}
	if c, err = s.Trigger(ctx, JobIngestion, "2030-01-01", false); err != nil || c.Status != runstore.StatusSucceeded {
		t.Fatalf("fixed: %v %+v", err, c)
	}
	want := []string{
		"run_failed job:" + JobIngestion, "recovered job:" + JobIngestion,
		"run_failed job:" + JobIngestion, "recovered job:" + JobIngestion,
	}
	if got := s.hook.events(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("alerts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(s.hook.bad) > 0 {
		t.Errorf("bad deliveries: %v", s.hook.bad)
	}
	s.hook.mu.Lock()
	first := s.hook.alerts[0]
	s.hook.mu.Unlock()
	if !strings.Contains(first.Text, "after 3 attempt(s)") || first.RunID == 0 || first.LogicalDate != date || first.Lake != s.root {
		t.Errorf("first alert: %+v", first)
	}
}

// A webhook that fails is retried; the alert still arrives.
func TestAlertDeliveryRetried(t *testing.T) {
	s := newSched(t, nil)
	s.hook.fail = 2
	if err := s.Alerts.Notify(context.Background(), Alert{Event: EventSLAMissed, Text: "x"}); err != nil {
		t.Fatal(err)
	}
	if got := s.hook.events(); len(got) != 1 {
		t.Fatalf("alerts: %v", got)
	}
	s.hook.fail = 10
	if err := s.Alerts.Notify(context.Background(), Alert{Event: EventSLAMissed, Text: "x"}); err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("undeliverable: %v", err)
	}
}

// A cycle left running by a dead process is marked abandoned on the next
// start and resumed: the jobs it had finished are not redone.
func TestResumeAbandonedCycle(t *testing.T) {
	ctx := context.Background()
	s := newSched(t, nil)
	linkDrops(t, s.src, 1)
	_, drops := landing(t)
	date := strings.TrimPrefix(drops[0], olist.DropDirPrefix)
	tick, _ := time.Parse(time.DateOnly, date)
	tick = tick.AddDate(0, 0, 1).Add(2 * time.Hour)
	// What a scheduler killed during the transform leaves behind.
	c := &runstore.Cycle{LogicalDate: date, Tick: tick, Trigger: runstore.TriggerScheduled}
	if err := s.Store.StartCycle(ctx, c); err != nil {
		t.Fatal(err)
	}
	j, _ := s.Plan.Job(JobIngestion)
	if r, _ := s.runJob(ctx, c, j, TaskInput{Date: date}); r.Status != runstore.StatusSucceeded {
		t.Fatalf("ingestion: %+v", r)
	}
	dead := &runstore.Run{CycleID: c.ID, Job: JobTransform, Task: string(TaskTransform), LogicalDate: date}
	if err := s.Store.StartRun(ctx, dead); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Store.StartAttempt(ctx, dead.ID, 1); err != nil {
		t.Fatal(err)
	}

	if err := s.resume(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.Store.Cycle(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != runstore.StatusSucceeded {
		t.Fatalf("resumed cycle: %+v", got)
	}
	var jobs []string
	for _, r := range s.runs(t, runstore.RunFilter{CycleID: c.ID}) {
		jobs = append(jobs, r.Job+" "+string(r.Status))
	}
	want := []string{JobQuality + " succeeded", JobTransform + " succeeded", JobTransform + " abandoned", JobIngestion + " succeeded"}
	if strings.Join(jobs, ", ") != strings.Join(want, ", ") {
		t.Errorf("runs of the cycle, newest first: %v, want %v", jobs, want)
	}
	if err := s.resume(ctx); err != nil { // nothing left to resume
		t.Fatal(err)
	}
	if n := len(s.runs(t, runstore.RunFilter{CycleID: c.ID})); n != 4 {
		t.Errorf("a second start re-ran the cycle: %d runs", n)
	}
}

// Ticks missed while the scheduler was down: latest runs one cycle, all runs
// each (one after another), none records one skipped cycle.
func TestCatchup(t *testing.T) {
	for _, tc := range []struct {
		policy      Catchup
		ran, status []string
	}{
		{CatchupLatest, []string{"catchup succeeded", "catchup skipped", "catchup skipped"}, nil},
		{CatchupAll, []string{"catchup succeeded", "catchup succeeded", "catchup succeeded"}, nil},
		{CatchupNone, []string{"catchup skipped"}, nil},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			ctx := context.Background()
			s := newSched(t, func(c *Config) { c.Cron, c.Catchup, c.Jobs = "@every 1h", tc.policy, c.Jobs[:1] })
			linkDrops(t, s.src, 1)
			now := time.Now()
			s.Now = func() time.Time { return now }
			// The last tick recorded was 3h ago: three ticks were missed.
			if err := s.Store.SkipCycle(ctx, &runstore.Cycle{LogicalDate: "2018-01-01", Tick: now.Add(-3*time.Hour - time.Minute), Trigger: runstore.TriggerScheduled}); err != nil {
				t.Fatal(err)
			}
			if err := s.catchUp(ctx); err != nil {
				t.Fatal(err)
			}
			cycles, err := s.Store.Cycles(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range cycles[:len(cycles)-1] {
				got = append(got, string(c.Trigger)+" "+string(c.Status))
			}
			if strings.Join(got, ", ") != strings.Join(tc.ran, ", ") {
				t.Errorf("cycles: %v, want %v", got, tc.ran)
			}
		})
	}
}

// Ticks that passed while the start resumed or caught up are recorded as
// skipped; the scheduler then waits for the next one.
func TestTicksPassedDuringStart(t *testing.T) {
	ctx := context.Background()
	s := newSched(t, func(c *Config) { c.Cron = "@every 1h" })
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.Store.SkipCycle(ctx, &runstore.Cycle{LogicalDate: "2025-12-31", Tick: t0, Trigger: runstore.TriggerCatchup}); err != nil {
		t.Fatal(err)
	}
	s.Now = func() time.Time { return t0.Add(150 * time.Minute) }
	next, err := s.firstTick(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !next.Equal(t0.Add(3 * time.Hour)) {
		t.Errorf("next tick %s", next)
	}
	cycles, err := s.Store.Cycles(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(cycles) != 3 || !cycles[0].Tick.Equal(t0.Add(2*time.Hour)) || cycles[0].Status != runstore.StatusSkipped {
		t.Errorf("cycles: %+v", cycles)
	}
}

// A cycle that overruns later ticks records them as skipped, never queued;
// a paused scheduler records its ticks as skipped.
func TestOverrunAndPause(t *testing.T) {
	ctx := context.Background()
	s := newSched(t, func(c *Config) { c.Cron = "@every 1m" })
	tick := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return tick.Add(3*time.Minute + 30*time.Second) }
	if next := s.skipOverrun(ctx, tick); !next.Equal(tick.Add(4 * time.Minute)) {
		t.Errorf("next tick = %s", next)
	}
	if err := s.Store.SetSetting(ctx, runstore.SettingPaused, "yes"); err != nil {
		t.Fatal(err)
	}
	if err := s.tick(ctx, tick.Add(4*time.Minute), runstore.TriggerScheduled, ""); err != nil {
		t.Fatal(err)
	}
	cycles, err := s.Store.Cycles(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cycles {
		got = append(got, c.Tick.Format("15:04")+" "+string(c.Status)+" "+strings.Fields(c.Reason)[0])
	}
	want := "00:04 skipped paused, 00:03 skipped overrun:, 00:02 skipped overrun:, 00:01 skipped overrun:"
	if strings.Join(got, ", ") != want {
		t.Errorf("cycles: %s\nwant:   %s", strings.Join(got, ", "), want)
	}
}

// A cycle that ends after its SLA raises one sla_missed alert; the next one
// in time recovers it.
func TestSLA(t *testing.T) {
	ctx := context.Background()
	s := newSched(t, func(c *Config) { c.SLA, c.Jobs = "1h", c.Jobs[:1] })
	linkDrops(t, s.src, 1)
	late := time.Now().Add(-2 * time.Hour)
	if err := s.tick(ctx, late, runstore.TriggerScheduled, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.tick(ctx, time.Now(), runstore.TriggerScheduled, ""); err != nil {
		t.Fatal(err)
	}
	s.Flush()
	want := "sla_missed sla, recovered sla"
	if got := strings.Join(s.hook.events(), ", "); got != want {
		t.Errorf("alerts: %s, want %s", got, want)
	}
	// A tick skipped because another cycle runs, for a day no cycle then
	// finishes by its deadline, alerts too.
	lk, err := lake.Open(s.root)
	if err != nil {
		t.Fatal(err)
	}
	unlock, _, err := lk.LockNamed("cycle")
	if err != nil {
		t.Fatal(err)
	}
	skippedTick := time.Date(2018, 9, 1, 2, 0, 0, 0, time.UTC) // its SLA passed long ago
	if err := s.tick(ctx, skippedTick, runstore.TriggerScheduled, ""); err != nil {
		t.Fatal(err)
	}
	unlock()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.hook.events()) < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		s.Flush()
	}
	if got := s.hook.events(); len(got) != 3 || got[2] != "sla_missed sla" {
		t.Errorf("alerts after a skipped tick: %v", got)
	}
	s.stopWatches()
	cycles, err := s.Store.Cycles(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Newest first: the skipped tick and the late cycle alerted, the cycle
	// in time did not.
	if len(cycles) != 3 || !cycles[0].SLAAlerted || cycles[1].SLAAlerted || !cycles[2].SLAAlerted {
		t.Errorf("sla_alerted: %+v", cycles)
	}
}

// A source of whole files (no dt= folders) is ingested as it is: the
// logical date does not apply to it.
func TestIngestPlainSource(t *testing.T) {
	s := newSched(t, func(c *Config) { c.Jobs = c.Jobs[:1] })
	src, drops := landing(t)
	for _, f := range []string{"olist_orders_dataset.csv", "olist_customers_dataset.csv"} {
		b, err := os.ReadFile(filepath.Join(src, drops[0], f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(s.src, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := s.Trigger(context.Background(), JobIngestion, "2018-01-01", false)
	if err != nil {
		t.Fatal(err)
	}
	r := s.runs(t, runstore.RunFilter{CycleID: c.ID})[0]
	// Seven of the nine files are missing: those tables fail, the two
	// present are ingested whatever the date.
	if r.Status != runstore.StatusFailed || r.RowsOut == 0 || strings.Contains(r.Error, "landing zone") {
		t.Errorf("plain source: %+v", r)
	}
}

// The alert command gets the alert as JSON on stdin.
func TestAlertCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "alert.json")
	n := NewNotifier(Alerts{Command: []string{"sh", "-c", "cat > " + out}}, nil)
	if err := n.Notify(context.Background(), Alert{Event: EventRunFailed, Text: "boom", Job: "j"}); err != nil {
		t.Fatal(err)
	}
	var a Alert
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &a); err != nil || a.Text != "boom" || a.Event != EventRunFailed {
		t.Errorf("alert command got %s (%v)", b, err)
	}
	n = NewNotifier(Alerts{Command: []string{"sh", "-c", "echo nope >&2; exit 3"}}, nil)
	if err := n.Notify(context.Background(), Alert{Event: EventRunFailed}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("failing command: %v", err)
	}
}

// The sensor never lets a folder still being written be ingested: the
// attempt waits, times out (transient) and is retried; once the files have
// settled, the folder is ingested.
func TestSensorWaitsForHalfCopiedFolder(t *testing.T) {
	ctx := context.Background()
	s := newSched(t, func(c *Config) {
		c.Jobs, c.Retries = c.Jobs[:1], 1
		c.Sensor.StableFor, c.Sensor.Timeout = Duration(time.Hour), Duration(200*time.Millisecond)
	})
	src, drops := landing(t)
	day := filepath.Join(s.src, drops[0])
	if err := os.CopyFS(day, os.DirFS(filepath.Join(src, drops[0]))); err != nil {
		t.Fatal(err)
	}
	date := strings.TrimPrefix(drops[0], olist.DropDirPrefix)
	c, err := s.Trigger(ctx, JobIngestion, date, false)
	if err != nil {
		t.Fatal(err)
	}
	r := s.runs(t, runstore.RunFilter{CycleID: c.ID})[0]
	if r.Status != runstore.StatusFailed || r.Permanent || r.Attempts != 2 || !strings.Contains(r.Error, "changed less than 1h0m0s ago") {
		t.Fatalf("young folder: %+v", r)
	}
	if lake.Exists(s.root) {
		if files, err := ingestedFiles(context.Background(), &Env{Lake: s.root}); err != nil || len(files) > 0 {
			t.Fatalf("a half-copied folder was ingested: %v %v", files, err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	entries, err := os.ReadDir(day)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Chtimes(filepath.Join(day, e.Name()), old, old); err != nil {
			t.Fatal(err)
		}
	}
	if c, err = s.Trigger(ctx, JobIngestion, date, false); err != nil || c.Status != runstore.StatusSucceeded {
		t.Fatalf("settled folder: %v %+v", err, c)
	}
	if files, err := ingestedFiles(context.Background(), &Env{Lake: s.root}); err != nil || !files[drops[0]+"/olist_orders_dataset.csv"] {
		t.Errorf("ingested after it settled: %v %v", files, err)
	}
}

// An ingestion that quarantines source records (a sale that cannot be
// typed never reaches Gold) alerts, once, and recovers when an ingestion
// quarantines none.
func TestQuarantinedRecordsAlert(t *testing.T) {
	ctx := context.Background()
	s := newSched(t, func(c *Config) { c.Jobs = c.Jobs[:1] })
	linkDrops(t, s.src, 1)
	src, drops := landing(t)
	items, err := os.ReadFile(filepath.Join(src, drops[0], "olist_order_items_dataset.csv"))
	if err != nil {
		t.Fatal(err)
	}
	header, _, _ := strings.Cut(string(items), "\n")
	write := func(day, body string) {
		t.Helper()
		dir := filepath.Join(s.src, "dt="+day)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "olist_order_items_dataset.csv"), []byte(header+"\n"+body+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("2030-01-01", `"00000000000000000000000000000001",1,"00000000000000000000000000000002","00000000000000000000000000000003",2030-01-05 10:00:00,5x9.90,10.00`)
	for range 2 { // the second run ingests nothing new: no alert, no recovery
		if c, err := s.Trigger(ctx, JobIngestion, "2030-01-01", false); err != nil || c.Status != runstore.StatusSucceeded {
			t.Fatalf("ingest: %v %+v", err, c)
		}
	}
	if got := s.hook.events(); len(got) != 1 {
		t.Errorf("alerts after the bad record: %v", got)
	}
	write("2030-01-02", `"00000000000000000000000000000004",1,"00000000000000000000000000000002","00000000000000000000000000000003",2030-01-05 10:00:00,9.90,10.00`)
	if c, err := s.Trigger(ctx, JobIngestion, "2030-01-02", false); err != nil || c.Status != runstore.StatusSucceeded {
		t.Fatalf("clean drop: %v %+v", err, c)
	}
	want := "records_quarantined records:" + JobIngestion + ", recovered records:" + JobIngestion
	if got := strings.Join(s.hook.events(), ", "); got != want {
		t.Errorf("alerts: %s, want %s", got, want)
	}
}
