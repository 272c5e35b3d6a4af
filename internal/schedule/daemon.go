package schedule

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keystone/nexus/internal/lake"

	"github.com/keystone/nexus/internal/schedule/runstore"
)

// maxSkipRecords bounds the skipped ticks recorded at once (an @every 1s
// schedule down for a day would otherwise write 86400 rows).
const maxSkipRecords = 100

// Serve is the daemon: it resumes the cycles a dead scheduler left, catches
// up on the ticks missed while it was down (Plan.Catchup), then runs a cycle
// at every tick until ctx is done. One scheduler per lake: a second one is
// refused.
func (s *Scheduler) Serve(ctx context.Context) error {
	lk, release, err := s.Env.open(ctx, true, true)
	if err != nil {
		return err
	}
	defer release()
	unlock, lost, err := lk.LockNamed("scheduler")
	if errors.Is(err, lake.ErrLocked) {
		return fmt.Errorf("another nexus scheduler runs on this lake: %w", err)
	}
	if err != nil {
		return err
	}
	defer unlock()
	if s.OnStart != nil {
		// Alone on the lake now: what the caller serves beside (metrics)
		// and says it started.
		if err := s.OnStart(); err != nil {
			return err
		}
	}
	// A lease on S3 can be lost (this process stalled, or the store was
	// out of reach, past its TTL): another scheduler may have taken over,
	// so this one stops as on SIGTERM (the job running finishes; its
	// commit is a conditional write) and says why.
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	go func() {
		select {
		case <-lost:
			stop(fmt.Errorf("the scheduler's lease on the lake %s was lost (see the log): another scheduler may run now; %w", s.Env.Lake, ErrLeaseLost))
		case <-ctx.Done():
		}
	}()
	err = s.serve(ctx)
	if cause := context.Cause(ctx); errors.Is(cause, ErrLeaseLost) {
		return errors.Join(err, cause)
	}
	return err
}

// ErrLeaseLost: the scheduler's lease on a lake on S3 was lost.
var ErrLeaseLost = errors.New("lease lost")

// serve is Serve's work once the scheduler's lock is held.
func (s *Scheduler) serve(ctx context.Context) error {
	defer s.Flush()
	defer s.stopWatches()
	s.log().Info("scheduler started", "cron", s.Plan.Cron, "timezone", s.Plan.Location.String(), "jobs", s.Plan.JobNames())
	if err := s.resume(ctx); err != nil {
		return err
	}
	if err := s.catchUp(ctx); err != nil {
		return err
	}
	next, err := s.firstTick(ctx)
	if err != nil {
		return err
	}
	for {
		s.log().Info("next cycle", "at", next.UTC().Format(time.RFC3339), "logical_date", s.Plan.LogicalDate(next))
		select {
		case <-ctx.Done():
			s.log().Info("scheduler stopped")
			return nil
		case <-time.After(time.Until(next)):
		}
		if ctx.Err() != nil {
			continue // stopping: the select above returns
		}
		if err := s.tick(ctx, next, runstore.TriggerScheduled, ""); err != nil {
			return err
		}
		if ctx.Err() != nil {
			s.log().Info("scheduler stopped")
			return nil // stopping: the ticks passed meanwhile are not overruns
		}
		next = s.skipOverrun(ctx, next)
	}
}

// firstTick is the tick to wait for after the start: the ticks that passed
// since the last one recorded (while resumed and caught-up cycles ran) are
// recorded as skipped, as after any cycle that overruns.
func (s *Scheduler) firstTick(ctx context.Context) (time.Time, error) {
	last, err := s.Store.LastTick(record(ctx))
	if err != nil || last.IsZero() {
		return s.Plan.Next(s.now()), err
	}
	return s.skipOverrun(ctx, last), nil
}

// tick runs (or records as skipped) the cycle of one tick.
func (s *Scheduler) tick(ctx context.Context, tick time.Time, trig runstore.Trigger, reason string) error {
	c := &runstore.Cycle{LogicalDate: s.Plan.LogicalDate(tick), Tick: tick, Trigger: trig, Reason: reason, Deadline: s.Plan.Deadline(tick)}
	paused, err := s.Store.Setting(record(ctx), runstore.SettingPaused)
	if err != nil {
		return err
	}
	if paused != "" {
		c.Reason = "paused (nexus scheduler resume)"
		return s.Store.SkipCycle(record(ctx), c)
	}
	unlock, err := s.lockCycle(ctx)
	if errors.Is(err, ErrCycleBusy) {
		c.Reason = "another cycle (a trigger or a backfill) was running"
		s.log().Warn("cycle skipped", "tick", tick, "why", c.Reason)
		if err := s.Store.SkipCycle(record(ctx), c); err != nil {
			return err
		}
		s.watchSkipped(c)
		return nil
	}
	if err != nil {
		return err
	}
	defer unlock()
	if err := s.Store.StartCycle(record(ctx), c); err != nil {
		return err
	}
	s.log().Info("cycle started", "cycle", c.ID, "logical_date", c.LogicalDate, "trigger", trig)
	if err := s.RunCycle(ctx, c, "", false); err != nil {
		return err
	}
	s.log().Info("cycle finished", "cycle", c.ID, "status", c.Status, "reason", c.Reason)
	return nil
}

// skipOverrun records the ticks that passed while the cycle of tick ran as
// skipped (never queued), and returns the next tick to wait for.
func (s *Scheduler) skipOverrun(ctx context.Context, tick time.Time) time.Time {
	now := s.now()
	n, skipped := s.Plan.Next(tick), 0
	for ; !n.After(now); n = s.Plan.Next(n) {
		if skipped++; skipped > maxSkipRecords {
			continue
		}
		c := &runstore.Cycle{LogicalDate: s.Plan.LogicalDate(n), Tick: n, Trigger: runstore.TriggerScheduled,
			Reason: fmt.Sprintf("overrun: the cycle of %s was still running", tick.UTC().Format(time.RFC3339))}
		c.Deadline = s.Plan.Deadline(n)
		if err := s.Store.SkipCycle(record(ctx), c); err != nil {
			s.log().Error("skipped tick not recorded", "tick", n, "err", err)
			continue
		}
		s.watchSkipped(c)
	}
	if skipped > 0 {
		s.log().Warn("cycle overran the next tick(s): skipped", "ticks", skipped)
	}
	return n
}

// resume runs again the cycles that a dead or stopped scheduler left
// unfinished, oldest first, each once: their jobs that succeeded are not
// redone.
func (s *Scheduler) resume(ctx context.Context) error {
	unlock, err := s.lockCycle(ctx)
	if errors.Is(err, ErrCycleBusy) && lake.IsRemote(s.Env.Lake) {
		// On S3 the cycle's lease of a scheduler that was killed outlives
		// it by up to the lease's TTL, and may expire after its scheduler
		// lease (renewed at other moments): the cycle it left is resumed
		// once that lease expires, not at the start after next.
		unlock, err = s.waitCycleLease(ctx, err)
	}
	if errors.Is(err, ErrCycleBusy) {
		s.log().Warn("a cycle is running (a trigger or a backfill): unfinished cycles are resumed at the next start")
		return nil
	}
	if err != nil {
		return err
	}
	defer unlock()
	open, err := s.Store.Unfinished(record(ctx), runstore.TriggerScheduled, runstore.TriggerCatchup, runstore.TriggerResumed)
	if err != nil {
		return err
	}
	for i := range open {
		c := &open[i]
		if ctx.Err() != nil {
			return nil
		}
		s.log().Warn("resuming an unfinished cycle", "cycle", c.ID, "logical_date", c.LogicalDate, "was", c.Status)
		c.Trigger = runstore.TriggerResumed
		c.Reason = "resumed: it was " + string(c.Status)
		if err := s.RunCycle(ctx, c, "", false); err != nil {
			return err
		}
	}
	return nil
}

// waitCycleLease takes the cycle lock of a lake on S3 once its lease
// expires, trying for one lease TTL (a live trigger's lease is renewed: it
// is still busy then, the error).
func (s *Scheduler) waitCycleLease(ctx context.Context, busy error) (func(), error) {
	ttl := s.Env.Remote.LeaseTTL
	if ttl <= 0 {
		ttl = lake.DefaultLeaseTTL
	}
	s.log().Info("the cycle lock is held: waiting for it (the lease of a scheduler that died expires)", "up_to", ttl, "why", busy)
	deadline := time.Now().Add(ttl)
	for {
		select {
		case <-ctx.Done():
			return nil, busy
		case <-time.After(ttl / 6):
		}
		unlock, err := s.lockCycle(ctx)
		if !errors.Is(err, ErrCycleBusy) || time.Now().After(deadline) {
			return unlock, err
		}
	}
}

// catchUp handles the ticks missed while the scheduler was down: latest runs
// the last one once, all runs each in order (never overlapping), none
// records them as skipped. A first start has missed nothing.
func (s *Scheduler) catchUp(ctx context.Context) error {
	last, err := s.Store.LastTick(record(ctx))
	if err != nil || last.IsZero() {
		return err
	}
	now := s.now()
	var missed []time.Time
	for t := s.Plan.Next(last); !t.After(now); t = s.Plan.Next(t) {
		missed = append(missed, t)
		if len(missed) > 10*maxSkipRecords {
			missed = missed[1:] // keep the latest ones
		}
	}
	if len(missed) == 0 {
		return nil
	}
	s.log().Warn("ticks missed while the scheduler was down", "count", len(missed), "catchup", s.Plan.Catchup)
	switch s.Plan.Catchup {
	case CatchupNone:
		latest := missed[len(missed)-1]
		c := &runstore.Cycle{LogicalDate: s.Plan.LogicalDate(latest), Tick: latest, Trigger: runstore.TriggerCatchup,
			Reason: fmt.Sprintf("%d tick(s) missed while the scheduler was down (catchup: none)", len(missed))}
		return s.Store.SkipCycle(record(ctx), c)
	case CatchupLatest:
		// The older ones are recorded, so that the history has no hole.
		for i, t := range missed[:len(missed)-1] {
			if len(missed)-1-i > maxSkipRecords {
				continue
			}
			c := &runstore.Cycle{LogicalDate: s.Plan.LogicalDate(t), Tick: t, Trigger: runstore.TriggerCatchup,
				Reason: "missed while the scheduler was down (catchup: latest runs only the latest)"}
			if err := s.Store.SkipCycle(record(ctx), c); err != nil {
				return err
			}
		}
		missed = missed[len(missed)-1:]
	}
	for _, t := range missed {
		if ctx.Err() != nil {
			return nil
		}
		if err := s.tick(ctx, t, runstore.TriggerCatchup, "missed while the scheduler was down"); err != nil {
			return err
		}
	}
	return nil
}

// Trigger runs one job now, for date (default: the logical date of now), as
// a manual cycle of its own.
func (s *Scheduler) Trigger(ctx context.Context, job, date string, force bool) (*runstore.Cycle, error) {
	if _, ok := s.Plan.Job(job); !ok {
		return nil, fmt.Errorf("no job %q (jobs: %v)", job, s.Plan.JobNames())
	}
	if date == "" {
		date = s.Plan.LogicalDate(s.now())
	} else if _, err := time.Parse(time.DateOnly, date); err != nil {
		return nil, fmt.Errorf("--date %q: want YYYY-MM-DD", date)
	}
	unlock, err := s.lockCycle(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	defer s.Flush()
	c := &runstore.Cycle{LogicalDate: date, Trigger: runstore.TriggerManual, Reason: "nexus trigger " + job}
	if err := s.Store.StartCycle(record(ctx), c); err != nil {
		return nil, err
	}
	return c, s.RunCycle(ctx, c, job, force)
}

// Backfill runs the cycles of the logical dates from..to in order (only job
// when set, else every job), each ingesting the drops up to its date. It is
// resumable: run again with the same arguments after a kill, it skips the
// dates that succeeded and finishes the others.
func (s *Scheduler) Backfill(ctx context.Context, from, to, job string) ([]runstore.Cycle, error) {
	d1, err1 := time.Parse(time.DateOnly, from)
	d2, err2 := time.Parse(time.DateOnly, to)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("backfill: --from and --to must be dates YYYY-MM-DD: %w", err)
	}
	if d2.Before(d1) {
		return nil, fmt.Errorf("backfill: --to %s is before --from %s", to, from)
	}
	if job != "" {
		if _, ok := s.Plan.Job(job); !ok {
			return nil, fmt.Errorf("backfill: no job %q (jobs: %v)", job, s.Plan.JobNames())
		}
	}
	unlock, err := s.lockCycle(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	defer s.Flush()
	id := from + ".." + to
	if job != "" {
		id += ":" + job
	}
	prev, err := s.Store.CyclesOfBackfill(record(ctx), id)
	if err != nil {
		return nil, err
	}
	byDate := map[string]*runstore.Cycle{}
	for i := range prev {
		byDate[prev[i].LogicalDate] = &prev[i] // the latest cycle of a date wins
	}
	var out []runstore.Cycle
	for d := d1; !d.After(d2); d = d.AddDate(0, 0, 1) {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		date := d.Format(time.DateOnly)
		c := byDate[date]
		switch {
		case c != nil && c.Status == runstore.StatusSucceeded:
			s.log().Info("backfill: date already done", "logical_date", date, "cycle", c.ID)
			if s.OnCycle != nil {
				s.OnCycle(c, true)
			}
			out = append(out, *c)
			continue
		case c == nil:
			c = &runstore.Cycle{LogicalDate: date, Trigger: runstore.TriggerBackfill, Backfill: id, Reason: "nexus backfill " + id}
			if err := s.Store.StartCycle(record(ctx), c); err != nil {
				return out, err
			}
		}
		if err := s.RunCycle(ctx, c, job, false); err != nil {
			return out, err
		}
		out = append(out, *c)
		if c.Status != runstore.StatusSucceeded {
			return out, fmt.Errorf("backfill stopped at %s: cycle %d %s (%s); run the same backfill again to resume", date, c.ID, c.Status, c.Reason)
		}
	}
	return out, nil
}
