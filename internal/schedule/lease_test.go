package schedule

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/s3test"
	"github.com/keystone/nexus/internal/schedule/runstore"
)

// s3Sched is a scheduler of one job (the quality checks: no DuckDB build)
// on a lake in a real S3 server, with a lease TTL of ttl, and the store of
// that lake.
func s3Sched(t *testing.T, ttl time.Duration) (*Scheduler, lake.ObjectStore) {
	t.Helper()
	srv := s3test.Start(t)
	c := Default()
	c.Cron, c.SLA, c.Retries = "@every 1h", "", 0
	c.Jobs = []Job{{Name: JobQuality, Task: TaskCheck}}
	p, err := c.Compile()
	if err != nil {
		t.Fatal(err)
	}
	st, err := runstore.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	remote := lake.RemoteOptions{S3: lake.S3Options{Endpoint: srv.Endpoint}, CacheDir: t.TempDir(), LeaseTTL: ttl}
	store, err := lake.NewS3Store(context.Background(), lake.S3Location{Bucket: srv.Bucket, Prefix: "lk"}, remote.S3)
	if err != nil {
		t.Fatal(err)
	}
	return &Scheduler{Plan: p, Store: st, Alerts: NewNotifier(p.Alerts, nil),
		Env: &Env{Lake: "s3://" + srv.Bucket + "/lk", Remote: remote, Source: t.TempDir(), Sensor: p.Sensor}}, store
}

func putLease(t *testing.T, st lake.ObjectStore, name, owner string, expires time.Time) {
	t.Helper()
	b := `{"owner": "` + owner + `", "expires": "` + expires.UTC().Format(time.RFC3339Nano) + `"}`
	if _, err := st.Put(context.Background(), "_nexus/locks/"+name+".json", strings.NewReader(b), int64(len(b)), lake.PutCondition{}); err != nil {
		t.Fatal(err)
	}
}

// A scheduler whose lease on S3 was taken over (it stalled past the TTL,
// or could not reach the store) stops, saying why: two schedulers never
// keep running cycles on one lake.
func TestServeStopsWhenItsLeaseIsLost(t *testing.T) {
	s, st := s3Sched(t, 900*time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()
	// Wait until it holds its lease, then another takes it over.
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := st.Head(context.Background(), "_nexus/locks/scheduler.json"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the scheduler never took its lease")
		}
		time.Sleep(50 * time.Millisecond)
	}
	putLease(t, st, "scheduler", "other host pid 2", time.Now().Add(time.Hour))
	select {
	case err := <-done:
		if !errors.Is(err, ErrLeaseLost) {
			t.Errorf("Serve after its lease was taken over: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the scheduler kept running after another took its lease over")
	}
}

// A scheduler killed during a cycle leaves its cycle's lease, which may
// expire after its scheduler lease: the next start waits for it and
// resumes the cycle (it used to put that off to the start after next).
func TestResumeWaitsForADeadCycleLease(t *testing.T) {
	s, st := s3Sched(t, 3*time.Second)
	ctx := context.Background()
	c := &runstore.Cycle{LogicalDate: "2018-08-01", Tick: time.Date(2018, 8, 2, 2, 0, 0, 0, time.UTC), Trigger: runstore.TriggerScheduled}
	if err := s.Store.StartCycle(ctx, c); err != nil {
		t.Fatal(err)
	}
	putLease(t, st, "cycle", "dead host pid 1", time.Now().Add(1500*time.Millisecond))
	if err := s.resume(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.Store.Cycle(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := s.Store.Runs(ctx, runstore.RunFilter{CycleID: c.ID})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status == runstore.StatusRunning || len(runs) == 0 {
		t.Errorf("the cycle a killed scheduler left: %s, %d run(s); want it resumed", got.Status, len(runs))
	}
}
