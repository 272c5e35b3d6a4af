package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/keystone/nexus/internal/ingest"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/pipeline"
	"github.com/keystone/nexus/internal/quality"
	"github.com/keystone/nexus/internal/report"

	"github.com/keystone/nexus/internal/schedule/runstore"
)

// Scheduler runs cycles of the plan's jobs against one lake.
type Scheduler struct {
	Plan   *Plan
	Env    *Env
	Store  *runstore.Store
	Alerts *Notifier
	Logger *slog.Logger
	// Hard is the context of the work itself: a stop request (the context
	// given to Serve, Trigger or Backfill) lets the current job finish; Hard
	// cancelled stops it at its next safe point (nothing half committed).
	Hard context.Context
	// Now is the clock (tests).
	Now func() time.Time
	// OnStart, when set, is called by Serve once the scheduler holds the
	// lake (a second scheduler is refused before it says anything).
	OnStart func() error
	// OnCycle, when set, is called after each cycle ends (and, in a
	// backfill, for each date already done: done is true).
	OnCycle func(c *runstore.Cycle, done bool)

	alertOnce sync.Once
	alertQ    chan Alert
	alertWG   sync.WaitGroup

	mu sync.Mutex
	// skipped watches the SLA of the ticks recorded as skipped: their day
	// may still be done by a later cycle in time.
	skipped []*time.Timer
}

func (s *Scheduler) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Scheduler) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Scheduler) hard(soft context.Context) context.Context {
	if s.Hard != nil {
		return s.Hard
	}
	return soft
}

// ErrCycleBusy: another cycle (the scheduler's, a trigger's or a backfill's)
// is running on the lake.
var ErrCycleBusy = errors.New("another cycle is running on this lake (the scheduler's, a trigger or a backfill); try again when it is done")

// lockCycle takes the lake's cycle lock (one cycle at a time per lake), then
// marks what a dead holder left running as abandoned: with the lock held,
// nothing else can be running.
func (s *Scheduler) lockCycle(ctx context.Context) (func(), error) {
	// Taking the lock is part of starting the cycle: a stop asked meanwhile
	// (the soft ctx) lets it start and its job finish, as a stop asked a
	// moment later would (the mirror's pull failed "context canceled").
	lk, release, err := s.Env.open(s.hard(ctx), true, true)
	if err != nil {
		return nil, err
	}
	// A cycle's lease lost midway (another machine's trigger took it over)
	// lets the cycle finish: its commits are conditional writes.
	unlockCycle, _, err := lk.LockNamed("cycle")
	if errors.Is(err, lake.ErrLocked) {
		release()
		return nil, fmt.Errorf("%w: %w", ErrCycleBusy, err)
	}
	if err != nil {
		release()
		return nil, err
	}
	unlock := func() { unlockCycle(); release() }
	abandoned, err := s.Store.MarkAbandoned(record(ctx))
	if err != nil {
		unlock()
		return nil, err
	}
	for _, c := range abandoned {
		s.log().Warn("cycle abandoned: the process running it died", "cycle", c.ID, "logical_date", c.LogicalDate, "trigger", c.Trigger)
	}
	return unlock, nil
}

// RunCycle runs the jobs of a recorded cycle in order. A job runs when its
// upstream succeeded in this cycle; a resumed cycle does not redo the jobs
// that already succeeded in it. only, when set, runs that job alone.
func (s *Scheduler) RunCycle(ctx context.Context, c *runstore.Cycle, only string, force bool) error {
	done := map[string]runstore.Status{}
	var upstream []*Outcome
	if c.Trigger == runstore.TriggerResumed || c.Status == runstore.StatusAbandoned || c.Status == runstore.StatusCancelled || c.Status == runstore.StatusFailed {
		prev, err := s.Store.Runs(record(ctx), runstore.RunFilter{CycleID: c.ID})
		if err != nil {
			return err
		}
		for i := len(prev) - 1; i >= 0; i-- { // oldest first: the latest run of a job wins
			done[prev[i].Job] = prev[i].Status
		}
		if err := s.Store.ReopenCycle(record(ctx), c); err != nil {
			return err
		}
	}
	stopSLA := s.watchSLA(c)
	defer stopSLA() // on an early return; stopping twice is harmless
	c.Status, c.Reason = runstore.StatusSucceeded, ""
	for _, j := range s.Plan.Jobs {
		if only != "" && j.Name != only {
			continue
		}
		if done[j.Name] == runstore.StatusSucceeded {
			s.log().Info("job already succeeded in this cycle", "cycle", c.ID, "job", j.Name)
			continue
		}
		if up := s.Plan.UpstreamOf(j.Name); up != "" && only == "" && done[up] != runstore.StatusSucceeded {
			r := &runstore.Run{CycleID: c.ID, Job: j.Name, Task: string(j.Task), LogicalDate: c.LogicalDate}
			if err := s.Store.StartRun(record(ctx), r); err != nil {
				return err
			}
			r.Status, r.Error = runstore.StatusSkipped, fmt.Sprintf("upstream %s did not succeed (%s)", up, orNone(done[up]))
			if err := s.Store.EndRun(r); err != nil {
				return err
			}
			done[j.Name] = runstore.StatusSkipped
			continue
		}
		if ctx.Err() != nil {
			c.Status, c.Reason = runstore.StatusCancelled, "stopped before "+j.Name
			break
		}
		var in TaskInput
		in.Date, in.Force = c.LogicalDate, force
		for _, o := range upstream {
			in.Upstream = append(in.Upstream, o.Steps...)
		}
		r, out := s.runJob(ctx, c, j, in)
		done[j.Name] = r.Status
		if out != nil {
			upstream = append(upstream, out)
		}
		switch r.Status {
		case runstore.StatusSucceeded:
		case runstore.StatusCancelled:
			c.Status, c.Reason = runstore.StatusCancelled, j.Name+" was stopped"
		default:
			if c.Status == runstore.StatusSucceeded {
				c.Status, c.Reason = runstore.StatusFailed, j.Name+" "+string(r.Status)
			}
		}
		if c.Status == runstore.StatusCancelled {
			break
		}
	}
	stopSLA() // before the end is recorded: no "still running" alert after it
	if err := s.Store.EndCycle(c); err != nil {
		return err
	}
	s.afterCycle(c)
	if s.OnCycle != nil {
		s.OnCycle(c, false)
	}
	return nil
}

func orNone(st runstore.Status) string {
	if st == "" {
		return "not run"
	}
	return string(st)
}

// runJob runs one job with its retries: each attempt has the job's timeout;
// a transient failure is retried after an exponential backoff with jitter; a
// permanent one fails at once.
func (s *Scheduler) runJob(ctx context.Context, c *runstore.Cycle, j Job, in TaskInput) (*runstore.Run, *Outcome) {
	def, _ := LookupTask(j.Task) // Compile checked it
	r := &runstore.Run{CycleID: c.ID, Job: j.Name, Task: string(j.Task), LogicalDate: c.LogicalDate}
	log := s.log().With("cycle", c.ID, "job", j.Name, "logical_date", c.LogicalDate)
	if err := s.Store.StartRun(record(ctx), r); err != nil {
		r.Status, r.Error = runstore.StatusFailed, err.Error()
		return r, nil
	}
	hard := s.hard(ctx)
	retries, timeout := s.Plan.RetriesOf(j), s.Plan.TimeoutOf(j)
	var out *Outcome
	var err error
	transient := false
	for n := 1; ; n++ {
		aid, serr := s.Store.StartAttempt(record(hard), r.ID, n)
		if serr != nil {
			// Bookkeeping, not the job, failed: worth a retry of the cycle.
			err, transient = serr, true
			break
		}
		r.Attempts = n
		log.Info("job started", "attempt", n)
		actx, cancel := context.WithTimeout(hard, timeout)
		out, err = def.run(actx, s.Env, in)
		if err != nil && errors.Is(actx.Err(), context.DeadlineExceeded) && hard.Err() == nil {
			err = fmt.Errorf("attempt %d timed out after %s (step timeout): %w", n, timeout, err)
		}
		cancel()
		st := runstore.StatusSucceeded
		switch {
		case err != nil && hard.Err() != nil:
			st = runstore.StatusCancelled
		case err != nil:
			st = runstore.StatusFailed
		}
		transient = err != nil && (!Permanent(err) || s.youngSource(err))
		if serr := s.Store.EndAttempt(aid, st, errText(err), transient, out.stepRows(), out.checkRows()); serr != nil {
			// The job's outcome stands (a commit is not undone by a failed
			// record of it); the run's own record below says how it ended.
			log.Error("attempt not recorded", "attempt", n, "err", serr)
		}
		if err == nil || st == runstore.StatusCancelled || !transient || n > retries {
			break
		}
		wait := Backoff(s.Plan.RetryBackoff.D(), s.Plan.RetryMaxBackoff.D(), n)
		log.Warn("job failed; retrying", "attempt", n, "retry_in", wait.Round(time.Millisecond), "err", err)
		select {
		case <-ctx.Done():
			err = fmt.Errorf("stopped before retry %d: %w", n, err)
		case <-time.After(wait):
		}
		if ctx.Err() != nil {
			break
		}
	}
	switch {
	case err == nil:
		r.Status = runstore.StatusSucceeded
	case hard.Err() != nil || (ctx.Err() != nil && transient):
		r.Status = runstore.StatusCancelled
	default:
		r.Status = runstore.StatusFailed
	}
	r.Error, r.Permanent = errText(err), err != nil && !transient
	if r.Status == runstore.StatusCancelled {
		r.Error = "stopped before it finished (the scheduler was stopped): nothing of it was committed (" + r.Error + ")"
	}
	if out != nil {
		r.LakeRun, r.Snapshot, r.Note = out.PipelineRun, out.Snapshot, out.Note
		r.RowsIn, r.RowsOut, r.Quarantined = out.Totals()
		r.ChecksFailed = int64(len(out.Failed))
		if out.Sales != nil && len(out.Sales.NotBuilt) == 0 {
			v := out.Sales.PaymentCents
			r.SalesQuarantinedCents = &v
		}
	}
	if serr := s.Store.EndRun(r); serr != nil {
		log.Error("run not recorded", "err", serr)
	}
	switch r.Status {
	case runstore.StatusSucceeded:
		log.Info("job succeeded", "attempts", r.Attempts, "snapshot", r.Snapshot)
	case runstore.StatusCancelled:
		log.Warn("job stopped", "err", err)
	default:
		log.Error("job failed", "attempts", r.Attempts, "permanent", r.Permanent, "err", err)
	}
	s.alertRun(c, r, out)
	return r, out
}

// record is the context of a run store write: a stop request must not keep
// what happened from being recorded (the writes are short and bounded by the
// store's busy timeout).
func record(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Backoff is the wait before retry n (1-based): base doubled n-1 times, at
// most max, half of it random (so that retries of many jobs spread out).
func Backoff(base, max time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// Permanent reports whether a failure will fail again on retry: a source
// file whose content breaks the contract (bad header, not CSV), or a quality
// check of severity error. Everything else (a file still being written, a
// lock held, a full disk, a timeout, an unknown error) is worth a retry. In
// a joined error, one permanent part makes the whole permanent.
func Permanent(err error) bool { return anyPart(err, permanentPart) }

// anyPart reports whether pred holds for some part of a joined error (the
// error itself when it is not joined).
func anyPart(err error, pred func(error) bool) bool {
	if err == nil {
		return false
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if anyPart(e, pred) {
				return true
			}
		}
		return false
	}
	return pred(err)
}

func permanentPart(err error) bool {
	switch {
	case errors.Is(err, ingest.ErrSourceChanging), errors.Is(err, lake.ErrLocked), errors.Is(err, ErrCycleBusy),
		errors.Is(err, syscall.ENOSPC), errors.Is(err, context.DeadlineExceeded), errors.Is(err, errSensorTimeout),
		errors.Is(err, os.ErrNotExist):
		return false
	case errors.Is(err, errChecksFailed), errors.Is(err, quality.ErrGateFailed), errors.Is(err, ingest.ErrSourceSwitch):
		return true
	}
	var fe *ingest.FileError
	return errors.As(err, &fe)
}

// youngSource reports whether a file error is about a file that changed
// less than the sensor's stable_for ago: maybe a copy still in progress
// (a directory of plain files has no sensor), so worth a retry.
func (s *Scheduler) youngSource(err error) bool {
	return anyPart(err, func(err error) bool {
		var fe *ingest.FileError
		if !errors.As(err, &fe) {
			return false
		}
		info, serr := os.Stat(fe.File)
		return serr == nil && s.now().Sub(info.ModTime()) < s.Plan.Sensor.StableFor.D()
	})
}

// watchSLA raises the SLA alert when the cycle is still running at its
// deadline. The returned function stops the watch and waits for an alert
// under way, so that c.SLAAlerted is settled when it returns.
func (s *Scheduler) watchSLA(c *runstore.Cycle) func() {
	if c.Deadline.IsZero() || c.SLAAlerted {
		return func() {}
	}
	var mu sync.Mutex
	stopped := false
	t := time.AfterFunc(max(0, c.Deadline.Sub(s.now())), func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped || c.SLAAlerted {
			return
		}
		c.SLAAlerted = true
		s.alertSLA(c, "still running")
	})
	return func() {
		t.Stop()
		mu.Lock() // waits for a callback that already started
		stopped = true
		mu.Unlock()
	}
}

// watchSkipped raises the SLA alert of a tick that was skipped (another
// cycle was running) when, at its deadline, no cycle of its logical date has
// succeeded.
func (s *Scheduler) watchSkipped(c *runstore.Cycle) {
	if c.Deadline.IsZero() {
		return
	}
	cycle := *c
	t := time.AfterFunc(max(0, cycle.Deadline.Sub(s.now())), func() {
		done, err := s.Store.SucceededOn(context.Background(), cycle.LogicalDate)
		if err != nil {
			s.log().Error("SLA of a skipped tick not checked", "cycle", cycle.ID, "err", err)
			return
		}
		if !done {
			s.alertSLA(&cycle, "skipped: "+cycle.Reason)
		}
	})
	s.mu.Lock()
	s.skipped = append(s.skipped, t)
	s.mu.Unlock()
}

// stopWatches stops the SLA watches of skipped ticks (the scheduler stops).
func (s *Scheduler) stopWatches() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.skipped {
		t.Stop()
	}
	s.skipped = nil
}

// afterCycle sends the SLA alert of a cycle that ended late (when the watch
// did not), or the SLA recovery of one that ended in time.
func (s *Scheduler) afterCycle(c *runstore.Cycle) {
	if c.Deadline.IsZero() {
		return
	}
	late := c.Ended.After(c.Deadline) || c.Status != runstore.StatusSucceeded && !s.now().Before(c.Deadline)
	switch {
	case late && !c.SLAAlerted:
		c.SLAAlerted = true
		s.alertSLA(c, string(c.Status))
	case !late && c.Status == runstore.StatusSucceeded:
		s.recover("sla", c, nil, "cycle finished within its SLA")
	}
}

func (s *Scheduler) alertSLA(c *runstore.Cycle, state string) {
	if err := s.Store.MarkSLAAlerted(c.ID); err != nil {
		s.log().Error("SLA alert not recorded", "err", err)
	}
	s.incident("sla", Alert{Event: EventSLAMissed, Severity: "error", CycleID: c.ID, LogicalDate: c.LogicalDate,
		Text: fmt.Sprintf("nexus: cycle %d (%s) missed its SLA %s (%s)", c.ID, c.LogicalDate, c.Deadline.In(s.Plan.Location).Format("2006-01-02 15:04 MST"), state)}, 0)
}

// alertRun raises or closes the incidents of a finished run: the job failed,
// checks of severity error failed, paid sales quarantined above the
// threshold.
func (s *Scheduler) alertRun(c *runstore.Cycle, r *runstore.Run, out *Outcome) {
	base := Alert{Job: r.Job, CycleID: c.ID, RunID: r.ID, LogicalDate: r.LogicalDate}
	jobKey := "job:" + r.Job
	switch r.Status {
	case runstore.StatusSucceeded:
		s.recover(jobKey, c, r, fmt.Sprintf("%s succeeded (run %d)", r.Job, r.ID))
	case runstore.StatusFailed:
		a := base
		a.Event, a.Severity, a.Error = EventRunFailed, "error", r.Error
		kind := "transient, retries exhausted"
		if r.Permanent {
			kind = "permanent: not retried"
		}
		a.Text = fmt.Sprintf("nexus: %s failed for %s after %d attempt(s) (%s): %s", r.Job, r.LogicalDate, r.Attempts, kind, clip(r.Error, 400))
		s.incident(jobKey, a, r.ID)
	}
	if out == nil || r.Status == runstore.StatusCancelled {
		return
	}
	var bad []runstore.CheckRow
	for _, q := range out.Failed {
		if q.Severity == quality.SeverityError || q.Blocking {
			bad = append(bad, checkRow(q))
		}
	}
	checksKey := "checks:" + r.Job
	if len(bad) > 0 {
		a := base
		a.Event, a.Severity, a.Checks = EventChecksFailed, "error", bad
		names := make([]string, len(bad))
		for i, b := range bad {
			names[i] = b.Table + "." + b.CheckID
		}
		a.Text = fmt.Sprintf("nexus: %d quality check(s) of severity error failed in %s for %s: %s", len(bad), r.Job, r.LogicalDate, clip(strings.Join(names, ", "), 400))
		s.incident(checksKey, a, r.ID)
	} else if r.Status == runstore.StatusSucceeded {
		s.recover(checksKey, c, r, "no quality check of severity error fails any more")
	}
	if r.Task == string(TaskIngest) {
		var n int64
		var where []string
		ingested := false // a run that ingested nothing new says nothing either way
		for _, st := range out.Steps {
			ingested = ingested || st.Status == pipeline.StepIngested
			if st.Kind == pipeline.StepIngest && st.Status == pipeline.StepIngested && st.Quarantined > 0 {
				n += st.Quarantined
				where = append(where, fmt.Sprintf("%s %d", st.Name, st.Quarantined))
			}
		}
		if n > s.Plan.Alerts.QuarantinedRecords {
			a := base
			a.Event, a.Severity = EventRecordsQuarantined, "warning"
			a.Text = fmt.Sprintf("nexus: %s quarantined %d source record(s) that could not be typed for %s (%s); see nexus quarantine list",
				r.Job, n, r.LogicalDate, clip(strings.Join(where, ", "), 300))
			s.incident("records:"+r.Job, a, r.ID)
		} else if r.Status == runstore.StatusSucceeded && ingested {
			s.recover("records:"+r.Job, c, r, "the last ingestion quarantined no more records than the threshold")
		}
	}
	if r.SalesQuarantinedCents != nil {
		limit := int64(s.Plan.Alerts.QuarantinedSalesBRL * 100)
		if cents := *r.SalesQuarantinedCents; cents > limit {
			a := base
			a.Event, a.Severity = EventSalesQuarantined, "warning"
			a.Text = fmt.Sprintf("nexus: the Silver quarantines hold %s of paid sales after %s (threshold %s)",
				report.FormatBRLCents(float64(cents)/100), r.Job, report.FormatBRLCents(s.Plan.Alerts.QuarantinedSalesBRL))
			s.incident("sales", a, r.ID)
		} else {
			s.recover("sales", c, r, "quarantined paid sales are back under the threshold")
		}
	}
}

// clip cuts s to at most n bytes, at a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// incident opens an incident and alerts, once: while it is open, the same
// problem does not alert again.
func (s *Scheduler) incident(key string, a Alert, runID int64) {
	opened, err := s.Store.OpenIncident(key, runID, a.Text)
	if err != nil {
		s.log().Error("incident not recorded", "incident", key, "err", err)
		return
	}
	if !opened {
		return
	}
	a.Incident = key
	s.send(a)
}

// recover closes an open incident with a recovery message.
func (s *Scheduler) recover(key string, c *runstore.Cycle, r *runstore.Run, why string) {
	summary, opened, ok, err := s.Store.CloseIncident(key)
	if err != nil {
		s.log().Error("incident not closed", "incident", key, "err", err)
		return
	}
	if !ok {
		return
	}
	a := Alert{Event: EventRecovered, Severity: "info", Incident: key, CycleID: c.ID, LogicalDate: c.LogicalDate,
		Text: fmt.Sprintf("nexus: recovered: %s (open since %s: %s)", why, opened.Format(time.RFC3339), clip(summary, 200))}
	if r != nil {
		a.Job, a.RunID = r.Job, r.ID
	}
	s.send(a)
}

func (s *Scheduler) send(a Alert) {
	a.Lake, a.Time = s.Env.Lake, s.now().UTC()
	a.Host, _ = os.Hostname() // the alert stands without it
	s.log().Warn("alert", "event", a.Event, "incident", a.Incident, "text", a.Text)
	// Delivered by one goroutine, in order, so that a webhook that hangs
	// does not hold the cycle; Flush waits for them.
	s.alertOnce.Do(func() {
		s.alertQ = make(chan Alert, 64)
		go s.deliver()
	})
	s.alertWG.Add(1)
	s.alertQ <- a
}

// deliver sends the queued alerts. An alert that reached no destination
// closes its incident again, so that the next occurrence alerts (rather than
// an incident nobody was told about staying open).
func (s *Scheduler) deliver() {
	for a := range s.alertQ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		err := s.Alerts.Notify(ctx, a) // Notify logs what it could not deliver
		cancel()
		if err != nil && a.Incident != "" && a.Event != EventRecovered {
			if _, _, _, cerr := s.Store.CloseIncident(a.Incident); cerr != nil {
				s.log().Error("undelivered incident not reopened", "incident", a.Incident, "err", cerr)
			}
		}
		s.alertWG.Done()
	}
}

// Flush waits until the alerts sent so far are delivered (or given up).
func (s *Scheduler) Flush() { s.alertWG.Wait() }
