package lake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// ReaderPin is how long a reader may keep reading the snapshot it pinned
// after a newer one became current: no vacuum removes the files of a
// snapshot that was current this recently, whatever the retention asked.
const ReaderPin = time.Hour

// VacuumResult tells what Vacuum removed (or, for a plan, would remove).
type VacuumResult struct {
	Snapshots []int64  `json:"snapshots"`
	Versions  []string `json:"versions"` // version directories, lake-relative
	Manifests []string `json:"manifests"`
	// Objects and Bytes count what left the store: the files of the
	// versions, their manifests and Athena's symlink manifests, the
	// snapshots.
	Objects int   `json:"files"`
	Bytes   int64 `json:"bytes"`
	// Young counts the files no kept snapshot references that were kept
	// because they were written less than the grace ago: on an object
	// store they may be a run's uploads in progress on another machine.
	Young int `json:"young_unreferenced_files"`
	// Kept is how many snapshots retention keeps.
	Kept int `json:"snapshots_kept"`
}

// Vacuum deletes snapshots that retention no longer keeps, then every table
// version and manifest that no kept snapshot references (replaced versions
// and the orphans of crashed runs). On a local lake it must run under the
// writer lock with nothing pending; on an object store it works on the
// store itself, and leaves alone what was written less than the grace ago
// (another machine's run may be uploading it).
func (l *Lake) Vacuum(ctx context.Context, r Retention, now time.Time) (VacuumResult, error) {
	return l.vacuum(ctx, r, now, true, true)
}

// VacuumExpired is the vacuum that follows a commit. When retention lets a
// snapshot go, it is Vacuum. When none goes, nothing a snapshot referenced
// became garbage, and it stops after reading the snapshots' heads: the walk
// of every version and manifest, which grows with what retention keeps (a
// burst of drops, a backfill or the stream's first hour keep every snapshot
// for the grace hour), could only find the orphans of a crashed or failed
// run, which the next snapshot to expire, or Vacuum (`nexus vacuum`),
// removes.
func (l *Lake) VacuumExpired(ctx context.Context, r Retention, now time.Time) (VacuumResult, error) {
	return l.vacuum(ctx, r, now, true, false)
}

// VacuumPlan says what Vacuum would remove, removing nothing: it works on a
// lake opened for reading.
func (l *Lake) VacuumPlan(ctx context.Context, r Retention, now time.Time) (VacuumResult, error) {
	return l.vacuum(ctx, r, now, false, true)
}

// vacuum removes (apply) or lists what retention r does not keep; sweep
// says to look for orphans even when no snapshot expires.
func (l *Lake) vacuum(ctx context.Context, r Retention, now time.Time, apply, sweep bool) (VacuumResult, error) {
	res, err := l.vacuumAny(ctx, r, now, apply, sweep)
	// Lists, never null, in JSON.
	res.Snapshots, res.Versions, res.Manifests = nonNil(res.Snapshots), nonNil(res.Versions), nonNil(res.Manifests)
	return res, err
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (l *Lake) vacuumAny(ctx context.Context, r Retention, now time.Time, apply, sweep bool) (VacuumResult, error) {
	if apply && !l.writable {
		return VacuumResult{}, fmt.Errorf("vacuum: %w", ErrReadOnly)
	}
	if len(l.Pending()) > 0 {
		return VacuumResult{}, errors.New("vacuum: the handle has uncommitted versions")
	}
	if l.remote != nil {
		return l.remote.vacuum(ctx, l, r, now, apply)
	}
	if !sweep && l.settled() {
		if kept, expired, err := l.expiring(r, now); err == nil && !expired {
			l.clearStaging()
			return VacuumResult{Kept: kept}, nil
		}
		// An expiry, or heads that do not read: the whole vacuum, which
		// decides on the snapshots read whole and reports what is wrong.
	}
	res, err := l.vacuumLocal(r, now, apply)
	if err == nil && apply {
		l.clearStaging() // every unreferenced version is gone
	}
	return res, err
}

// settled reports whether this handle can have left no orphan: no other
// process left the staging marker (a run killed while it staged), and every
// version directory this handle staged, and did not remove, was mapped by a
// snapshot it committed (not a version published twice in one transaction,
// discarded, or staged and never published).
func (l *Lake) settled() bool {
	l.tx.mu.Lock()
	defer l.tx.mu.Unlock()
	if _, err := os.Stat(l.stagingMarker()); (err == nil && !l.tx.marked) || (err != nil && !errors.Is(err, fs.ErrNotExist)) {
		return false
	}
	return len(l.tx.staged) == 0
}

// clearStaging forgets what this handle staged and removes the staging
// marker: no orphan is left (settled), or a vacuum just removed them all.
// A marker that cannot be removed only makes the next vacuum look again.
func (l *Lake) clearStaging() {
	l.tx.mu.Lock()
	defer l.tx.mu.Unlock()
	_ = os.Remove(l.stagingMarker())
	l.tx.staged, l.tx.marked = nil, false
}

// expiring reports whether retention r lets a snapshot of the local lake go
// now, deciding on the snapshots' heads only (id, parent, creation time),
// and how many it keeps. A snapshot whose head does not read counts as
// unreadable, as in vacuumLocal. The caller runs the whole vacuum when it
// says yes: that one decides again, on the snapshots read whole, so a head
// can delay a removal, never cause one.
func (l *Lake) expiring(r Retention, now time.Time) (kept int, expired bool, err error) {
	cur, err := l.currentID()
	if err != nil {
		return 0, false, err
	}
	ids, err := l.SnapshotIDs()
	if err != nil {
		return 0, false, err
	}
	heads := map[int64]*Snapshot{}
	written := map[int64]time.Time{}
	for _, id := range ids {
		if h, err := readSnapshotHead(l.snapshotPath(id)); err == nil && h.ID == id {
			heads[id] = h
		} else {
			written[id] = fileTime(l.snapshotPath(id))
		}
	}
	if cur > 0 && heads[cur] == nil {
		return 0, false, errCurrentUnreadable(cur)
	}
	keep, drop := keptSnapshots(ids, heads, written, cur, r, now)
	return len(keep), len(drop) > 0, nil
}

// readSnapshotHead reads a snapshot file's id, parent and creation time,
// which Commit writes before its tables, without decoding the tables: with
// many snapshots kept, decoding each whole was most of a vacuum's time.
func readSnapshotHead(path string) (*Snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close() // read only
	dec := json.NewDecoder(f)
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("%s: not a JSON object", path)
	}
	var h Snapshot
	var haveID, haveParent, haveCreated bool
	for dec.More() && !(haveID && haveParent && haveCreated) {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		var v any = &json.RawMessage{}
		switch t {
		case "id":
			v, haveID = &h.ID, true
		case "parent":
			v, haveParent = &h.Parent, true
		case "created_at":
			v, haveCreated = &h.CreatedAt, true
		}
		if err := dec.Decode(v); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if !haveID || !haveCreated {
		return nil, fmt.Errorf("%s: no id or created_at", path)
	}
	return &h, nil
}

// keptSnapshots decides which snapshots retention keeps: the r.Keep newest
// of those that were current (the current one always), and any superseded
// less than r.Grace ago (a reader may
// still read it). When each stopped being current comes from the chain of
// parents from the current one: a parent was superseded when its child was
// committed. A snapshot off the chain below the current one may have been
// current until the snapshot above it on the chain (the chain is cut by a
// damaged snapshot file, or jumps back over a damaged pointer that a
// rollback rewrote): pointer values only go up, so it was superseded at the
// latest when that snapshot was written. One above the current one was
// never current (its writer died before the pointer swap, or is swapping
// it now): it is kept while younger than the grace. A snapshot's time is
// the later of its creation and written (its file's time: on S3 the
// creation time is taken before the upload of the run's files; the only
// time of one that cannot be read). It returns the ids to keep and those
// to delete.
func keptSnapshots(ids []int64, all map[int64]*Snapshot, written map[int64]time.Time, cur int64, r Retention, now time.Time) (keep map[int64]bool, drop []int64) {
	at := func(id int64) time.Time {
		t := written[id]
		if s := all[id]; s != nil && s.CreatedAt.After(t) {
			t = s.CreatedAt
		}
		return t
	}
	supersededAt := map[int64]time.Time{}
	keep = map[int64]bool{}
	var chain []int64 // ascending once reversed: the current one and its ancestors
	if cur > 0 {
		keep[cur] = true
		chain = append(chain, cur)
	}
	n := 1
	for s := all[cur]; s != nil; s = all[s.Parent] {
		if s.Parent <= 0 || s.Parent >= s.ID {
			break
		}
		supersededAt[s.Parent] = at(s.ID)
		chain = append(chain, s.Parent)
		// The r.Keep newest of the snapshots that were current.
		if n < r.Keep {
			keep[s.Parent] = true
			n++
		}
	}
	sort.Slice(chain, func(i, j int) bool { return chain[i] < chain[j] })
	for _, id := range ids {
		if keep[id] {
			continue
		}
		t, onChain := supersededAt[id]
		if !onChain {
			// Off the chain: superseded at the latest when the first
			// snapshot above it on the chain was written; never current
			// when none is (above the current one).
			t = at(id)
			if i := sort.Search(len(chain), func(i int) bool { return chain[i] > id }); i < len(chain) {
				t = at(chain[i])
			}
		}
		if now.Sub(t) < r.Grace {
			keep[id] = true
			continue
		}
		drop = append(drop, id)
	}
	return keep, drop
}

// errCurrentUnreadable: the pointer names a snapshot that cannot be read;
// without its mapping, a vacuum cannot tell which files the lake needs.
func errCurrentUnreadable(cur int64) error {
	return fmt.Errorf("vacuum: the current snapshot %d cannot be read (`nexus doctor`); nothing deleted", cur)
}

func (l *Lake) vacuumLocal(r Retention, now time.Time, apply bool) (VacuumResult, error) {
	var res VacuumResult
	cur, err := l.currentID()
	if err != nil {
		return res, err
	}
	ids, err := l.SnapshotIDs()
	if err != nil {
		return res, err
	}
	all := map[int64]*Snapshot{}
	written := map[int64]time.Time{}
	for _, id := range ids {
		// Here a snapshot is created as its file is written: the file's
		// time is only for one that cannot be read.
		if s, err := l.ReadSnapshot(id); err == nil {
			all[id] = s
		} else {
			written[id] = fileTime(l.snapshotPath(id))
		}
	}
	if cur > 0 && all[cur] == nil {
		return res, errCurrentUnreadable(cur)
	}
	keep, drop := keptSnapshots(ids, all, written, cur, r, now)
	for _, id := range drop {
		if apply {
			if err := os.Remove(l.snapshotPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return res, fmt.Errorf("vacuum snapshot %d: %w", id, err)
			}
		}
		res.Snapshots = append(res.Snapshots, id)
		res.Objects++
	}
	var snaps []*Snapshot
	for id := range keep {
		if s := all[id]; s != nil {
			snaps = append(snaps, s)
		}
	}
	res.Kept = len(keep)
	// A lake from before snapshots: its manifests are its state until the
	// first commit, and stay for readers that pinned them as long as the
	// first snapshot is within retention.
	if legacy, err := l.legacySnapshot(); err == nil && legacy != nil {
		first, hasFirst := all[1]
		if len(ids) == 0 || len(ids) < r.Keep || (hasFirst && now.Sub(first.CreatedAt) < r.Grace) {
			snaps = append(snaps, legacy)
		}
	}
	manifests, dirs := referenced(snaps, l.loadManifest)
	versions, err := l.versionDirs()
	if err != nil {
		return res, fmt.Errorf("vacuum: %w", err)
	}
	// Under the writer lock no other writer is staging: an unreferenced
	// version is an orphan whatever its age.
	for _, rel := range versions {
		if dirs[rel] || dirs[path.Dir(rel)+"/*"] {
			continue
		}
		n, size := dirSize(l.Abs(rel))
		if apply {
			if err := os.RemoveAll(l.Abs(rel)); err != nil {
				return res, fmt.Errorf("vacuum %s: %w", rel, err)
			}
		}
		res.Versions = append(res.Versions, rel)
		res.Objects += n
		res.Bytes += size
	}
	// Manifests no kept snapshot uses: the immutable ones, and those of a
	// lake from before snapshots.
	for _, dir := range []string{"manifests/*", "tables"} {
		files, err := filepath.Glob(filepath.Join(l.MetaDir(), filepath.FromSlash(dir), "*"))
		if err != nil {
			return res, fmt.Errorf("vacuum: %w", err)
		}
		for _, f := range files {
			rel, err := filepath.Rel(l.Root, f)
			if err != nil {
				return res, err
			}
			rel = filepath.ToSlash(rel)
			info, err := os.Stat(f)
			if manifests[rel] || err != nil || info.IsDir() {
				continue
			}
			if apply {
				if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return res, fmt.Errorf("vacuum %s: %w", rel, err)
				}
			}
			res.Manifests = append(res.Manifests, rel)
			res.Objects++
			res.Bytes += info.Size()
		}
	}
	return res, nil
}

// dirSize counts the files under dir and their bytes.
func dirSize(dir string) (n int, size int64) {
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil // a count for the report: what cannot be read is not counted
		}
		if info, err := d.Info(); err == nil {
			n++
			size += info.Size()
		}
		return nil
	})
	return n, size
}

// referenced returns the manifests the snapshots map tables to and the
// version directories those tables use: named by the snapshot (TableRef.Dirs),
// or listed by the manifest for a snapshot written before Dirs. A table of
// such a snapshot whose manifest cannot be read keeps its whole directory
// ("layer/table/*"): doctor decides about it.
func referenced(snaps []*Snapshot, load func(name, rel string) (*Manifest, error)) (manifests, dirs map[string]bool) {
	manifests, dirs = map[string]bool{}, map[string]bool{}
	for _, s := range snaps {
		for name, ref := range s.Tables {
			if manifests[ref.Manifest] {
				continue
			}
			manifests[ref.Manifest] = true
			used := ref.Dirs
			if len(used) == 0 {
				m, err := load(name, ref.Manifest)
				if err != nil {
					layer, table, _ := strings.Cut(name, ".")
					dirs[layer+"/"+table+"/*"] = true
					continue
				}
				used = m.VersionDirs()
			}
			for _, d := range used {
				dirs[d] = true
			}
		}
	}
	return manifests, dirs
}

// versionDirs lists every table version directory on disk
// (layer/table/v…), lake-relative.
func (l *Lake) versionDirs() ([]string, error) {
	var out []string
	for _, layer := range Layers() {
		found, err := filepath.Glob(filepath.Join(l.Root, layer, "*", "v*"))
		if err != nil {
			return nil, err
		}
		for _, f := range found {
			if info, err := os.Stat(f); err != nil || !info.IsDir() {
				continue
			}
			rel, err := filepath.Rel(l.Root, f)
			if err != nil {
				return nil, err
			}
			out = append(out, filepath.ToSlash(rel))
		}
	}
	return out, nil
}

// vacuum is Vacuum on the object store: the same retention, decided from
// the store's snapshots; what is deleted goes from the store (the mirror
// holds only the current snapshot, and the cache evicts by itself). With
// no lock across machines, an unreferenced file younger than the grace is
// left alone: it may belong to a commit in progress elsewhere.
func (r *remote) vacuum(ctx context.Context, l *Lake, ret Retention, now time.Time, apply bool) (VacuumResult, error) {
	var res VacuumResult
	pb, _, err := getBytes(ctx, r.store, metaDir+"/CURRENT")
	if errors.Is(err, ErrObjectNotFound) {
		return res, nil // nothing committed: nothing to keep or remove
	}
	if err != nil {
		return res, fmt.Errorf("vacuum %s: %w", r.store, err)
	}
	var p pointer
	if err := json.Unmarshal(pb, &p); err != nil {
		return res, fmt.Errorf("vacuum %s: %s/CURRENT: %w: %v", r.store, metaDir, ErrDamagedPointer, err)
	}
	var ids []int64
	written := map[int64]time.Time{}
	sizes := map[int64]int64{}
	stored, err := r.listSnapshots(ctx)
	if err != nil {
		return res, fmt.Errorf("vacuum: %w", err)
	}
	for _, sn := range stored {
		ids = append(ids, sn.id)
		written[sn.id], sizes[sn.id] = sn.Modified, sn.Size
	}
	all, err := r.readSnapshots(ctx, stored)
	if err != nil {
		return res, fmt.Errorf("vacuum %s: %w", r.store, err)
	}
	if p.Snapshot > 0 && all[p.Snapshot] == nil {
		return res, fmt.Errorf("%s: %w", r.store, errCurrentUnreadable(p.Snapshot))
	}
	keep, drop := keptSnapshots(ids, all, written, p.Snapshot, ret, now)
	res.Kept = len(keep)
	var snaps []*Snapshot
	for id := range keep {
		if s := all[id]; s != nil {
			snaps = append(snaps, s)
		}
	}
	mans, err := r.readManifests(ctx, l, snaps)
	if err != nil {
		return res, fmt.Errorf("vacuum %s: %w", r.store, err)
	}
	manifests, dirs := referenced(snaps, func(_, rel string) (*Manifest, error) {
		if m, ok := mans[rel]; ok {
			return m, nil
		}
		return nil, ErrObjectNotFound
	})
	var gone []string
	// Snapshots first: a vacuum cut off midway leaves files no snapshot
	// lists (the next one takes them), never a snapshot missing its files.
	for _, id := range drop {
		gone = append(gone, snapshotRel(id))
		res.Snapshots = append(res.Snapshots, id)
		res.Bytes += sizes[id]
	}
	if apply {
		if err := r.deleteAll(ctx, gone); err != nil {
			return res, err
		}
	}
	res.Objects += len(gone)
	gone = gone[:0]
	old := func(oi ObjectInfo) bool {
		if now.Sub(oi.Modified) < ret.Grace {
			res.Young++
			return false
		}
		res.Objects++
		res.Bytes += oi.Size
		gone = append(gone, oi.Key)
		return true
	}
	versions := map[string]bool{}
	for _, layer := range Layers() {
		err := r.store.List(ctx, layer+"/", func(oi ObjectInfo) bool {
			v := File{Path: oi.Key}.VersionDir()
			if dirs[v] || dirs[path.Dir(v)+"/*"] {
				return true
			}
			if old(oi) && !versions[v] {
				versions[v] = true
				res.Versions = append(res.Versions, v)
			}
			return true
		})
		if err != nil {
			return res, fmt.Errorf("vacuum %s: %w", r.store, err)
		}
	}
	err = r.store.List(ctx, metaDir+"/manifests/", func(oi ObjectInfo) bool {
		if !manifests[oi.Key] && old(oi) {
			res.Manifests = append(res.Manifests, oi.Key)
		}
		return true
	})
	if err != nil {
		return res, fmt.Errorf("vacuum %s: %w", r.store, err)
	}
	// Athena's symlink manifests of a version: _nexus/athena/<layer>.<table>/<version dir>/….
	err = r.store.List(ctx, metaDir+"/athena/", func(oi ObjectInfo) bool {
		parts := strings.SplitN(strings.TrimPrefix(oi.Key, metaDir+"/athena/"), "/", 3)
		if len(parts) < 3 {
			return true
		}
		layer, table, _ := strings.Cut(parts[0], ".")
		v := layer + "/" + table + "/" + parts[1]
		if !dirs[v] && !dirs[layer+"/"+table+"/*"] {
			old(oi)
		}
		return true
	})
	if err != nil {
		return res, fmt.Errorf("vacuum %s: %w", r.store, err)
	}
	sort.Strings(res.Versions)
	if apply {
		if err := r.deleteAll(ctx, gone); err != nil {
			return res, err
		}
	}
	return res, nil
}

// readSnapshots reads the store's snapshots, a few at a time; one that
// cannot be parsed is left out (retention decides on it by its age), one
// deleted meanwhile (another vacuum) too.
func (r *remote) readSnapshots(ctx context.Context, stored []storedSnapshot) (map[int64]*Snapshot, error) {
	r.snapsMu.Lock()
	defer r.snapsMu.Unlock()
	if r.snaps == nil {
		r.snaps = map[int64]cachedSnapshot{}
	}
	listed := map[int64]bool{}
	all := map[int64]*Snapshot{}
	var fetch []storedSnapshot
	for _, sn := range stored {
		listed[sn.id] = true
		if c, ok := r.snaps[sn.id]; ok && c.info.Size == sn.Size && c.info.ETag == sn.ETag && c.info.Modified.Equal(sn.Modified) {
			all[sn.id] = c.s
			continue
		}
		fetch = append(fetch, sn)
	}
	for id := range r.snaps {
		if !listed[id] {
			delete(r.snaps, id) // gone from the store
		}
	}
	var mu sync.Mutex
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, sn := range fetch {
		g.Go(func() error {
			b, _, err := getBytes(ctx, r.store, snapshotRel(sn.id))
			if errors.Is(err, ErrObjectNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			var s Snapshot
			if json.Unmarshal(b, &s) != nil {
				return nil
			}
			mu.Lock()
			all[sn.id] = &s
			r.snaps[sn.id] = cachedSnapshot{info: sn.ObjectInfo, s: &s}
			mu.Unlock()
			return nil
		})
	}
	return all, g.Wait()
}

// readManifests reads the manifests the snapshots use and do not name the
// directories of (snapshots from before TableRef.Dirs): from the mirror when
// it has them (immutable), else from the store. One that is missing or
// unreadable is left out: its table keeps all its files.
func (r *remote) readManifests(ctx context.Context, l *Lake, snaps []*Snapshot) (map[string]*Manifest, error) {
	var mu sync.Mutex
	out := map[string]*Manifest{}
	seen := map[string]bool{}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, s := range snaps {
		for _, ref := range s.Tables {
			if seen[ref.Manifest] || len(ref.Dirs) > 0 {
				continue // the snapshot names the directories it uses
			}
			seen[ref.Manifest] = true
			rel := ref.Manifest
			g.Go(func() error {
				m, err := readManifestFile(l.Abs(rel))
				if err != nil {
					b, _, gerr := getBytes(ctx, r.store, rel)
					if errors.Is(gerr, ErrObjectNotFound) {
						return nil
					}
					if gerr != nil {
						return gerr
					}
					m = &Manifest{}
					if json.Unmarshal(b, m) != nil {
						return nil
					}
				}
				mu.Lock()
				out[rel] = m
				mu.Unlock()
				return nil
			})
		}
	}
	return out, g.Wait()
}

// deleteAll deletes the keys, a few at a time.
func (r *remote) deleteAll(ctx context.Context, keys []string) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, k := range keys {
		g.Go(func() error { return r.store.Delete(ctx, k) })
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("vacuum %s: %w (what is left is removed by the next vacuum)", r.store, err)
	}
	return nil
}
