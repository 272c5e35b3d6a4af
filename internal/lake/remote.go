package lake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
)

// A lake on an object store is worked on through a mirror: a local lake
// directory holding the metadata of the snapshot it opened (the pointer,
// the snapshot, its manifests) and, as hard links into a shared cache, the
// data files those manifests list. DuckDB reads local files only, and data
// files are immutable per version, so the cache never goes stale. A writer
// builds in its mirror as on a local lake; its commit uploads what it
// wrote, then the snapshot (If-None-Match: *), then swaps the pointer with
// If-Match on the ETag it opened: two writers on two machines can never
// both commit, and the loser's files are orphans a vacuum takes.

// RemoteOptions say where a remote lake's mirror and cache live.
type RemoteOptions struct {
	S3 S3Options
	// CacheDir holds the data file cache and the mirrors (default: the
	// user's cache directory, nexus/).
	CacheDir string
	// Logger says what a pull fetched (files from the cache, downloaded).
	Logger *slog.Logger
	// StateDir holds the scheduler's run store of a lake on S3 (StateDir).
	StateDir string
	// CacheBytes bounds the data file cache: past it, the files used
	// longest ago are removed after a pull (0: 20 GiB). A mirror in use
	// keeps its own links to its files.
	CacheBytes int64
	// MetadataOnly mirrors the pointer, snapshot and manifests without the
	// data files: for commands that read no table (vacuum).
	MetadataOnly bool
	// LeaseTTL is how long a named lock (LockNamed) outlives its holder's
	// last renewal (0: DefaultLeaseTTL).
	LeaseTTL time.Duration
	// Args are the command-line arguments besides --lake that reach the
	// store as this handle did (its S3 endpoint, region, profile), as the
	// user gave them: Flag repeats them, so that a command a message
	// suggests reaches the same store.
	Args []string
	// AfterCommit, when set, runs after each commit to the store, with the
	// handle pinned to the new snapshot (a catalog kept in step). Its
	// failure is logged: the commit stands.
	AfterCommit func(ctx context.Context, l *Lake) error
}

// remote is a lake handle's object store side.
type remote struct {
	store ObjectStore
	// etag of the pointer the mirror was pulled from ("" when the remote
	// lake had none: its first commit creates it).
	etag string
	// pulled: lake-relative paths of the data files that came from the
	// store (everything else a commit lists, this handle wrote).
	pulled map[string]bool
	mirror string
	cache  string
	// inUse holds the mirror's lock (shared) for the handle's life.
	inUse *os.File
	// syncMu: one pull into the mirror at a time.
	syncMu sync.Mutex
	// hits and misses of the data file cache, bytes downloaded, files
	// the store could not give.
	hits, misses, downloaded, damaged atomic.Int64
	log                               *slog.Logger
	// metaOnly: the mirror has no data files (RemoteOptions.MetadataOnly).
	metaOnly bool
	leaseTTL time.Duration
	args     []string // RemoteOptions.Args
	// recheck: after an upload this long its files are checked again
	// (0: recheckAfter's default; tests set it).
	recheck     time.Duration
	afterCommit func(ctx context.Context, l *Lake) error
	// snaps: the store's snapshots this handle read, by id, with what the
	// listing said of each: a long-lived writer (a stream worker) that
	// vacuums again reads only the snapshots new since, not one per
	// micro-batch of the last hour each time. Guarded by snapsMu.
	snaps   map[int64]cachedSnapshot
	snapsMu sync.Mutex
}

// cachedSnapshot is a parsed snapshot object and the listing it was read
// under: an object listed with another size, time or ETag is read again.
type cachedSnapshot struct {
	info ObjectInfo
	s    *Snapshot
}

// OpenRemoteRead opens the lake at an s3:// root for reading: a mirror of
// its current snapshot, in the cache (nothing is written to the store).
func OpenRemoteRead(ctx context.Context, root string, o RemoteOptions) (*Lake, error) {
	l, err := openRemote(ctx, root, o, OpenRead)
	if err == nil && l.remote.etag == "" {
		// As OpenRead of a directory that holds no lake: a typo in the
		// prefix is said, not read as an empty lake.
		at := ""
		if o.S3.Endpoint != "" {
			at = " (server " + o.S3.Endpoint + ")"
		}
		err = errors.Join(fmt.Errorf("%w at %s%s: nothing committed there (`nexus run %s` makes one)", ErrNoLake, l.remote.store, at, l.Flag()), l.Release())
		return nil, err
	}
	return l, err
}

// OpenRemote opens the lake at an s3:// root for writing (creating it when
// the store holds none): a mirror of its current snapshot whose commits go
// to the store.
func OpenRemote(ctx context.Context, root string, o RemoteOptions) (*Lake, error) {
	return openRemote(ctx, root, o, Open)
}

// openRemote pulls a mirror and opens it with open (for reading or writing).
func openRemote(ctx context.Context, root string, o RemoteOptions, open func(string) (*Lake, error)) (*Lake, error) {
	r, err := pullRemote(ctx, root, o)
	if err != nil {
		return nil, err
	}
	l, err := open(r.mirror)
	if err != nil {
		return nil, errors.Join(err, (&Lake{remote: r}).Release())
	}
	l.remote = r
	return l, nil
}

// Release removes a remote lake's mirror (its metadata and links; the
// cache keeps the data files): call it when the command is done with the
// lake. A local lake has nothing to release. Mirrors of processes that
// died are swept a day later.
func (l *Lake) Release() error {
	if l.remote == nil {
		return nil
	}
	r := l.remote
	err := os.RemoveAll(r.mirror)
	if r.inUse != nil {
		// The lock file goes with its mirror; closing it lets go of the lock.
		err = errors.Join(err, os.Remove(r.mirror+mirrorLockSuffix), r.inUse.Close())
		r.inUse = nil
	}
	return err
}

// Remote says whether the lake lives on an object store (where Athena may
// read its files through the catalog, which knows nothing of
// File.Deleted).
func (l *Lake) Remote() bool { return l.remote != nil }

// Location names where the lake lives: its s3:// URL, or its directory.
func (l *Lake) Location() string {
	if l.remote != nil {
		return l.remote.store.String()
	}
	return l.Root
}

// Flag is the --lake flag that names this lake in a command a message
// suggests, so that the command pasted as it is acts on this lake and not
// on the default one; on an object store, with the arguments that reach it
// (RemoteOptions.Args).
func (l *Lake) Flag() string {
	args := []string{"--lake", ShellArg(l.Location())}
	if l.remote != nil {
		for _, a := range l.remote.args {
			args = append(args, ShellArg(a))
		}
	}
	return strings.Join(args, " ")
}

// ShellArg quotes s for a POSIX shell when it needs it, for the commands
// messages suggest.
func ShellArg(s string) string {
	if s != "" && safeShellArg.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var safeShellArg = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// StateDir is where this machine keeps what it owns of a lake on an object
// store that is not a cache (the scheduler's run store and its pause):
// o.StateDir when given, else the user's state directory ($XDG_STATE_HOME,
// or ~/.local/state, then nexus/), then <bucket>/<prefix>. Not under the
// cache directory: wiping a cache must not lose a run history.
func StateDir(root string, o RemoteOptions) (string, error) {
	loc, err := ParseS3(root)
	if err != nil {
		return "", err
	}
	base := o.StateDir
	if base == "" {
		base = os.Getenv("XDG_STATE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("state directory for %s: %w (set XDG_STATE_HOME or --state-dir)", root, err)
			}
			base = filepath.Join(home, ".local", "state")
		}
		base = filepath.Join(base, "nexus")
	}
	return filepath.Join(base, loc.Bucket, filepath.FromSlash(loc.Prefix)), nil
}

func cacheRoot(o RemoteOptions) (string, error) {
	if o.CacheDir != "" {
		return o.CacheDir, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("cache directory: %w (set --cache-dir)", err)
	}
	return filepath.Join(d, "nexus"), nil
}

// pullRemote makes a fresh mirror of the remote lake's current snapshot.
func pullRemote(ctx context.Context, root string, o RemoteOptions) (*remote, error) {
	loc, err := ParseS3(root)
	if err != nil {
		return nil, err
	}
	store, err := NewS3Store(ctx, loc, o.S3)
	if err != nil {
		return nil, err
	}
	cache, err := cacheRoot(o)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"objects", "mirrors"} {
		if err := os.MkdirAll(filepath.Join(cache, d), 0o755); err != nil {
			return nil, fmt.Errorf("cache %s: %w", cache, err)
		}
	}
	sweepMirrors(filepath.Join(cache, "mirrors"), mirrorGrace)
	// One mirror per handle: processes never share a mirror's metadata.
	mirror, err := os.MkdirTemp(filepath.Join(cache, "mirrors"), "lake-")
	if err != nil {
		return nil, fmt.Errorf("cache %s: %w", cache, err)
	}
	r := &remote{store: store, pulled: map[string]bool{}, mirror: mirror, cache: cache, log: o.Logger, metaOnly: o.MetadataOnly, leaseTTL: o.LeaseTTL, afterCommit: o.AfterCommit, args: slices.Clone(o.Args)}
	// In use while the process lives (the kernel drops the lock when it
	// exits): another process's sweep leaves the mirror of a server up
	// for days alone.
	r.inUse, err = os.OpenFile(mirror+mirrorLockSuffix, os.O_CREATE|os.O_RDWR, 0o644)
	if err == nil {
		err = syscall.Flock(int(r.inUse.Fd()), syscall.LOCK_SH)
	}
	if err != nil {
		_ = os.RemoveAll(mirror) // nothing in it yet; the lock's error is the one to tell
		_ = os.Remove(mirror + mirrorLockSuffix)
		return nil, fmt.Errorf("cache %s: lock the mirror: %w", cache, err)
	}
	start := time.Now()
	if err := r.pull(ctx, cache); err != nil {
		// A failed pull leaves nothing behind; its error is the one to tell.
		_ = (&Lake{remote: r}).Release()
		return nil, err
	}
	evicted, err := evictCache(filepath.Join(cache, "objects"), o.CacheBytes)
	if err != nil && o.Logger != nil {
		o.Logger.Warn("cache eviction", "err", err)
	}
	if o.Logger != nil {
		o.Logger.Info("lake mirrored from the object store", "evicted", evicted, "lake", store.String(), "snapshot_files", r.hits.Load()+r.misses.Load(),
			"cache_hits", r.hits.Load(), "downloaded", r.misses.Load(), "bytes_downloaded", r.downloaded.Load(), "took", time.Since(start))
	}
	return r, nil
}

// mirrorGrace: a mirror that no handle holds is removed by the next open
// once this old. Its lock is what tells a live mirror; the grace only
// covers the instant between a mirror's creation and its lock (a command
// killed midway, or cut off by a closed pipe, leaves its mirror behind).
const mirrorGrace = 10 * time.Minute

// mirrorLockSuffix names a mirror's lock file, beside it: a handle holds
// it shared while it lives.
const mirrorLockSuffix = ".inuse"

// sweepMirrors removes mirrors older than age that no live handle holds
// (of processes long gone); what cannot be removed now is tried again
// next time.
func sweepMirrors(dir string, age time.Duration) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) <= age {
			continue
		}
		p := filepath.Join(dir, e.Name())
		lock, err := os.OpenFile(p+mirrorLockSuffix, os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			continue
		}
		if syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			// Nobody uses it: the mirror, then its lock, go.
			if os.RemoveAll(p) == nil {
				_ = os.Remove(p + mirrorLockSuffix)
			}
		}
		lock.Close() // releases the lock
	}
}

// getBytes reads a small object whole.
func getBytes(ctx context.Context, st ObjectStore, key string) ([]byte, ObjectInfo, error) {
	rc, oi, err := st.Get(ctx, key)
	if err != nil {
		return nil, oi, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, oi, fmt.Errorf("get %s/%s: %w", st, key, err)
	}
	return b, oi, nil
}

// pull copies the pointer, the current snapshot and its manifests into the
// mirror, and links the data files they list from the cache (downloading
// the ones it lacks).
func (r *remote) pull(ctx context.Context, cache string) error {
	meta := func(rel string) string { return filepath.Join(r.mirror, filepath.FromSlash(rel)) }
	// Atomic: a server reads the mirror while Sync pulls into it.
	write := func(rel string, b []byte) error {
		if err := writeFileAtomic(meta(rel), b, false); err != nil {
			return fmt.Errorf("mirror %s: %w", r.mirror, err)
		}
		return nil
	}
	if err := os.MkdirAll(meta(metaDir+"/snapshots"), 0o755); err != nil {
		return err
	}
	pb, oi, err := getBytes(ctx, r.store, metaDir+"/CURRENT")
	if errors.Is(err, ErrObjectNotFound) {
		return nil // an empty lake: the first commit creates it
	}
	if err != nil {
		return err
	}
	var p pointer
	if err := json.Unmarshal(pb, &p); err != nil {
		return fmt.Errorf("%s/%s/CURRENT: %w: %v", r.store, metaDir, ErrDamagedPointer, err)
	}
	snapRel := snapshotRel(p.Snapshot)
	sb, _, err := getBytes(ctx, r.store, snapRel)
	if err != nil {
		return err
	}
	var s Snapshot
	if err := json.Unmarshal(sb, &s); err != nil {
		return fmt.Errorf("%s/%s: %w", r.store, snapRel, err)
	}
	if err := write(snapRel, sb); err != nil {
		return err
	}
	commit, err := r.pullTables(ctx, cache, &s)
	if err != nil {
		return err
	}
	if err := r.pullRuns(ctx); err != nil {
		return err
	}
	// The pointer last: the mirror is a lake once it is whole.
	if err := write(metaDir+"/CURRENT", pb); err != nil {
		return err
	}
	// Only now is the pull done: a Sync that failed midway must try again
	// (it compares this ETag), and fetch again what it did not get.
	commit()
	r.etag = oi.ETag
	return nil
}

// pullTables brings the manifests of snapshot s that the mirror lacks and
// (unless the handle reads no table) the data files they list; the returned
// function marks them pulled, once the caller's pull is whole. A manifest
// the store lacks is left out and an unreadable one copied as it is: the
// table is damaged, its readers say so, the lake is not.
func (r *remote) pullTables(ctx context.Context, cache string, s *Snapshot) (commit func(), err error) {
	var (
		files     []File
		manifests []string
	)
	for _, ref := range s.Tables {
		if r.pulled[ref.Manifest] {
			continue // immutable, and in the mirror already
		}
		mb, _, err := getBytes(ctx, r.store, ref.Manifest)
		if errors.Is(err, ErrObjectNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := writeFileAtomic(filepath.Join(r.mirror, filepath.FromSlash(ref.Manifest)), mb, false); err != nil {
			return nil, fmt.Errorf("mirror %s: %w", r.mirror, err)
		}
		manifests = append(manifests, ref.Manifest)
		var m Manifest
		if json.Unmarshal(mb, &m) == nil {
			files = append(files, m.Files...)
		}
	}
	if r.metaOnly {
		files = nil
	}
	if err := r.fetch(ctx, cache, files); err != nil {
		return nil, err
	}
	return func() {
		for _, m := range manifests {
			r.pulled[m] = true
		}
		for _, f := range files {
			r.pulled[f.Path] = true
		}
	}, nil
}

// fetch links data files into the mirror from the cache, downloading the
// missing ones, a few at a time.
func (r *remote) fetch(ctx context.Context, cache string, files []File) error {
	// Every failure is told (each names its file), not only the first.
	var (
		g    errgroup.Group
		mu   sync.Mutex
		errs error
	)
	g.SetLimit(8)
	seen := map[string]bool{}
	for _, f := range files {
		if r.pulled[f.Path] || seen[f.Path] {
			continue
		}
		seen[f.Path] = true
		g.Go(func() error {
			if err := r.fetchOne(ctx, cache, f); err != nil {
				mu.Lock()
				errs = errors.Join(errs, err)
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait() // the goroutines return nil: their errors are in errs
	return errs
}

// cacheKey names a data file in the cache: files are immutable per version
// (their path holds the version and the run), so store, path and size name
// their bytes.
func (r *remote) cacheKey(f File) string {
	h := sha256.Sum256([]byte(r.store.String() + "\x00" + f.Path + "\x00" + fmt.Sprint(f.Bytes)))
	return hex.EncodeToString(h[:])
}

func (r *remote) fetchOne(ctx context.Context, cache string, f File) error {
	obj := filepath.Join(cache, "objects", r.cacheKey(f))
	if info, err := os.Stat(obj); err != nil || info.Size() != f.Bytes {
		err := r.download(ctx, f, obj)
		if errors.Is(err, ErrObjectNotFound) || errors.Is(err, errSizeMismatch) {
			// A damaged table, not a damaged lake: the file is left out of
			// the mirror, where the lake's checks find it missing (doctor
			// says so; the other tables keep working).
			r.damaged.Add(1)
			if r.log != nil {
				r.log.Warn("a data file of the snapshot cannot be read from the store: its table is damaged", "file", f.Path, "err", err)
			}
			return nil
		}
		if err != nil {
			return err
		}
		r.misses.Add(1)
		r.downloaded.Add(f.Bytes)
	} else {
		r.hits.Add(1)
		now := time.Now()
		_ = os.Chtimes(obj, now, now) // recency, for the cache's eviction; best effort
	}
	dst := filepath.Join(r.mirror, filepath.FromSlash(f.Path))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.Link(obj, dst); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("cache %s: link %s: %w", cache, f.Path, err)
	}
	return nil
}

// errSizeMismatch: an object is not of the size its manifest says.
var errSizeMismatch = errors.New("size mismatch")

// download writes an object to the cache: to a temporary name, renamed
// once whole and of the size the manifest says, so that two processes
// fetching the same file at once never see half of it.
func (r *remote) download(ctx context.Context, f File, obj string) error {
	rc, _, err := r.store.Get(ctx, f.Path)
	if err != nil {
		return err
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(filepath.Dir(obj), ".get-*")
	if err != nil {
		return err
	}
	n, err := io.Copy(tmp, rc)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != f.Bytes {
		err = fmt.Errorf("%w: %d bytes, the manifest says %d", errSizeMismatch, n, f.Bytes)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), obj)
	}
	if err != nil {
		_ = os.Remove(tmp.Name()) // the failed download's own error is the one to tell
		return fmt.Errorf("get %s/%s: %w", r.store, f.Path, err)
	}
	return nil
}

// publish uploads a commit: the data files and manifests this handle wrote,
// the snapshot (created, never overwritten), then the pointer, swapped only
// if it is still the one the mirror was pulled from.
func (r *remote) publish(ctx context.Context, l *Lake, s *Snapshot, snapBytes, pointerBytes []byte) error {
	var (
		uploads []string
		written []*Manifest // the new versions: their files, and Athena's view of them
	)
	for _, ref := range s.Tables {
		if r.pulled[ref.Manifest] {
			continue
		}
		m, err := readManifestFile(l.Abs(ref.Manifest))
		if err != nil {
			return err
		}
		written = append(written, m)
		for _, f := range m.Files {
			if !r.pulled[f.Path] {
				uploads = append(uploads, f.Path)
			}
		}
		uploads = append(uploads, ref.Manifest)
	}
	started := time.Now()
	if err := r.upload(ctx, l, uploads); err != nil {
		return err
	}
	// Another machine's vacuum deletes a file no snapshot lists once it is
	// older than its grace (an hour at least): after a long upload, the
	// first files may be gone. They are put again before the commit names
	// them.
	if recheck := r.recheckAfter(); time.Since(started) >= recheck {
		if err := r.reupload(ctx, l, uploads); err != nil {
			return err
		}
	}
	// Athena's view of the new versions: their symlink manifests (small,
	// written before the snapshot that makes the versions current).
	for _, m := range written {
		for rel, b := range AthenaManifests(m, r.store.String()) {
			if _, err := r.store.Put(ctx, rel, bytes.NewReader(b), int64(len(b)), PutCondition{}); err != nil {
				return fmt.Errorf("commit to %s: %w; nothing of this run is visible", r.store, err)
			}
		}
	}
	snapRel := snapshotRel(s.ID)
	if _, err := r.store.Put(ctx, snapRel, bytes.NewReader(snapBytes), int64(len(snapBytes)), PutCondition{IfNoneMatch: true}); err != nil {
		return r.lost(err, s.ID)
	}
	cond := PutCondition{IfMatch: r.etag, IfNoneMatch: r.etag == ""}
	oi, err := r.store.Put(ctx, metaDir+"/CURRENT", bytes.NewReader(pointerBytes), int64(len(pointerBytes)), cond)
	if errors.Is(err, ErrPreconditionFailed) {
		// The SDK retries a PUT whose answer was lost: when the first try
		// swapped the pointer, the retry fails its own condition. Snapshot
		// s.ID is this writer's (created above, If-None-Match), so a
		// pointer naming it is this commit, not another writer's.
		b, cur, gerr := getBytes(ctx, r.store, metaDir+"/CURRENT")
		switch {
		case gerr == nil && bytes.Equal(b, pointerBytes):
			oi, err = cur, nil
		case gerr == nil:
			// Another writer's pointer: this snapshot is never current;
			// removing it is tidiness (the next commit's id skips it).
			_ = r.store.Delete(ctx, snapRel)
		}
	}
	if err != nil {
		return r.lost(err, s.ID)
	}
	r.etag = oi.ETag
	for _, p := range uploads {
		r.pulled[p] = true
	}
	return nil
}

// recheckAfter is how long an upload may take before its files are
// checked again: well within ReaderPin, the shortest grace of a vacuum.
func (r *remote) recheckAfter() time.Duration {
	if r.recheck > 0 {
		return r.recheck
	}
	return ReaderPin / 2
}

// reupload puts again the files of rels the store no longer has.
func (r *remote) reupload(ctx context.Context, l *Lake, rels []string) error {
	var missing []string
	for _, rel := range rels {
		_, err := r.store.Head(ctx, rel)
		if errors.Is(err, ErrObjectNotFound) {
			missing = append(missing, rel)
			continue
		}
		if err != nil {
			return fmt.Errorf("commit to %s: %w; nothing of this run is visible", r.store, err)
		}
	}
	if len(missing) > 0 {
		r.logger().Warn("files of this commit were vacuumed during its long upload: put again", "files", len(missing), "lake", r.store.String())
		return r.upload(ctx, l, missing)
	}
	return nil
}

// lastSnapshotID is the highest snapshot id in the store (0: none). A
// writer killed (or cut off) between its snapshot and its pointer swap
// leaves a snapshot no pointer names; the mirror holds only the current
// one, so the next commit's id must come from the store, or every commit
// after would lose to that orphan as if to a concurrent writer.
func (r *remote) lastSnapshotID(ctx context.Context) (int64, error) {
	snaps, err := r.listSnapshots(ctx)
	if err != nil || len(snaps) == 0 {
		return 0, err
	}
	return snaps[len(snaps)-1].id, nil
}

// storedSnapshot is a snapshot object of the store.
type storedSnapshot struct {
	id int64
	ObjectInfo
}

// listSnapshots lists the store's snapshot objects, by id.
func (r *remote) listSnapshots(ctx context.Context) ([]storedSnapshot, error) {
	var out []storedSnapshot
	err := r.store.List(ctx, metaDir+"/snapshots/", func(oi ObjectInfo) bool {
		var id int64
		if _, err := fmt.Sscanf(path.Base(oi.Key), "%010d.json", &id); err == nil && id > 0 {
			out = append(out, storedSnapshot{id, oi})
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("list snapshots of %s: %w", r.store, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out, nil
}

// lost says a conditional write lost to another writer.
func (r *remote) lost(err error, id int64) error {
	if errors.Is(err, ErrPreconditionFailed) {
		return fmt.Errorf("commit to %s: %w: another writer committed first (snapshot %d is taken, or the pointer moved); nothing of this run is visible, run it again", r.store, ErrConcurrentCommit, id)
	}
	return fmt.Errorf("commit to %s: %w", r.store, err)
}

// upload puts files of the mirror to the store, a few at a time; the first
// failure (after the store's retries) stops the rest and is the error.
func (r *remote) upload(ctx context.Context, l *Lake, rels []string) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, rel := range rels {
		g.Go(func() error {
			f, err := os.Open(l.Abs(rel))
			if err != nil {
				return err
			}
			defer f.Close() // read only: nothing to lose
			info, err := f.Stat()
			if err != nil {
				return err
			}
			_, err = r.store.Put(ctx, rel, f, info.Size(), PutCondition{})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("commit to %s: uploading %d file(s): %w; nothing of this run is visible (the files it uploaded are orphans: no snapshot lists them)", r.store, len(rels), err)
	}
	return nil
}

// runsKept is how many of the newest run records a mirror brings along:
// enough for the history the reports and `check` show.
const runsKept = 200

// pullRuns copies the newest run records into the mirror, and any older
// one whose copy here differs in size from the store's: a record pulled
// while its run was going (a read on this machine during another's run)
// would otherwise stay unfinished here once it fell out of the newest,
// and a run of this machine would take it for one its own process left
// (pipeline.MarkAbandoned) and write it back over the finished one.
func (r *remote) pullRuns(ctx context.Context) error {
	var objs []ObjectInfo
	err := r.store.List(ctx, metaDir+"/runs/", func(oi ObjectInfo) bool {
		// Run records only: a dot file of runs/ is a mirror's own (the index
		// of their heads stays with the mirror that made it).
		if strings.HasSuffix(oi.Key, ".json") && !strings.HasPrefix(path.Base(oi.Key), ".") {
			objs = append(objs, oi)
		}
		return true
	})
	if err != nil {
		return err
	}
	var keys []string
	for i, oi := range objs {
		local := filepath.Join(r.mirror, filepath.FromSlash(oi.Key))
		if i < len(objs)-runsKept { // run ids sort by time
			info, err := os.Stat(local)
			if errors.Is(err, fs.ErrNotExist) || (err == nil && info.Size() == oi.Size) {
				continue
			}
		}
		keys = append(keys, oi.Key)
	}
	for _, k := range keys {
		b, _, err := getBytes(ctx, r.store, k)
		if err != nil {
			return err
		}
		if err := writeFileAtomic(filepath.Join(r.mirror, filepath.FromSlash(k)), b, false); err != nil {
			return fmt.Errorf("mirror %s: %w", r.mirror, err)
		}
	}
	return nil
}

// SaveLocalMeta is SaveMeta for a file of this machine's only (a cache):
// on an object store, the store does not get it.
func (l *Lake) SaveLocalMeta(rel string, b []byte) error {
	return writeFileAtomic(l.MetaDir(filepath.FromSlash(rel)), b, false)
}

// SaveMeta writes a file of the lake's metadata directory (rel is relative
// to it, e.g. runs/<id>.json) atomically; on an object store, the store
// has it too.
// Whether it may is the filesystem's (and the store's) to say: a
// read-only lake answers fs.ErrPermission.
func (l *Lake) SaveMeta(rel string, b []byte) error {
	if err := l.SaveLocalMeta(rel, b); err != nil {
		return err
	}
	if l.remote != nil {
		if _, err := l.remote.store.Put(context.Background(), metaDir+"/"+rel, bytes.NewReader(b), int64(len(b)), PutCondition{}); err != nil {
			return fmt.Errorf("save %s: %w", rel, err)
		}
	}
	return nil
}

// evictCache removes the cache's files used longest ago (a hit touches a
// file) until it holds at most max bytes; it returns how many it removed.
func evictCache(dir string, max int64) (int, error) {
	if max <= 0 {
		max = 20 << 30
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	type obj struct {
		path string
		size int64
		used time.Time
	}
	var objs []obj
	var total int64
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue // gone meanwhile, or a download in progress
		}
		objs = append(objs, obj{filepath.Join(dir, e.Name()), info.Size(), info.ModTime()})
		total += info.Size()
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].used.Before(objs[j].used) })
	n := 0
	for _, o := range objs {
		if total <= max {
			break
		}
		if err := os.Remove(o.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, err
		}
		total -= o.size
		n++
	}
	return n, nil
}

// Sync brings a remote lake's mirror up to the store's current snapshot
// (the pointer, the snapshot, its manifests, the new data files, the
// newest run records), so that Reopen then moves the handle to it; a
// local lake has nothing to do. The handle itself stays pinned.
func (l *Lake) Sync(ctx context.Context) error {
	if l.remote == nil {
		return nil
	}
	r := l.remote
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	oi, err := r.store.Head(ctx, metaDir+"/CURRENT")
	if errors.Is(err, ErrObjectNotFound) || err == nil && oi.ETag == r.etag {
		return nil
	}
	if err != nil {
		return err
	}
	return r.pull(ctx, r.cache)
}

// Current is the lake's current snapshot (nil when nothing was committed
// yet), the mirror of a lake on an object store brought up to date first
// (Sync): another process may have committed since the handle was pinned.
// The handle stays pinned where it was.
func (l *Lake) Current(ctx context.Context) (*Snapshot, error) {
	if err := l.Sync(ctx); err != nil {
		return nil, err
	}
	return l.currentSnapshot()
}

// OpenAny opens the lake at root, a directory or an s3:// URL (o says how
// to reach the store and where its mirror goes): for writing (Open,
// OpenRemote) or reading (OpenRead, OpenRemoteRead). Release the handle
// when done.
func OpenAny(ctx context.Context, root string, o RemoteOptions, write bool) (*Lake, error) {
	switch {
	case IsRemote(root) && write:
		return OpenRemote(ctx, root, o)
	case IsRemote(root):
		return OpenRemoteRead(ctx, root, o)
	case write:
		return Open(root)
	}
	return OpenRead(root)
}

// PublishMeta makes the files under the metadata directory rel (e.g.
// "reports") of a lake on an object store the store's too: the reports a
// run renders in its mirror would go with it. A local lake has them already.
func (l *Lake) PublishMeta(ctx context.Context, rel string) error {
	if l.remote == nil {
		return nil
	}
	var rels []string
	root := l.MetaDir(filepath.FromSlash(rel))
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		r, err := filepath.Rel(l.Root, p)
		if err != nil {
			return err
		}
		rels = append(rels, filepath.ToSlash(r))
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("publish %s: %w", rel, err)
	}
	if err := l.remote.upload(ctx, l, rels); err != nil {
		return fmt.Errorf("publish %s: %w", rel, err)
	}
	return nil
}

// snapshotIDs lists the store's snapshots, ascending.
func (r *remote) snapshotIDs(ctx context.Context) ([]int64, error) {
	snaps, err := r.listSnapshots(ctx)
	ids := make([]int64, len(snaps))
	for i, sn := range snaps {
		ids[i] = sn.id
	}
	return ids, err
}

// snapshotFile reads snapshot id from the store into the mirror (a
// snapshot is immutable) and returns its bytes.
func (r *remote) snapshotFile(ctx context.Context, id int64) ([]byte, error) {
	rel := snapshotRel(id)
	b, _, err := getBytes(ctx, r.store, rel)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(r.mirror, filepath.FromSlash(rel)), b, false); err != nil {
		return nil, fmt.Errorf("mirror %s: %w", r.mirror, err)
	}
	return b, nil
}

// pullSnapshot brings snapshot id into the mirror as pull does the current
// one: the snapshot, its manifests and (unless the handle reads no table)
// the data files they list. Time travel and rollback read it there.
func (r *remote) pullSnapshot(ctx context.Context, id int64) error {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	b, err := r.snapshotFile(ctx, id)
	if errors.Is(err, ErrObjectNotFound) {
		return fmt.Errorf("snapshot %d does not exist in %s or is no longer kept by retention (see `nexus snapshots`)", id, r.store)
	}
	if err != nil {
		return err
	}
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%s snapshot %d is damaged: %w", r.store, id, err)
	}
	commit, err := r.pullTables(ctx, r.cache, &s)
	if err != nil {
		return err
	}
	commit()
	return nil
}
