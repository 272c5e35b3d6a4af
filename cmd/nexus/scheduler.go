package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/schedule"
	"github.com/keystone/nexus/internal/schedule/runstore"
)

// opFlags are the flags of the commands that run jobs (scheduler, trigger,
// backfill): they override nexus.yaml's schedule section.
type opFlags struct {
	source   string
	project  string
	cron     string
	webhooks []string
	retries  int
	catchup  string
	noAlerts bool
}

func (f *opFlags) add(cmd *cobra.Command, schedule bool) {
	cmd.Flags().StringVar(&f.source, "source", "", "landing zone of dt=YYYY-MM-DD folders, or a directory of the source files (default from nexus.yaml, else \"data/generated\")")
	cmd.Flags().StringVar(&f.project, "project", "", "project directory with extra or overriding models and suites")
	cmd.Flags().StringSliceVar(&f.webhooks, "alert-webhook", nil, "POST alerts to this URL (repeatable; replaces schedule.alerts.webhooks)")
	cmd.Flags().IntVar(&f.retries, "retries", -1, "retries of a failed job (overrides schedule.retries and the jobs' own; -1: as configured)")
	cmd.Flags().BoolVar(&f.noAlerts, "no-alerts", false, "send no alert (a tool that runs nexus does its own alerting: the Airflow and GitHub exports)")
	if schedule {
		cmd.Flags().StringVar(&f.cron, "cron", "", "the cycle's schedule (overrides schedule.cron): 5 fields, or @every 30s")
		cmd.Flags().StringVar(&f.catchup, "catchup", "", "missed ticks on start: latest, all or none (overrides schedule.catchup)")
	}
}

// newScheduler builds a scheduler from nexus.yaml and the flags, with its
// run store open; close it with the returned function.
func (a *app) newScheduler(f *opFlags) (*schedule.Scheduler, func(), error) {
	cfg := a.cfg.Schedule
	if f.cron != "" {
		cfg.Cron = f.cron
	}
	if f.catchup != "" {
		cfg.Catchup = schedule.Catchup(f.catchup)
	}
	if len(f.webhooks) > 0 {
		cfg.Alerts.Webhooks = f.webhooks
	}
	if f.noAlerts {
		cfg.Alerts.Webhooks, cfg.Alerts.Command = nil, nil
	}
	if f.retries >= 0 {
		cfg.Retries = f.retries
		for i := range cfg.Jobs {
			cfg.Jobs[i].Retries = nil
		}
	}
	plan, err := cfg.Compile()
	if err != nil {
		return nil, nil, fmt.Errorf("schedule settings (%s, and this command's flags):\n%w", a.configName(), err)
	}
	source := f.source
	if source == "" {
		source = a.cfg.Source
	}
	root := a.cfg.Lake
	if !lake.IsRemote(root) {
		if _, err := lake.Open(root); err != nil {
			return nil, nil, err
		}
		// Absolute: alerts name the lake, and a relative path means
		// nothing to whoever reads them.
		abs, err := filepath.Abs(root)
		if err != nil {
			return nil, nil, err
		}
		root = abs
	}
	storeRoot, err := a.runStoreRoot()
	if err != nil {
		return nil, nil, err
	}
	store, err := runstore.OpenStore(storeRoot)
	if err != nil {
		return nil, nil, err
	}
	if len(plan.Alerts.Webhooks) > 0 && os.Getenv(plan.Alerts.SecretEnv) == "" {
		a.log.Warn("alerts are sent unsigned: no secret in $"+plan.Alerts.SecretEnv+" (schedule.alerts.secret_env)", "webhooks", len(plan.Alerts.Webhooks))
	}
	s := &schedule.Scheduler{
		Plan: plan,
		Env: &schedule.Env{Lake: root, Remote: a.remote, Source: source, ProjectDir: f.project, OnDrift: a.cfg.OnDrift,
			Engine: a.engineOptions(0), Logger: a.log, Sensor: plan.Sensor},
		Store:  store,
		Alerts: schedule.NewNotifier(plan.Alerts, a.log),
		Logger: a.log,
	}
	// Each cycle is printed when it ends: the daemon's record on stdout,
	// a backfill's progress.
	s.OnCycle = func(c *runstore.Cycle, done bool) {
		if err := printCycle(context.Background(), os.Stdout, store, c, done); err != nil {
			a.log.Error("cycle not printed", "cycle", c.ID, "err", err)
		}
	}
	return s, func() { store.Close() }, nil
}

func newSchedulerCmd(a *app) *cobra.Command {
	var (
		f           opFlags
		metricsAddr string
		stopTimeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "scheduler",
		Short: "Run the daily cycle of the four flows by itself (foreground daemon)",
		Long: `Run the operator in the foreground: at every tick of the schedule (default
02:00 UTC daily) a cycle runs the jobs in order, each when the one before it
succeeded: olist_daily_ingestion (the complete dt= folders of the landing zone
up to the logical date, the day before the tick), olist_silver_to_gold,
olist_data_quality, olist_analytics_refresh. Failed jobs are retried with
exponential backoff (a permanent failure, such as a bad header, is not);
alerts go to the webhooks; every cycle, run, attempt and step is kept in
<lake>/_nexus/runs.db (see 'nexus runs'; for a lake on S3, in this
machine's state directory: $XDG_STATE_HOME/nexus/<bucket>/<prefix>, or
--state-dir), and /metrics serves them to Prometheus. One scheduler per lake:
on S3 a lease in the bucket (_nexus/locks/) says which machine runs it.

On start it resumes a cycle that a killed scheduler left unfinished, and runs
the cycle missed while it was down (schedule.catchup). SIGTERM or Ctrl-C stops
it cleanly: the current job finishes (up to --stop-timeout, or until a second
signal) and nothing is half committed. The schedule: section of nexus.yaml
configures it (see README); the flags override it.`,
		Example: `  nexus scheduler --source data/landing
  nexus scheduler --source data/landing --cron '@every 30s' --alert-webhook http://127.0.0.1:9000/hook
  nexus scheduler pause`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, closeStore, err := a.newScheduler(&f)
			if err != nil {
				return err
			}
			defer closeStore()
			soft := cmd.Context()
			hard, stopHard := context.WithCancel(context.WithoutCancel(soft))
			defer stopHard()
			s.Hard = hard
			again := make(chan os.Signal, 1)
			defer signal.Stop(again)
			go func() {
				select {
				case <-soft.Done():
				case <-hard.Done():
					return
				}
				// Only a signal after the first one stops the job: the
				// first is what made soft done.
				signal.Notify(again, os.Interrupt, syscall.SIGTERM)
				fmt.Fprintf(os.Stderr, "stopping: the current job finishes (at most %s; a second signal stops it at once, committing nothing)\n", stopTimeout)
				select {
				case <-again:
				case <-time.After(stopTimeout):
				case <-hard.Done():
				}
				stopHard()
			}()
			var metricsSrv *http.Server
			defer func() {
				if metricsSrv != nil {
					metricsSrv.Close()
				}
			}()
			s.OnStart = func() error {
				if metricsAddr != "" {
					ln, err := net.Listen("tcp", metricsAddr)
					if err != nil {
						return fmt.Errorf("--metrics-addr: %w", err)
					}
					storeRoot, err := a.runStoreRoot()
					if err != nil {
						ln.Close()
						return err
					}
					mux := http.NewServeMux()
					mux.Handle("/metrics", runstore.MetricsHandler(storeRoot))
					metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
					go func() {
						if err := metricsSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
							a.log.Error("metrics server", "err", err)
						}
					}()
					fmt.Printf("metrics: http://%s/metrics\n", ln.Addr())
				}
				fmt.Printf("scheduler: cycle %q (%s), jobs %v; next at %s\n", s.Plan.Cron, s.Plan.Location,
					s.Plan.JobNames(), s.Plan.Next(time.Now()).Format(time.RFC3339))
				return nil
			}
			return s.Serve(soft)
		},
	}
	f.add(cmd, true)
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", "127.0.0.1:9464", "serve /metrics (Prometheus) here; empty: none")
	cmd.Flags().DurationVar(&stopTimeout, "stop-timeout", 5*time.Minute, "on SIGTERM, how long the current job may go on before it is cancelled")
	cmd.AddCommand(newPauseCmd(a, true), newPauseCmd(a, false))
	return cmd
}

func newPauseCmd(a *app, pause bool) *cobra.Command {
	use, short := "resume", "Resume the scheduled cycles"
	if pause {
		use, short = "pause", "Pause the scheduled cycles (each tick is recorded as skipped until resume)"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.pauseHere(); err != nil {
				return err
			}
			storeRoot, err := a.runStoreRoot()
			if err != nil {
				return err
			}
			st, err := runstore.OpenStore(storeRoot)
			if err != nil {
				return err
			}
			defer st.Close()
			v := ""
			if pause {
				v = time.Now().UTC().Format(time.RFC3339)
			}
			if err := st.SetSetting(cmd.Context(), runstore.SettingPaused, v); err != nil {
				return err
			}
			fmt.Printf("scheduler %sd: takes effect at the next tick\n", use)
			return nil
		},
	}
}

func newTriggerCmd(a *app) *cobra.Command {
	var (
		f     opFlags
		date  string
		force bool
	)
	cmd := &cobra.Command{
		Use:   "trigger JOB",
		Short: "Run one job now (with its retries), recorded in the run store",
		Long: `Run one job of the schedule now, for a logical date (default: yesterday in the
schedule's zone), as a manual cycle: the same task, retries and alerts as a
scheduled cycle. Exported Airflow tasks and GitHub workflows call this.
Exit status 1 when the job fails, 3 when it failed permanently (a bad file, a
blocking check: retrying will not help).`,
		Example: `  nexus trigger olist_daily_ingestion --source data/landing --date 2018-07-03
  nexus trigger olist_analytics_refresh`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, closeStore, err := a.newScheduler(&f)
			if err != nil {
				return err
			}
			defer closeStore()
			c, err := s.Trigger(cmd.Context(), args[0], date, force)
			if err != nil {
				return err
			}
			return cycleExit(cmd.Context(), s.Store, c)
		},
	}
	f.add(cmd, false)
	cmd.Flags().StringVar(&date, "date", "", "logical date YYYY-MM-DD (ingest takes the drops up to it)")
	cmd.Flags().BoolVar(&force, "force", false, "rebuild what is unchanged")
	return cmd
}

func newBackfillCmd(a *app) *cobra.Command {
	var (
		f        opFlags
		from, to string
		job      string
	)
	cmd := &cobra.Command{
		Use:   "backfill --from D1 --to D2",
		Short: "Run the cycles of past logical dates in order (resumable)",
		Long: `Run the flows for each logical date from --from to --to, in order: each date
ingests the drops of the landing zone up to that date, then builds, checks and
refreshes (or only --job). Dates already done by the same backfill are skipped,
so after a kill the same command resumes where it stopped.`,
		Example: `  nexus backfill --from 2018-07-01 --to 2018-07-05 --source data/landing`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, closeStore, err := a.newScheduler(&f)
			if err != nil {
				return err
			}
			defer closeStore()
			cycles, err := s.Backfill(cmd.Context(), from, to, job)
			code := 0
			for i := range cycles {
				perr := cycleExit(cmd.Context(), s.Store, &cycles[i])
				var ee exitError
				switch {
				case errors.As(perr, &ee):
					code = max(code, ee.code) // a permanent failure (3) wins
				case perr != nil:
					return perr
				}
			}
			if code == 0 {
				return err
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "error:", err)
			}
			return exitError{code}
		},
	}
	f.add(cmd, false)
	cmd.Flags().StringVar(&from, "from", "", "first logical date YYYY-MM-DD")
	cmd.Flags().StringVar(&to, "to", "", "last logical date YYYY-MM-DD")
	cmd.Flags().StringVar(&job, "job", "", "run only this job")
	_ = cmd.MarkFlagRequired("from") // fails only for an unknown flag name
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

// printCycle prints one line per run of a cycle, then the cycle's outcome.
func printCycle(ctx context.Context, w io.Writer, st *runstore.Store, c *runstore.Cycle, done bool) error {
	if done {
		_, err := fmt.Fprintf(w, "cycle %d (%s, %s) %s: already done\n", c.ID, c.LogicalDate, c.Trigger, c.Status)
		return err
	}
	runs, err := st.Runs(ctx, runstore.RunFilter{CycleID: c.ID})
	if err != nil {
		return err
	}
	for i := len(runs) - 1; i >= 0; i-- {
		r := runs[i]
		line := fmt.Sprintf("%s %s %s", c.LogicalDate, r.Job, r.Status)
		if r.Status != runstore.StatusSkipped {
			line += fmt.Sprintf(": %s in %s", attemptsText(r.Attempts), r.Duration().Round(time.Millisecond))
		}
		if r.Snapshot > 0 {
			line += fmt.Sprintf(", snapshot %d", r.Snapshot)
		}
		if r.Note != "" {
			line += "; " + r.Note
		}
		if r.Error != "" {
			line += "\n  " + errorLabel(r) + ": " + r.Error
		}
		fmt.Fprintln(w, line)
	}
	line := fmt.Sprintf("cycle %d (%s, %s) %s", c.ID, c.LogicalDate, c.Trigger, c.Status)
	if c.Reason != "" && c.Status != runstore.StatusSucceeded {
		line += ": " + c.Reason
	}
	_, err = fmt.Fprintln(w, line)
	return err
}

// errorLabel says what kind of error a run's error text is.
func errorLabel(r runstore.Run) string {
	switch {
	case r.Status == runstore.StatusSkipped:
		return "skipped"
	case r.Status == runstore.StatusCancelled:
		return "stopped"
	case r.Permanent:
		return "error (permanent: not retried)"
	}
	return "error (transient)"
}

// cycleExit is the exit status of a cycle that was printed: 1 when it did
// not succeed, schedule.ExitPermanent when a job failed in a way a retry
// cannot fix.
func cycleExit(ctx context.Context, st *runstore.Store, c *runstore.Cycle) error {
	if c.Status == runstore.StatusSucceeded {
		return nil
	}
	runs, err := st.Runs(ctx, runstore.RunFilter{CycleID: c.ID})
	if err != nil {
		return err
	}
	for _, r := range runs {
		if r.Status == runstore.StatusFailed && r.Permanent {
			return exitError{schedule.ExitPermanent}
		}
	}
	return exitError{1}
}

func attemptsText(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}

// pauseHere says when a pause (or resume) cannot work from here: no lake at
// --lake (the pause is state beside it), or for a lake on S3, a scheduler
// that runs on another machine (it holds the lease): the pause is kept in
// this machine's run store, which that scheduler does not read.
func (a *app) pauseHere() error {
	lk, err := a.open(false, true) // no lake there: said so
	if err != nil {
		return err
	}
	owner, host, held, err := lk.LeaseHolder(a.context(), "scheduler")
	if err != nil {
		return err
	}
	me, _ := os.Hostname() // empty: never equal to a holder's host
	if held && host != me {
		return fmt.Errorf("the scheduler of %s runs on %s (it holds the lake's lease): a pause is kept in the run store of the scheduler's machine; run this command there", a.cfg.Lake, owner)
	}
	return nil
}
