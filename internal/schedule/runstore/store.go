package runstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the SQLite driver, pure Go

	"github.com/keystone/nexus/internal/lake"
)

// StoreFile is the run store's file under <lake>/_nexus.
const StoreFile = "runs.db"

// Status is the state of a cycle, a run of a job, or an attempt.
type Status string

// Statuses.
const (
	StatusRunning   Status = "running"
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
	// StatusSkipped: a cycle not run (overrun, paused, catch-up none), or a
	// job whose upstream failed.
	StatusSkipped Status = "skipped"
	// StatusAbandoned: the process died while it ran; the next start marks it.
	StatusAbandoned Status = "abandoned"
	StatusCancelled Status = "cancelled"
)

// Statuses lists every status, in the order a legend shows them.
func Statuses() []Status {
	return []Status{StatusSucceeded, StatusFailed, StatusRunning, StatusSkipped, StatusAbandoned, StatusCancelled}
}

// Valid reports whether s is one of the statuses.
func (s Status) Valid() bool {
	for _, v := range Statuses() {
		if s == v {
			return true
		}
	}
	return false
}

// SettingPaused is the setting that pauses the scheduled cycles.
const SettingPaused = "paused"

// Trigger is why a cycle ran.
type Trigger string

// Triggers.
const (
	TriggerScheduled Trigger = "scheduled"
	TriggerCatchup   Trigger = "catchup"
	TriggerManual    Trigger = "manual"
	TriggerBackfill  Trigger = "backfill"
	// TriggerResumed: the cycle of an abandoned run, run again on start.
	TriggerResumed Trigger = "resumed"
)

// migrations of the run store, applied in order; PRAGMA user_version is the
// number applied. Append only: a released migration never changes.
var migrations = []string{
	`CREATE TABLE cycles (
		id INTEGER PRIMARY KEY,
		logical_date TEXT NOT NULL,
		tick TEXT,
		trigger TEXT NOT NULL,
		status TEXT NOT NULL,
		reason TEXT NOT NULL DEFAULT '',
		started TEXT NOT NULL,
		ended TEXT,
		deadline TEXT,
		sla_alerted INTEGER NOT NULL DEFAULT 0,
		backfill TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX cycles_tick ON cycles(tick);
	CREATE TABLE runs (
		id INTEGER PRIMARY KEY,
		cycle_id INTEGER REFERENCES cycles(id),
		job TEXT NOT NULL,
		task TEXT NOT NULL,
		logical_date TEXT NOT NULL,
		status TEXT NOT NULL,
		started TEXT NOT NULL,
		ended TEXT,
		error TEXT NOT NULL DEFAULT '',
		permanent INTEGER NOT NULL DEFAULT 0,
		attempts INTEGER NOT NULL DEFAULT 0,
		lake_run TEXT NOT NULL DEFAULT '',
		snapshot INTEGER NOT NULL DEFAULT 0,
		rows_in INTEGER NOT NULL DEFAULT 0,
		rows_out INTEGER NOT NULL DEFAULT 0,
		quarantined INTEGER NOT NULL DEFAULT 0,
		checks_failed INTEGER NOT NULL DEFAULT 0,
		sales_quarantined_cents INTEGER,
		note TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX runs_job ON runs(job, id);
	CREATE INDEX runs_cycle ON runs(cycle_id);
	CREATE TABLE attempts (
		id INTEGER PRIMARY KEY,
		run_id INTEGER NOT NULL REFERENCES runs(id),
		n INTEGER NOT NULL,
		status TEXT NOT NULL,
		started TEXT NOT NULL,
		ended TEXT,
		error TEXT NOT NULL DEFAULT '',
		transient INTEGER NOT NULL DEFAULT 0,
		UNIQUE (run_id, n)
	);
	CREATE TABLE steps (
		attempt_id INTEGER NOT NULL REFERENCES attempts(id),
		name TEXT NOT NULL,
		kind TEXT NOT NULL,
		status TEXT NOT NULL,
		rows_in INTEGER NOT NULL,
		rows_out INTEGER NOT NULL,
		quarantined INTEGER NOT NULL,
		duration_s REAL NOT NULL,
		error TEXT NOT NULL DEFAULT ''
	);
	CREATE TABLE failed_checks (
		attempt_id INTEGER NOT NULL REFERENCES attempts(id),
		table_name TEXT NOT NULL,
		check_id TEXT NOT NULL,
		kind TEXT NOT NULL,
		severity TEXT NOT NULL,
		on_fail TEXT NOT NULL,
		blocking INTEGER NOT NULL,
		rows_failed INTEGER NOT NULL,
		observed TEXT NOT NULL
	);
	CREATE TABLE incidents (
		key TEXT PRIMARY KEY,
		opened TEXT NOT NULL,
		run_id INTEGER,
		summary TEXT NOT NULL
	);
	CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
}

// Store is the run store: cycles, runs of jobs, their attempts, steps and
// failed checks, open incidents, and settings (pause).
type Store struct {
	db       *sql.DB
	readOnly bool
}

func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	// A rollback journal, not WAL: a reader on a read-only lake then needs
	// no -shm file, and the writes here are few and small.
	q.Add("_pragma", "journal_mode(DELETE)")
	q.Add("_pragma", "synchronous(FULL)")
	// Writers take the write lock when a transaction begins: two processes
	// (the scheduler, a trigger, scheduler pause) then wait for each other
	// through the busy timeout instead of failing a lock upgrade.
	q.Add("_txlock", "immediate")
	if readOnly {
		q = url.Values{}
		q.Add("mode", "ro")
		q.Add("_pragma", "busy_timeout(10000)")
	}
	return "file:" + path + "?" + q.Encode()
}

// OpenStore opens (creating and migrating) the run store of the lake at root.
func OpenStore(root string) (*Store, error) {
	path := lake.MetaPath(root, StoreFile)
	if err := os.MkdirAll(lake.MetaPath(root), 0o755); err != nil {
		return nil, fmt.Errorf("run store: %w", err)
	}
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("run store %s: %w", path, err)
	}
	db.SetMaxOpenConns(1) // one writer connection: SQLite serializes anyway
	s := &Store{db: db}
	if err := s.migrate(); err != nil {
		db.Close()
		return nil, fmt.Errorf("run store %s: %w", path, err)
	}
	return s, nil
}

// ErrNoStore: the lake has no run store yet (the scheduler never ran).
var ErrNoStore = errors.New("no run store yet (the scheduler, trigger or backfill creates it)")

// ErrNoRun: the run store has no run of that number.
var ErrNoRun = errors.New("no such run in the run store")

// OpenStoreRead opens the run store read-only; it never creates anything.
func OpenStoreRead(root string) (*Store, error) {
	path := lake.MetaPath(root, StoreFile)
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", path, ErrNoStore)
		}
		return nil, fmt.Errorf("run store: %w", err)
	}
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("run store %s: %w", path, err)
	}
	s := &Store{db: db, readOnly: true}
	var v int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_schema`).Scan(&v); err != nil {
		db.Close()
		return nil, readErr(path, err)
	}
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		db.Close()
		return nil, readErr(path, err)
	}
	if v > len(migrations) {
		db.Close()
		return nil, fmt.Errorf("run store %s is at version %d, newer than this nexus knows (%d): upgrade nexus", path, v, len(migrations))
	}
	if v == 0 {
		// Created by a writer that has not run the first migration yet:
		// there is nothing to read.
		db.Close()
		return nil, fmt.Errorf("%s: %w", path, ErrNoStore)
	}
	return s, nil
}

// sqliteReadOnlyRollback is SQLITE_READONLY_ROLLBACK: a reader cannot roll
// back the journal a killed writer left.
const sqliteReadOnlyRollback = 776

// readErr says what a reader can do about a store it cannot read.
func readErr(path string, err error) error {
	var se interface{ Code() int }
	if errors.As(err, &se) && se.Code() == sqliteReadOnlyRollback {
		return fmt.Errorf("run store %s: a process was killed while writing it (%s-journal is left); a read-only reader cannot roll that back: run any command that writes it (nexus scheduler, trigger, backfill, scheduler pause) and it recovers: %w", path, path, err)
	}
	return fmt.Errorf("run store %s: %w", path, err)
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) migrate() error {
	var v int
	if err := s.db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("at version %d, newer than this nexus knows (%d): upgrade nexus", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		tx, err := s.db.Begin()
		if err != nil {
			return err
		}
		if _, err := tx.Exec(migrations[i]); err != nil {
			_ = tx.Rollback() // the migration's error is the one to report
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, i+1)); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	return nil
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseTS(s sql.NullString) time.Time {
	if !s.Valid {
		return time.Time{}
	}
	t, _ := time.Parse(time.RFC3339Nano, s.String) // written by ts: always valid
	return t
}

func nullTS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ts(t)
}

// Cycle is one cycle of the jobs.
type Cycle struct {
	ID          int64     `json:"id"`
	LogicalDate string    `json:"logical_date"`
	Tick        time.Time `json:"tick,omitzero"`
	Trigger     Trigger   `json:"trigger"`
	Status      Status    `json:"status"`
	Reason      string    `json:"reason,omitempty"`
	Started     time.Time `json:"started"`
	Ended       time.Time `json:"ended,omitzero"`
	Deadline    time.Time `json:"deadline,omitzero"`
	SLAAlerted  bool      `json:"sla_alerted,omitempty"`
	Backfill    string    `json:"backfill,omitempty"`
}

// Run is one run of a job in a cycle (or alone: a trigger).
type Run struct {
	ID           int64     `json:"id"`
	CycleID      int64     `json:"cycle_id"`
	Job          string    `json:"job"`
	Task         string    `json:"task"`
	LogicalDate  string    `json:"logical_date"`
	Status       Status    `json:"status"`
	Started      time.Time `json:"started"`
	Ended        time.Time `json:"ended,omitzero"`
	Error        string    `json:"error,omitempty"`
	Permanent    bool      `json:"permanent,omitempty"`
	Attempts     int       `json:"attempts"`
	LakeRun      string    `json:"lake_run,omitempty"`
	Snapshot     int64     `json:"snapshot,omitempty"`
	RowsIn       int64     `json:"rows_in"`
	RowsOut      int64     `json:"rows_out"`
	Quarantined  int64     `json:"quarantined"`
	ChecksFailed int64     `json:"checks_failed"`
	// SalesQuarantinedCents is what the Silver quarantines hold of paid
	// sales after a transform (nil: not measured).
	SalesQuarantinedCents *int64 `json:"sales_quarantined_cents,omitempty"`
	Note                  string `json:"note,omitempty"`
}

// Duration of a finished run (up to now for a running one).
func (r Run) Duration() time.Duration {
	if r.Ended.IsZero() {
		return time.Since(r.Started)
	}
	return r.Ended.Sub(r.Started)
}

// Attempt is one try of a run.
type Attempt struct {
	ID        int64      `json:"id"`
	N         int        `json:"n"`
	Status    Status     `json:"status"`
	Started   time.Time  `json:"started"`
	Ended     time.Time  `json:"ended,omitzero"`
	Error     string     `json:"error,omitempty"`
	Transient bool       `json:"transient,omitempty"`
	Steps     []StepRow  `json:"steps,omitempty"`
	Checks    []CheckRow `json:"failed_checks,omitempty"`
}

// StepRow is a step of an attempt (a table ingested, a model built...).
type StepRow struct {
	Name        string  `json:"name"`
	Kind        string  `json:"kind"`
	Status      string  `json:"status"`
	RowsIn      int64   `json:"rows_in"`
	RowsOut     int64   `json:"rows_out"`
	Quarantined int64   `json:"quarantined"`
	Seconds     float64 `json:"seconds"`
	Error       string  `json:"error,omitempty"`
}

// CheckRow is a failed check of an attempt.
type CheckRow struct {
	Table      string `json:"table"`
	CheckID    string `json:"check_id"`
	Kind       string `json:"kind"`
	Severity   string `json:"severity"`
	OnFail     string `json:"on_fail,omitempty"`
	Blocking   bool   `json:"blocking"`
	RowsFailed int64  `json:"rows_failed"`
	Observed   string `json:"observed,omitempty"`
}

// StartCycle records a cycle as running.
func (s *Store) StartCycle(ctx context.Context, c *Cycle) error {
	c.Status = StatusRunning
	if c.Started.IsZero() {
		c.Started = time.Now()
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO cycles (logical_date, tick, trigger, status, reason, started, deadline, backfill)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, c.LogicalDate, nullTS(c.Tick), c.Trigger, c.Status, c.Reason, ts(c.Started), nullTS(c.Deadline), c.Backfill)
	if err != nil {
		return fmt.Errorf("run store: %w", err)
	}
	c.ID, err = res.LastInsertId()
	return err
}

// SkipCycle records a tick that did not run, and why.
func (s *Store) SkipCycle(ctx context.Context, c *Cycle) error {
	now := time.Now()
	c.Status, c.Started, c.Ended = StatusSkipped, now, now
	res, err := s.db.ExecContext(ctx, `INSERT INTO cycles (logical_date, tick, trigger, status, reason, started, ended, deadline)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, c.LogicalDate, nullTS(c.Tick), c.Trigger, c.Status, c.Reason, ts(now), ts(now), nullTS(c.Deadline))
	if err != nil {
		return fmt.Errorf("run store: %w", err)
	}
	c.ID, err = res.LastInsertId()
	return err
}

// EndCycle records a cycle's outcome. The context is not the run's: a
// cancelled cycle is still recorded.
func (s *Store) EndCycle(c *Cycle) error {
	c.Ended = time.Now()
	_, err := s.db.Exec(`UPDATE cycles SET status = ?, reason = ?, ended = ? WHERE id = ?`, c.Status, c.Reason, ts(c.Ended), c.ID)
	return wrap(err)
}

// ReopenCycle marks an abandoned cycle as running again (resumed).
func (s *Store) ReopenCycle(ctx context.Context, c *Cycle) error {
	c.Status, c.Ended = StatusRunning, time.Time{}
	_, err := s.db.ExecContext(ctx, `UPDATE cycles SET status = ?, ended = NULL, reason = ? WHERE id = ?`, c.Status, c.Reason, c.ID)
	return wrap(err)
}

// MarkSLAAlerted records that a cycle's SLA alert went out.
func (s *Store) MarkSLAAlerted(id int64) error {
	_, err := s.db.Exec(`UPDATE cycles SET sla_alerted = 1 WHERE id = ?`, id)
	return wrap(err)
}

// StartRun records a run of a job as running.
func (s *Store) StartRun(ctx context.Context, r *Run) error {
	r.Status, r.Started = StatusRunning, time.Now()
	var cycle any
	if r.CycleID > 0 {
		cycle = r.CycleID
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO runs (cycle_id, job, task, logical_date, status, started) VALUES (?, ?, ?, ?, ?, ?)`,
		cycle, r.Job, r.Task, r.LogicalDate, r.Status, ts(r.Started))
	if err != nil {
		return fmt.Errorf("run store: %w", err)
	}
	r.ID, err = res.LastInsertId()
	return err
}

// EndRun records a run's outcome.
func (s *Store) EndRun(r *Run) error {
	r.Ended = time.Now()
	_, err := s.db.Exec(`UPDATE runs SET status = ?, ended = ?, error = ?, permanent = ?, attempts = ?, lake_run = ?, snapshot = ?,
		rows_in = ?, rows_out = ?, quarantined = ?, checks_failed = ?, sales_quarantined_cents = ?, note = ? WHERE id = ?`,
		r.Status, ts(r.Ended), r.Error, r.Permanent, r.Attempts, r.LakeRun, r.Snapshot, r.RowsIn, r.RowsOut, r.Quarantined,
		r.ChecksFailed, r.SalesQuarantinedCents, r.Note, r.ID)
	return wrap(err)
}

// StartAttempt records attempt n of a run.
func (s *Store) StartAttempt(ctx context.Context, runID int64, n int) (int64, error) {
	res, err := s.db.ExecContext(ctx, `INSERT INTO attempts (run_id, n, status, started) VALUES (?, ?, ?, ?)`, runID, n, StatusRunning, ts(time.Now()))
	if err != nil {
		return 0, fmt.Errorf("run store: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE runs SET attempts = ? WHERE id = ?`, n, runID); err != nil {
		return 0, fmt.Errorf("run store: %w", err)
	}
	return res.LastInsertId()
}

// EndAttempt records an attempt's outcome with its steps and failed checks,
// in one transaction.
func (s *Store) EndAttempt(id int64, st Status, errText string, transient bool, steps []StepRow, checks []CheckRow) error {
	tx, err := s.db.Begin()
	if err != nil {
		return wrap(err)
	}
	defer func() { _ = tx.Rollback() }() // after Commit: a no-op
	if _, err := tx.Exec(`UPDATE attempts SET status = ?, ended = ?, error = ?, transient = ? WHERE id = ?`,
		st, ts(time.Now()), errText, transient, id); err != nil {
		return wrap(err)
	}
	for _, p := range steps {
		if _, err := tx.Exec(`INSERT INTO steps (attempt_id, name, kind, status, rows_in, rows_out, quarantined, duration_s, error)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, p.Name, p.Kind, p.Status, p.RowsIn, p.RowsOut, p.Quarantined, p.Seconds, p.Error); err != nil {
			return wrap(err)
		}
	}
	for _, c := range checks {
		if _, err := tx.Exec(`INSERT INTO failed_checks (attempt_id, table_name, check_id, kind, severity, on_fail, blocking, rows_failed, observed)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, c.Table, c.CheckID, c.Kind, c.Severity, c.OnFail, c.Blocking, c.RowsFailed, c.Observed); err != nil {
			return wrap(err)
		}
	}
	return wrap(tx.Commit())
}

// MarkAbandoned turns what a dead process left running into abandoned, and
// returns the cycles concerned (for the scheduler to resume). The caller is
// the only scheduler of the lake (it holds its lock).
func (s *Store) MarkAbandoned(ctx context.Context) ([]Cycle, error) {
	now := ts(time.Now())
	cycles, err := s.cycles(ctx, `WHERE status = ? ORDER BY id`, StatusRunning)
	if err != nil {
		return nil, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, wrap(err)
	}
	defer func() { _ = tx.Rollback() }()
	const why = "the process died while it ran"
	for _, q := range []string{
		`UPDATE attempts SET status = ?, ended = ?, error = ? WHERE status = ?`,
		`UPDATE runs SET status = ?, ended = ?, error = ? WHERE status = ?`,
		`UPDATE cycles SET status = ?, ended = ?, reason = ? WHERE status = ?`,
	} {
		if _, err := tx.ExecContext(ctx, q, StatusAbandoned, now, why, StatusRunning); err != nil {
			return nil, wrap(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, wrap(err)
	}
	for i := range cycles {
		cycles[i].Status = StatusAbandoned
	}
	return cycles, nil
}

func wrap(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("run store: %w", err)
}

const cycleCols = `id, logical_date, tick, trigger, status, reason, started, ended, deadline, sla_alerted, backfill`

func (s *Store) cycles(ctx context.Context, where string, args ...any) ([]Cycle, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+cycleCols+` FROM cycles `+where, args...)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []Cycle
	for rows.Next() {
		var c Cycle
		var tick, started, ended, deadline sql.NullString
		if err := rows.Scan(&c.ID, &c.LogicalDate, &tick, &c.Trigger, &c.Status, &c.Reason, &started, &ended, &deadline, &c.SLAAlerted, &c.Backfill); err != nil {
			return nil, wrap(err)
		}
		c.Tick, c.Started, c.Ended, c.Deadline = parseTS(tick), parseTS(started), parseTS(ended), parseTS(deadline)
		out = append(out, c)
	}
	return out, wrap(rows.Err())
}

// LastTick is the latest scheduled tick recorded (run, skipped or missed),
// zero when there is none.
func (s *Store) LastTick(ctx context.Context) (time.Time, error) {
	var t sql.NullString
	if err := s.db.QueryRowContext(ctx, `SELECT max(tick) FROM cycles WHERE tick IS NOT NULL`).Scan(&t); err != nil {
		return time.Time{}, wrap(err)
	}
	return parseTS(t), nil
}

// Cycles lists the last n cycles, newest first (n <= 0: all).
func (s *Store) Cycles(ctx context.Context, n int) ([]Cycle, error) {
	if n <= 0 {
		n = -1
	}
	return s.cycles(ctx, `ORDER BY id DESC LIMIT ?`, n)
}

// Cycle returns one cycle.
func (s *Store) Cycle(ctx context.Context, id int64) (*Cycle, error) {
	cs, err := s.cycles(ctx, `WHERE id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("run store: no cycle %d", id)
	}
	return &cs[0], nil
}

// Unfinished lists the cycles left abandoned or cancelled by the given
// triggers, oldest first: the ones a scheduler resumes.
func (s *Store) Unfinished(ctx context.Context, triggers ...Trigger) ([]Cycle, error) {
	if len(triggers) == 0 {
		return nil, nil
	}
	q := `WHERE status IN (?, ?) AND trigger IN (?` + strings.Repeat(", ?", len(triggers)-1) + `) ORDER BY id`
	args := []any{StatusAbandoned, StatusCancelled}
	for _, t := range triggers {
		args = append(args, t)
	}
	return s.cycles(ctx, q, args...)
}

// SucceededOn reports whether a cycle of that logical date succeeded.
func (s *Store) SucceededOn(ctx context.Context, date string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM cycles WHERE logical_date = ? AND status = ?`, date, StatusSucceeded).Scan(&n)
	return n > 0, wrap(err)
}

// CyclesOfBackfill lists a backfill's cycles, oldest first.
func (s *Store) CyclesOfBackfill(ctx context.Context, id string) ([]Cycle, error) {
	return s.cycles(ctx, `WHERE backfill = ? ORDER BY id`, id)
}

const runCols = `id, coalesce(cycle_id, 0), job, task, logical_date, status, started, ended, error, permanent, attempts, lake_run, snapshot,
	rows_in, rows_out, quarantined, checks_failed, sales_quarantined_cents, note`

// RunFilter selects runs.
type RunFilter struct {
	Job     string
	Status  Status
	CycleID int64
	Limit   int
}

// Runs lists runs, newest first.
func (s *Store) Runs(ctx context.Context, f RunFilter) ([]Run, error) {
	var conds []string
	var args []any
	if f.Job != "" {
		conds, args = append(conds, "job = ?"), append(args, f.Job)
	}
	if f.Status != "" {
		conds, args = append(conds, "status = ?"), append(args, f.Status)
	}
	if f.CycleID > 0 {
		conds, args = append(conds, "cycle_id = ?"), append(args, f.CycleID)
	}
	where := ""
	if len(conds) > 0 {
		where = "WHERE " + strings.Join(conds, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = -1
	}
	return s.runsWhere(ctx, where+" ORDER BY id DESC LIMIT ?", append(args, limit)...)
}

// Run returns one run.
func (s *Store) Run(ctx context.Context, id int64) (*Run, error) {
	all, err := s.runsWhere(ctx, `WHERE id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("%w: %d (nexus runs lists them)", ErrNoRun, id)
	}
	return &all[0], nil
}

func (s *Store) runsWhere(ctx context.Context, where string, args ...any) ([]Run, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+runCols+` FROM runs `+where, args...)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var r Run
		var started, ended sql.NullString
		var sales sql.NullInt64
		if err := rows.Scan(&r.ID, &r.CycleID, &r.Job, &r.Task, &r.LogicalDate, &r.Status, &started, &ended, &r.Error, &r.Permanent,
			&r.Attempts, &r.LakeRun, &r.Snapshot, &r.RowsIn, &r.RowsOut, &r.Quarantined, &r.ChecksFailed, &sales, &r.Note); err != nil {
			return nil, wrap(err)
		}
		r.Started, r.Ended = parseTS(started), parseTS(ended)
		if sales.Valid {
			v := sales.Int64
			r.SalesQuarantinedCents = &v
		}
		out = append(out, r)
	}
	return out, wrap(rows.Err())
}

// Attempts returns the attempts of a run with their steps and failed checks.
func (s *Store) Attempts(ctx context.Context, runID int64) ([]Attempt, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, n, status, started, ended, error, transient FROM attempts WHERE run_id = ? ORDER BY n`, runID)
	if err != nil {
		return nil, wrap(err)
	}
	var out []Attempt
	for rows.Next() {
		var a Attempt
		var started, ended sql.NullString
		if err := rows.Scan(&a.ID, &a.N, &a.Status, &started, &ended, &a.Error, &a.Transient); err != nil {
			rows.Close()
			return nil, wrap(err)
		}
		a.Started, a.Ended = parseTS(started), parseTS(ended)
		out = append(out, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrap(err)
	}
	for i := range out {
		a := &out[i]
		srows, err := s.db.QueryContext(ctx, `SELECT name, kind, status, rows_in, rows_out, quarantined, duration_s, error FROM steps WHERE attempt_id = ? ORDER BY rowid`, a.ID)
		if err != nil {
			return nil, wrap(err)
		}
		for srows.Next() {
			var st StepRow
			if err := srows.Scan(&st.Name, &st.Kind, &st.Status, &st.RowsIn, &st.RowsOut, &st.Quarantined, &st.Seconds, &st.Error); err != nil {
				srows.Close()
				return nil, wrap(err)
			}
			a.Steps = append(a.Steps, st)
		}
		srows.Close()
		crows, err := s.db.QueryContext(ctx, `SELECT table_name, check_id, kind, severity, on_fail, blocking, rows_failed, observed FROM failed_checks WHERE attempt_id = ? ORDER BY rowid`, a.ID)
		if err != nil {
			return nil, wrap(err)
		}
		for crows.Next() {
			var c CheckRow
			if err := crows.Scan(&c.Table, &c.CheckID, &c.Kind, &c.Severity, &c.OnFail, &c.Blocking, &c.RowsFailed, &c.Observed); err != nil {
				crows.Close()
				return nil, wrap(err)
			}
			a.Checks = append(a.Checks, c)
		}
		crows.Close()
	}
	return out, nil
}

// Setting reads a setting ("" when unset).
func (s *Store) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, wrap(err)
}

// SetSetting writes a setting.
func (s *Store) SetSetting(ctx context.Context, key, value string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return wrap(err)
}

// OpenIncident records an incident; it reports false when it was open
// already (one alert per incident).
func (s *Store) OpenIncident(key string, runID int64, summary string) (bool, error) {
	var rid any
	if runID > 0 {
		rid = runID
	}
	res, err := s.db.Exec(`INSERT INTO incidents (key, opened, run_id, summary) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`,
		key, ts(time.Now()), rid, summary)
	if err != nil {
		return false, wrap(err)
	}
	n, err := res.RowsAffected()
	return n == 1, wrap(err)
}

// CloseIncident closes an open incident and returns its summary; ok is false
// when none was open.
func (s *Store) CloseIncident(key string) (summary string, opened time.Time, ok bool, err error) {
	var o sql.NullString
	err = s.db.QueryRow(`DELETE FROM incidents WHERE key = ? RETURNING summary, opened`, key).Scan(&summary, &o)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, wrap(err)
	}
	return summary, parseTS(o), true, nil
}
