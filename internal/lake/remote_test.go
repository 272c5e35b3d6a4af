package lake

import (
	"context"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keystone/nexus/internal/s3test"
)

// remoteLake starts versitygw and returns a function opening the lake in
// its bucket (for writing, or for reading), all handles sharing one cache.
func remoteLake(t *testing.T) (open func(write bool) *Lake, store ObjectStore) {
	t.Helper()
	srv := s3test.Start(t)
	o := RemoteOptions{S3: S3Options{Endpoint: srv.Endpoint}, CacheDir: t.TempDir()}
	root := "s3://" + srv.Bucket + "/lk"
	open = func(write bool) *Lake {
		t.Helper()
		openFn := OpenRemoteRead
		if write {
			openFn = OpenRemote
		}
		l, err := openFn(context.Background(), root, o)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	st, err := NewS3Store(context.Background(), S3Location{Bucket: srv.Bucket, Prefix: "lk"}, o.S3)
	if err != nil {
		t.Fatal(err)
	}
	return open, st
}

func readObject(t *testing.T, st ObjectStore, key string) string {
	t.Helper()
	b, _, err := getBytes(context.Background(), st, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// faultStore is a store whose answers a test changes.
type faultStore struct {
	ObjectStore
	// getErr, when it returns an error, fails a Get of that key.
	getErr func(key string) error
	// afterPut, when it returns an error, replaces the answer of a Put
	// that was done (an answer lost on the way back, then retried).
	afterPut func(key string) error
}

func (f *faultStore) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	if f.getErr != nil {
		if err := f.getErr(key); err != nil {
			return nil, ObjectInfo{}, err
		}
	}
	return f.ObjectStore.Get(ctx, key)
}

func (f *faultStore) Put(ctx context.Context, key string, r io.ReaderAt, size int64, cond PutCondition) (ObjectInfo, error) {
	oi, err := f.ObjectStore.Put(ctx, key, r, size, cond)
	if err == nil && f.afterPut != nil {
		if e := f.afterPut(key); e != nil {
			return ObjectInfo{}, e
		}
	}
	return oi, err
}

// Two writers racing build the same version of a table; the loser uploads
// its files and Athena's symlink manifests before its snapshot loses.
// Athena's view of the committed version stays the winner's.
func TestRemoteLoserLeavesAthenaManifestsAlone(t *testing.T) {
	open, st := remoteLake(t)
	a, b := open(true), open(true)
	ma := publish(t, a, Bronze, "orders", "a", 1)
	mb := publish(t, b, Bronze, "orders", "b", 2)
	if ma.Version != mb.Version {
		t.Fatalf("versions %d and %d: the test wants a race for one version", ma.Version, mb.Version)
	}
	if _, err := a.Commit(CommitInfo{RunID: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Commit(CommitInfo{RunID: "b"}); !errors.Is(err, ErrConcurrentCommit) {
		t.Fatalf("the second writer: %v", err)
	}
	r := open(false)
	cur, err := r.Manifest(Bronze, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if cur.RunID != "a" {
		t.Fatalf("current run %s, want a", cur.RunID)
	}
	got := readObject(t, st, AthenaManifestDir(cur)+"/manifest")
	if strings.Contains(got, "-b/") || !strings.Contains(got, "-a/") {
		t.Errorf("Athena's manifest of the committed version lists:\n%s", got)
	}
}

// A writer killed between its snapshot and its pointer swap leaves a
// snapshot no pointer names: the next writer commits past it.
func TestRemoteCommitsPastAnOrphanSnapshot(t *testing.T) {
	open, st := remoteLake(t)
	w := open(true)
	publish(t, w, Bronze, "orders", "r1", 1)
	s1, err := w.Commit(CommitInfo{RunID: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	orphan := `{"id": 2, "parent": 1}` + "\n"
	key := "_nexus/snapshots/0000000002.json"
	if _, err := st.Put(context.Background(), key, strings.NewReader(orphan), int64(len(orphan)), PutCondition{IfNoneMatch: true}); err != nil {
		t.Fatal(err)
	}
	next := open(true)
	publish(t, next, Bronze, "orders", "r3", 3)
	s, err := next.Commit(CommitInfo{RunID: "r3"})
	if err != nil {
		t.Fatalf("a commit after an orphan snapshot: %v", err)
	}
	if s.ID <= 2 || s.Parent != s1.ID {
		t.Errorf("snapshot %d parent %d", s.ID, s.Parent)
	}
	if m, err := open(false).Manifest(Bronze, "orders"); err != nil || m.RunID != "r3" {
		t.Errorf("current %+v %v", m, err)
	}
}

// A Sync that fails midway (a download cut off) is tried again by the
// next one, which then moves the handle to the new snapshot.
func TestRemoteSyncRetriesAFailedPull(t *testing.T) {
	open, _ := remoteLake(t)
	w := open(true)
	publish(t, w, Bronze, "orders", "r1", 1)
	if _, err := w.Commit(CommitInfo{RunID: "r1"}); err != nil {
		t.Fatal(err)
	}
	r := open(false)
	publish(t, w, Bronze, "customers", "r2", 1)
	s2, err := w.Commit(CommitInfo{RunID: "r2"})
	if err != nil {
		t.Fatal(err)
	}
	fs := &faultStore{ObjectStore: r.remote.store, getErr: func(key string) error {
		if strings.HasSuffix(key, ".parquet") {
			return errors.New("connection reset")
		}
		return nil
	}}
	r.remote.store = fs
	if err := r.Sync(context.Background()); err == nil {
		t.Fatal("a Sync whose download failed says nothing")
	}
	fs.getErr = nil
	if err := r.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	r2, err := r.Reopen()
	if err != nil {
		t.Fatal(err)
	}
	if r2.SnapshotID() != s2.ID {
		t.Errorf("after the second Sync the handle is at snapshot %d, want %d", r2.SnapshotID(), s2.ID)
	}
	if _, err := r2.Manifest(Bronze, "customers"); err != nil {
		t.Error(err)
	}
}

// The pointer swap went through but its answer was lost, and the SDK's
// retry failed its own If-Match: the commit is this writer's, not lost.
func TestRemotePointerSwapAnswerLost(t *testing.T) {
	open, _ := remoteLake(t)
	w := open(true)
	publish(t, w, Bronze, "orders", "r1", 1)
	if _, err := w.Commit(CommitInfo{RunID: "r1"}); err != nil {
		t.Fatal(err)
	}
	w.remote.store = &faultStore{ObjectStore: w.remote.store, afterPut: func(key string) error {
		if key == "_nexus/CURRENT" {
			return ErrPreconditionFailed
		}
		return nil
	}}
	publish(t, w, Bronze, "orders", "r2", 2)
	s, err := w.Commit(CommitInfo{RunID: "r2"})
	if err != nil {
		t.Fatalf("a commit whose pointer swap succeeded: %v", err)
	}
	if m, err := open(false).Manifest(Bronze, "orders"); err != nil || m.RunID != "r2" || s.RunID != "r2" {
		t.Errorf("current %+v %v", m, err)
	}
}

// A mirror older than a day is swept by the next process, unless a live
// handle (a server up for days) still uses it.
func TestRemoteSweepLeavesALiveMirror(t *testing.T) {
	open, _ := remoteLake(t)
	w := open(true)
	publish(t, w, Bronze, "orders", "r1", 1)
	if _, err := w.Commit(CommitInfo{RunID: "r1"}); err != nil {
		t.Fatal(err)
	}
	live := open(false)
	dead := filepath.Join(filepath.Dir(live.remote.mirror), "lake-dead")
	if err := os.MkdirAll(filepath.Join(dead, "_nexus"), 0o755); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	for _, d := range []string{live.remote.mirror, dead} {
		if err := os.Chtimes(d, old, old); err != nil {
			t.Fatal(err)
		}
	}
	open(false) // sweeps
	if _, err := os.Stat(dead); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the mirror nobody uses: %v", err)
	}
	if _, err := live.Reopen(); err != nil {
		t.Errorf("the live handle after a sweep: %v", err)
	}
	if _, err := os.Stat(filepath.Join(live.remote.mirror, "_nexus", "CURRENT")); err != nil {
		t.Errorf("the live mirror: %v", err)
	}
}

// Vacuum on the store: what no kept snapshot references goes (replaced
// versions, their manifests and Athena's, snapshots past retention, a dead
// writer's uploads and snapshot), but only once older than the grace: a
// file written just now may be a commit in progress on another machine.
// The current snapshot stays whole, and a plan deletes nothing.
func TestRemoteVacuum(t *testing.T) {
	open, st := remoteLake(t)
	ctx := context.Background()
	w := open(true)
	var orders []*Manifest
	for i, run := range []string{"r1", "r2", "r3"} {
		orders = append(orders, publish(t, w, Bronze, "orders", run, int64(i+1)))
		if i == 0 {
			publish(t, w, Bronze, "customers", run, 5)
		}
		if _, err := w.Commit(CommitInfo{RunID: run}); err != nil {
			t.Fatal(err)
		}
	}
	// A writer killed mid-commit: its upload and its snapshot, never current.
	for key, body := range map[string]string{
		"bronze/orders/v9-dead/part-0.parquet": parquetish("half"),
		"_nexus/snapshots/0000000009.json":     `{"id": 9, "parent": 3}`,
	} {
		if _, err := st.Put(ctx, key, strings.NewReader(body), int64(len(body)), PutCondition{}); err != nil {
			t.Fatal(err)
		}
	}
	keys := func() map[string]bool {
		out := map[string]bool{}
		if err := st.List(ctx, "", func(oi ObjectInfo) bool { out[oi.Key] = true; return true }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := keys()
	ret := Retention{Keep: 1, Grace: time.Hour}
	res, err := w.Vacuum(ctx, ret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Snapshots)+len(res.Versions)+len(res.Manifests) != 0 || res.Young != 1 {
		t.Fatalf("within the grace: %+v", res)
	}
	later := time.Now().Add(2 * time.Hour)
	plan, err := open(false).VacuumPlan(ctx, ret, later)
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(); len(got) != len(before) {
		t.Fatalf("a plan deleted %d object(s)", len(before)-len(got))
	}
	res, err = w.Vacuum(ctx, ret, later)
	if err != nil {
		t.Fatal(err)
	}
	if res.Objects != plan.Objects || len(res.Versions) != len(plan.Versions) {
		t.Errorf("plan %+v, vacuum %+v", plan, res)
	}
	wantVersions := []string{orders[0].Dir, orders[1].Dir, "bronze/orders/v9-dead"}
	sortStrings(wantVersions)
	if strings.Join(res.Versions, " ") != strings.Join(wantVersions, " ") {
		t.Errorf("versions removed %v, want %v", res.Versions, wantVersions)
	}
	if strings.Join(fmtIDs(res.Snapshots), " ") != "1 2 9" {
		t.Errorf("snapshots removed %v, want 1 2 9", res.Snapshots)
	}
	after := keys()
	for k := range after {
		for _, m := range orders[:2] {
			if strings.HasPrefix(k, m.Dir+"/") || strings.HasPrefix(k, AthenaManifestDir(m)+"/") || k == manifestRel(m.Layer, m.Table, m.Dir) {
				t.Errorf("left: %s", k)
			}
		}
	}
	// What the current snapshot needs is all there: a new reader pulls it.
	r := open(false)
	for _, table := range []string{"orders", "customers"} {
		if _, err := r.Manifest(Bronze, table); err != nil {
			t.Errorf("after vacuum, %s: %v", table, err)
		}
	}
	if !after[AthenaManifestDir(orders[2])+"/manifest"] {
		t.Errorf("the current version's Athena manifest went")
	}
}

func sortStrings(s []string) {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
}

func fmtIDs(ids []int64) []string {
	var out []string
	for _, id := range ids {
		out = append(out, strconv.FormatInt(id, 10))
	}
	return out
}

// A named lock on S3 is a lease: a second holder is refused with who holds
// it; a holder that stops renewing (it died) loses it after its TTL to the
// next taker; a holder whose lease was taken over does not free the new
// holder's when it lets go; renewal keeps a live holder's lease.
func TestRemoteLease(t *testing.T) {
	open, st := remoteLake(t)
	w := open(true)
	publish(t, w, Bronze, "orders", "r1", 1)
	if _, err := w.Commit(CommitInfo{RunID: "r1"}); err != nil {
		t.Fatal(err)
	}
	a, b := open(true), open(true)
	a.remote.leaseTTL, b.remote.leaseTTL = 600*time.Millisecond, 600*time.Millisecond
	unlockA, lostA, err := a.LockNamed("scheduler")
	if err != nil {
		t.Fatal(err)
	}
	// Renewed: still held well past one TTL.
	time.Sleep(1500 * time.Millisecond)
	if _, _, err := b.LockNamed("scheduler"); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid") {
		t.Fatalf("a second holder of a live lease: %v", err)
	}
	// Another name is another lock.
	unlockCycle, _, err := b.LockNamed("cycle")
	if err != nil {
		t.Fatal(err)
	}
	unlockCycle()
	// A takes a look at a lease that its holder stopped renewing: once
	// expired, it is taken over.
	stale := `{"owner": "dead host pid 1", "expires": "2000-01-01T00:00:00Z"}`
	if _, err := st.Put(context.Background(), "_nexus/locks/dead.json", strings.NewReader(stale), int64(len(stale)), PutCondition{}); err != nil {
		t.Fatal(err)
	}
	unlockDead, _, err := b.LockNamed("dead")
	if err != nil {
		t.Fatalf("an expired lease: %v", err)
	}
	unlockDead()
	if _, _, err := getBytes(context.Background(), st, "_nexus/locks/dead.json"); !errors.Is(err, ErrObjectNotFound) {
		t.Errorf("released lease: %v", err)
	}
	unlockA()
	unlockB, lostB, err := b.LockNamed("scheduler")
	if err != nil {
		t.Fatalf("after the holder let go: %v", err)
	}
	// B stalls and its lease is taken over (written by another holder):
	// B's renewal fails, and its late release leaves the new lease alone.
	other := `{"owner": "other host pid 2", "expires": "2999-01-01T00:00:00Z"}`
	if _, err := st.Put(context.Background(), "_nexus/locks/scheduler.json", strings.NewReader(other), int64(len(other)), PutCondition{}); err != nil {
		t.Fatal(err)
	}
	// B's next renewal sees it: B is told, to stop acting as the holder.
	select {
	case <-lostB:
	case <-time.After(time.Minute):
		t.Fatal("the lease was taken over; its former holder was not told")
	}
	select {
	case <-lostA:
		t.Error("a lease released by its holder was reported lost")
	default:
	}
	unlockB()
	if got := readObject(t, st, "_nexus/locks/scheduler.json"); got != other {
		t.Errorf("the lease taken over after a late release: %q", got)
	}
}

// An upload that took longer than a vacuum's grace: another machine's
// vacuum deleted its first files (no snapshot listed them yet). The commit
// puts them again before its snapshot names them.
func TestRemoteLongUploadSurvivesAVacuum(t *testing.T) {
	open, st := remoteLake(t)
	w := open(true)
	m := publish(t, w, Bronze, "orders", "r1", 1)
	w.remote.recheck = time.Nanosecond // every upload counts as long
	vacuumed := false
	w.remote.store = &faultStore{ObjectStore: w.remote.store, afterPut: func(key string) error {
		if key == m.Files[0].Path && !vacuumed {
			// Once up, a vacuum elsewhere takes it (once).
			vacuumed = true
			if err := st.Delete(context.Background(), key); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	}}
	if _, err := w.Commit(CommitInfo{RunID: "r1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Head(context.Background(), m.Files[0].Path); err != nil {
		t.Errorf("the committed snapshot lists %s, which the store lacks: %v", m.Files[0].Path, err)
	}
}

// A writer that vacuums again (a stream worker, every few minutes) reads
// only the snapshots new since its last vacuum, not every one the store
// keeps; one the store holds changed is read again.
func TestRemoteVacuumReadsNewSnapshotsOnly(t *testing.T) {
	open, store := remoteLake(t)
	w := open(true)
	var mu sync.Mutex // the snapshots are read a few at a time
	var gets []string
	w.remote.store = &faultStore{ObjectStore: w.remote.store, getErr: func(key string) error {
		if strings.Contains(key, "/snapshots/") {
			mu.Lock()
			gets = append(gets, path.Base(key))
			mu.Unlock()
		}
		return nil
	}}
	commit := func(run string) {
		t.Helper()
		publish(t, w, Bronze, "orders", run, 1)
		if _, err := w.Commit(CommitInfo{RunID: run}); err != nil {
			t.Fatal(err)
		}
	}
	vacuum := func() []string {
		t.Helper()
		gets = nil
		if _, err := w.Vacuum(context.Background(), DefaultRetention(), time.Now()); err != nil {
			t.Fatal(err)
		}
		slices.Sort(gets)
		return gets
	}
	commit("r1")
	commit("r2")
	commit("r3")
	if got := vacuum(); len(got) != 3 {
		t.Fatalf("first vacuum read snapshots %v, want the 3", got)
	}
	commit("r4")
	if got, want := vacuum(), []string{"0000000004.json"}; !slices.Equal(got, want) {
		t.Errorf("second vacuum read snapshots %v, want %v", got, want)
	}
	// Snapshot 2 rewritten in the store (another size): read again.
	b := readObject(t, store, snapshotRel(2))
	b = strings.Replace(b, "{", "{ ", 1)
	if _, err := store.Put(context.Background(), snapshotRel(2), strings.NewReader(b), int64(len(b)), PutCondition{}); err != nil {
		t.Fatal(err)
	}
	if got, want := vacuum(), []string{"0000000002.json"}; !slices.Equal(got, want) {
		t.Errorf("after snapshot 2 changed, vacuum read %v, want %v", got, want)
	}
}

// A run record this machine pulled while its run was going is brought up to
// date once the run finishes, also when more than runsKept newer records
// came since: otherwise the next run here would take the stale copy for a
// run its own process left unfinished (and write it back over the
// finished one).
func TestRemoteRefreshesAStaleRunRecord(t *testing.T) {
	srv := s3test.Start(t)
	root := "s3://" + srv.Bucket + "/lk"
	opts := func() RemoteOptions {
		return RemoteOptions{S3: S3Options{Endpoint: srv.Endpoint}, CacheDir: t.TempDir()}
	}
	ctx := context.Background()
	here, there := opts(), opts() // two machines
	w, err := OpenRemote(ctx, root, there)
	if err != nil {
		t.Fatal(err)
	}
	commit := func(run string) {
		t.Helper()
		publish(t, w, Bronze, "orders", run, 1)
		if _, err := w.Commit(CommitInfo{RunID: run}); err != nil {
			t.Fatal(err)
		}
	}
	old := "runs/20260101T000000Z-000000.json"
	running, finished := `{"status":"running"}`, `{"status":"succeeded","snapshot":1}`
	if err := w.SaveMeta(old, []byte(running)); err != nil {
		t.Fatal(err)
	}
	commit("r1")
	r, err := OpenRemoteRead(ctx, root, here)
	if err != nil {
		t.Fatal(err)
	}
	local := r.MetaDir(filepath.FromSlash(old))
	if b, err := os.ReadFile(local); err != nil || string(b) != running {
		t.Fatalf("the record as pulled during its run: %q, %v", b, err)
	}
	if err := w.SaveMeta(old, []byte(finished)); err != nil {
		t.Fatal(err)
	}
	for i := range runsKept {
		rel := "runs/20260102T" + strconv.Itoa(100000+i) + "Z-000000.json"
		if err := w.SaveMeta(rel, []byte(`{"status":"succeeded"}`)); err != nil {
			t.Fatal(err)
		}
	}
	unseen := "runs/20260101T000001Z-000000.json" // older than the newest, never pulled
	if err := w.SaveMeta(unseen, []byte(finished)); err != nil {
		t.Fatal(err)
	}
	commit("r2")
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(local); err != nil || string(b) != finished {
		t.Errorf("after the run finished and %d newer records: the copy here is %q (%v), want %q", runsKept, b, err, finished)
	}
	if _, err := os.Stat(r.MetaDir(filepath.FromSlash(unseen))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an old record never pulled was pulled: %v", err)
	}
}

// On an object store, the suggested commands' --lake comes with the
// arguments that reach the store (RemoteOptions.Args), quoted.
func TestRemoteFlag(t *testing.T) {
	srv := s3test.Start(t)
	cache := filepath.Join(t.TempDir(), "my cache")
	o := RemoteOptions{S3: S3Options{Endpoint: srv.Endpoint}, CacheDir: cache, Args: []string{"--s3-endpoint", srv.Endpoint, "--cache-dir", cache}}
	want := "--lake s3://" + srv.Bucket + "/lk --s3-endpoint " + srv.Endpoint + " --cache-dir '" + cache + "'"
	// An empty prefix: the command that makes a lake there reaches it.
	if _, err := OpenRemoteRead(context.Background(), "s3://"+srv.Bucket+"/lk", o); err == nil || !strings.Contains(err.Error(), "nexus run "+want) {
		t.Errorf("reading an empty prefix: %v, want it to suggest nexus run %s", err, want)
	}
	lk, err := OpenRemote(context.Background(), "s3://"+srv.Bucket+"/lk", o)
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Release()
	if got := lk.Flag(); got != want {
		t.Errorf("Flag() = %s, want %s", got, want)
	}
}
