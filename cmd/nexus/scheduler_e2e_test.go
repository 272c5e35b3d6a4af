package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/laketest"
	"github.com/keystone/nexus/internal/schedule"
	"github.com/keystone/nexus/internal/schedule/runstore"
)

// hookLog receives alerts and checks their signatures.
type hookLog struct {
	mu     sync.Mutex
	alerts []schedule.Alert
	bad    []string
}

func (h *hookLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if got := r.Header.Get(schedule.SignatureHeader); got != schedule.Sign([]byte("e2e-secret"), body) {
		h.bad = append(h.bad, "bad signature "+got)
	}
	var a schedule.Alert
	if err := json.Unmarshal(body, &a); err != nil {
		h.bad = append(h.bad, err.Error())
	}
	h.alerts = append(h.alerts, a)
}

func (h *hookLog) events() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, a := range h.alerts {
		out = append(out, string(a.Event)+" "+a.Incident)
	}
	return out
}

// daemon is a `nexus scheduler` process of the binary under test.
type daemon struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan error
}

func startScheduler(t *testing.T, dir string, args ...string) *daemon {
	t.Helper()
	cmd := exec.Command(nexusBin, append([]string{"scheduler", "--log-level", "info"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NEXUS_ALERT_SECRET=e2e-secret")
	d := &daemon{cmd: cmd, out: &bytes.Buffer{}, done: make(chan error, 1)}
	var mu sync.Mutex
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			mu.Lock()
			d.out.WriteString(sc.Text() + "\n")
			mu.Unlock()
		}
	}()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- cmd.Wait(); pw.Close() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill() // the test failed midway; the kill's error changes nothing
			<-d.done
		}
		if t.Failed() {
			mu.Lock()
			t.Logf("scheduler output:\n%s", d.out.String())
			mu.Unlock()
		}
	})
	return d
}

// storeRuns reads the run store as `nexus runs` does (oldest first).
func storeRuns(t *testing.T, lakeDir string) []runstore.Run {
	t.Helper()
	st, err := runstore.OpenStoreRead(lakeDir)
	if err != nil {
		return nil // not created yet
	}
	defer st.Close()
	runs, err := st.Runs(context.Background(), runstore.RunFilter{})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].ID < runs[j].ID })
	return runs
}

// waitFor polls cond until it holds (or fails the test after timeout).
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func runOf(runs []runstore.Run, after int64, job string, ok func(runstore.Run) bool) *runstore.Run {
	for i := range runs {
		if r := runs[i]; r.ID > after && r.Job == job && ok(r) {
			return &runs[i]
		}
	}
	return nil
}

func finished(st runstore.Status) func(runstore.Run) bool {
	return func(r runstore.Run) bool { return r.Status == st }
}

// TestSchedulerEndToEnd runs `nexus scheduler` on @every ticks over a
// generated landing zone: a drop arrives and is processed, a lock held by
// another process is retried, a broken file alerts (once) and its fix
// recovers, a SIGKILL mid-run leaves an abandoned run whose cycle the restart
// completes, SIGTERM stops it cleanly; `nexus runs` and /metrics agree with
// what happened.
func TestSchedulerEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("long end-to-end test")
	}
	dir := t.TempDir()
	nexus(t, dir, false, "generate", "--out", "all", "--scale", "0.02", "--seed", "5", "--daily-from", "2018-08-20")
	drops, err := filepath.Glob(filepath.Join(dir, "all", "dt=*"))
	if err != nil || len(drops) < 7 {
		t.Fatalf("drops: %v %v", drops, err)
	}
	sort.Strings(drops)
	land := filepath.Join(dir, "land")
	if err := os.MkdirAll(land, 0o755); err != nil {
		t.Fatal(err)
	}
	arrive := func(i int) {
		t.Helper()
		if err := os.Symlink(drops[i], filepath.Join(land, filepath.Base(drops[i]))); err != nil {
			t.Fatal(err)
		}
	}
	arrive(0)
	arrive(1)
	hook := &hookLog{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	cfg := `schedule:
  retries: 3
  retry_backoff: 300ms
  retry_max_backoff: 1s
  sla: 10m
  sensor:
    stable_for: 0s
    poke_interval: 100ms
`
	if err := os.WriteFile(filepath.Join(dir, "nexus.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	lakeDir := filepath.Join(dir, "lake")
	metrics := freePort(t)
	args := []string{"--source", "land", "--cron", "@every 2s", "--alert-webhook", srv.URL, "--metrics-addr", metrics}
	d := startScheduler(t, dir, args...)

	// 1. The first cycle runs the four flows.
	var last int64
	waitFor(t, "a first cycle", 2*time.Minute, func() bool {
		r := runOf(storeRuns(t, lakeDir), 0, schedule.JobAnalytics, finished(runstore.StatusSucceeded))
		if r != nil {
			last = r.ID
		}
		return r != nil
	})

	// 2. A drop arrives while the lake's writer lock is held by another
	// process: the ingestion fails (transient) and is retried; once the lock
	// is free it succeeds on a later attempt.
	lock, err := os.OpenFile(filepath.Join(lakeDir, "_nexus", "lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	arrive(2)
	waitFor(t, "a failed attempt on the held lock", time.Minute, func() bool {
		r := runOf(storeRuns(t, lakeDir), last, schedule.JobIngestion, func(r runstore.Run) bool { return r.Attempts >= 2 })
		return r != nil
	})
	lock.Close() // releases the lock
	var retried *runstore.Run
	waitFor(t, "the ingestion to succeed after retries", time.Minute, func() bool {
		// Not a cycle's that started between the lock and the arrival:
		// nothing new to ingest, it succeeded at once.
		retried = runOf(storeRuns(t, lakeDir), last, schedule.JobIngestion, func(r runstore.Run) bool {
			return r.Status == runstore.StatusSucceeded && r.Attempts >= 2
		})
		return retried != nil
	})
	if retried.Attempts < 2 || !strings.Contains(retried.Note, filepath.Base(drops[2])[3:]) {
		t.Errorf("retried run: %+v", retried)
	}
	last = retried.ID

	// 3. A broken file: the ingestion fails at once (permanent), alerts once
	// over several cycles, and its downstream flows are skipped.
	broken := filepath.Join(land, filepath.Base(drops[3]))
	if err := os.MkdirAll(broken, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(broken, "olist_orders_dataset.csv"), []byte("order;status\n1;x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var failed []runstore.Run
	waitFor(t, "two failed ingestions", time.Minute, func() bool {
		failed = failed[:0]
		for _, r := range storeRuns(t, lakeDir) {
			if r.ID > last && r.Job == schedule.JobIngestion && r.Status == runstore.StatusFailed {
				failed = append(failed, r)
			}
		}
		return len(failed) >= 2
	})
	for _, r := range failed {
		if r.Attempts != 1 || !r.Permanent || !strings.Contains(r.Error, "olist_orders_dataset.csv") {
			t.Errorf("broken file: %+v", r)
		}
	}
	if r := runOf(storeRuns(t, lakeDir), failed[0].ID, schedule.JobTransform, finished(runstore.StatusSkipped)); r == nil {
		t.Error("the transform after a failed ingestion was not skipped")
	}

	// 4. The fix: the real files arrive; the next cycle succeeds and the
	// incident recovers.
	if err := os.RemoveAll(broken); err != nil {
		t.Fatal(err)
	}
	arrive(3)
	var fixed *runstore.Run
	waitFor(t, "the ingestion after the fix", time.Minute, func() bool {
		fixed = runOf(storeRuns(t, lakeDir), failed[len(failed)-1].ID, schedule.JobIngestion, finished(runstore.StatusSucceeded))
		return fixed != nil
	})

	// 5. SIGKILL while the transform runs; the restart marks its run
	// abandoned and completes its cycle.
	arrive(4)
	var killed runstore.Run
	waitFor(t, "a running transform", time.Minute, func() bool {
		r := runOf(storeRuns(t, lakeDir), fixed.ID, schedule.JobTransform, finished(runstore.StatusRunning))
		if r != nil {
			killed = *r
		}
		return r != nil
	})
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-d.done
	d = startScheduler(t, dir, args...)
	waitFor(t, "the abandoned cycle to complete", time.Minute, func() bool {
		runs := storeRuns(t, lakeDir)
		var abandoned bool
		for _, r := range runs {
			if r.ID == killed.ID {
				abandoned = r.Status == runstore.StatusAbandoned
			}
		}
		done := false
		for _, r := range runs {
			if r.CycleID == killed.CycleID && r.Job == schedule.JobAnalytics && r.Status == runstore.StatusSucceeded {
				done = true
			}
		}
		return abandoned && done
	})

	// 6. SIGTERM while a job runs: the job finishes, the cycle stops
	// there, the scheduler exits cleanly with nothing left running.
	var stopped runstore.Run
	var afterResume int64
	for _, r := range storeRuns(t, lakeDir) {
		afterResume = max(afterResume, r.ID)
	}
	arrive(5)
	waitFor(t, "a running transform to stop", time.Minute, func() bool {
		r := runOf(storeRuns(t, lakeDir), afterResume, schedule.JobTransform, finished(runstore.StatusRunning))
		if r != nil {
			stopped = *r
		}
		return r != nil
	})
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("scheduler after SIGTERM: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("scheduler did not stop on SIGTERM")
	}
	for _, r := range storeRuns(t, lakeDir) {
		if r.ID == stopped.ID && r.Status != runstore.StatusSucceeded {
			t.Errorf("the job running at SIGTERM did not finish: %+v", r)
		}
		if r.CycleID == stopped.CycleID && r.ID > stopped.ID {
			t.Errorf("a job started after SIGTERM: %+v", r)
		}
	}

	// What the user sees agrees with what happened.
	var listed []runstore.Run
	if err := json.Unmarshal([]byte(nexus(t, dir, false, "runs", "--format", "json", "--limit", "0")), &listed); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, r := range listed {
		if r.Status == runstore.StatusRunning {
			t.Errorf("run %d still running after a clean stop", r.ID)
		}
		count[r.Job+" "+string(r.Status)]++
	}
	if count[schedule.JobTransform+" abandoned"] != 1 || count[schedule.JobIngestion+" failed"] < 2 || count[schedule.JobAnalytics+" succeeded"] < 3 {
		t.Errorf("runs by job and status: %v", count)
	}
	if out := nexus(t, dir, false, "runs", "show", strconv.FormatInt(retried.ID, 10)); !strings.Contains(out, "attempt 2") || !strings.Contains(out, "locked") {
		t.Errorf("runs show of the retried run:\n%s", out)
	}
	want := []string{"run_failed job:" + schedule.JobIngestion, "recovered job:" + schedule.JobIngestion}
	got := hook.events()
	// A cycle that starts between the test taking the lock and the drop's
	// arrival finds nothing new to ingest (which needs no lock), and its
	// transform then fails on the held lock and alerts, rightly: that pair
	// of alerts is not the one under test.
	for _, r := range listed {
		if r.Job == schedule.JobTransform && r.Status == runstore.StatusFailed && strings.Contains(r.Error, "locked") {
			got = slices.DeleteFunc(got, func(e string) bool {
				return e == "run_failed job:"+schedule.JobTransform || e == "recovered job:"+schedule.JobTransform
			})
			break
		}
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("alerts %v, want %v", got, want)
	}
	if len(hook.bad) > 0 {
		t.Errorf("bad alert deliveries: %v", hook.bad)
	}

	// /metrics of a new scheduler process reads the same store.
	d = startScheduler(t, dir, append(args, "--cron", "@every 1h")...)
	var body string
	waitFor(t, "/metrics", 30*time.Second, func() bool {
		resp, err := http.Get("http://" + metrics + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200
	})
	for key, n := range count {
		job, st, _ := strings.Cut(key, " ")
		line := fmt.Sprintf(`nexus_runs_total{job=%q,status=%q} %d`, job, st, n)
		if !strings.Contains(body, line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
	lk, err := lake.OpenRead(lakeDir)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^nexus_lake_snapshot (\d+)$`).FindStringSubmatch(body)
	if m == nil || m[1] != strconv.FormatInt(lk.SnapshotID(), 10) {
		t.Errorf("/metrics lake snapshot %v, want %d", m, lk.SnapshotID())
	}
	for _, name := range []string{"nexus_job_duration_seconds_bucket", "nexus_step_duration_seconds_bucket", "nexus_last_success_timestamp_seconds", "nexus_rows_quarantined_total", "nexus_checks_failed_total"} {
		if !strings.Contains(body, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-d.done
}

// TestKillBackfillResumes SIGKILLs a backfill while it builds its second
// date; the same command resumes it (the first date is not redone) and the
// lake is the one an uninterrupted backfill builds.
func TestKillBackfillResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("long end-to-end test")
	}
	dir := t.TempDir()
	nexus(t, dir, false, "generate", "--out", "land", "--scale", "0.02", "--seed", "8", "--daily-from", "2018-08-20")
	cfg := "schedule:\n  sensor:\n    stable_for: 0s\n  jobs:\n    - {name: ingest, task: ingest}\n    - {name: build, task: transform}\n"
	if err := os.WriteFile(filepath.Join(dir, "nexus.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"backfill", "--from", "2018-08-19", "--to", "2018-08-21", "--source", "land"}
	lakeDir := filepath.Join(dir, "lake")
	secondBuild := func() bool {
		r := runOf(storeRuns(t, lakeDir), 0, "build", func(r runstore.Run) bool {
			return r.LogicalDate == "2018-08-20" && r.Status == runstore.StatusRunning
		})
		return r != nil
	}
	if !killWhen(t, dir, secondBuild, args...) {
		t.Fatal("the backfill finished before it could be killed")
	}
	before := storeRuns(t, lakeDir)
	out := nexus(t, dir, false, args...)
	if !strings.Contains(out, "cycle 3 (2018-08-21, backfill) succeeded") {
		t.Errorf("resumed backfill:\n%s", out)
	}
	byDate := map[string][]string{}
	for _, r := range storeRuns(t, lakeDir) {
		byDate[r.LogicalDate] = append(byDate[r.LogicalDate], r.Job+" "+string(r.Status))
	}
	want := map[string]string{
		"2018-08-19": "ingest succeeded, build succeeded",
		"2018-08-20": "ingest succeeded, build abandoned, build succeeded",
		"2018-08-21": "ingest succeeded, build succeeded",
	}
	for d, w := range want {
		if got := strings.Join(byDate[d], ", "); got != w {
			t.Errorf("%s: runs %s, want %s (before the resume: %d runs)", d, got, w, len(before))
		}
	}
	clean := t.TempDir()
	if err := os.Symlink(filepath.Join(dir, "land"), filepath.Join(clean, "land")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(clean, "nexus.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	nexus(t, clean, false, args...)
	a, err := lake.OpenRead(lakeDir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := lake.OpenRead(filepath.Join(clean, "lake"))
	if err != nil {
		t.Fatal(err)
	}
	if d := laketest.DiffLakes(t, a, b, laketest.RunCols); len(d) > 0 {
		t.Errorf("the resumed backfill differs from an uninterrupted one:\n%s", strings.Join(d, "\n"))
	}
}

// `nexus trigger` and `nexus backfill` exit 3 when a job failed permanently
// (a bad header), so that an exported workflow's retry loop stops; trigger
// exits 0 once the file is fixed.
func TestTriggerExitStatus(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "land", "dt=2018-07-01")
	if err := os.MkdirAll(bad, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "olist_orders_dataset.csv"), []byte("id;status\n1;x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nexus.yaml"), []byte("schedule:\n  sensor:\n    stable_for: 0s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nexusBin, "trigger", schedule.JobIngestion, "--source", "land", "--date", "2018-07-01")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != schedule.ExitPermanent || !strings.Contains(string(out), "failed: 1 attempt") {
		t.Errorf("trigger on a bad header: %v\n%s", err, out)
	}
	// backfill says the same.
	cmd = exec.Command(nexusBin, "backfill", "--from", "2018-07-01", "--to", "2018-07-02", "--source", "land")
	cmd.Dir = dir
	out, err = cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != schedule.ExitPermanent || !strings.Contains(string(out), "backfill stopped at 2018-07-01") {
		t.Errorf("backfill on a bad header: %v\n%s", err, out)
	}
	// Fixed (a file of the right header, no rows): exit status 0.
	hdr := `"order_id","customer_id","order_status","order_purchase_timestamp","order_approved_at","order_delivered_carrier_date","order_delivered_customer_date","order_estimated_delivery_date"` + "\n"
	if err := os.WriteFile(filepath.Join(bad, "olist_orders_dataset.csv"), []byte(hdr), 0o644); err != nil {
		t.Fatal(err)
	}
	nexus(t, dir, false, "trigger", schedule.JobIngestion, "--source", "land", "--date", "2018-07-01")
}
