package lake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// CommitKind says what made a snapshot.
type CommitKind string

// Kinds of commit.
const (
	CommitRun      CommitKind = "run"      // a pipeline run, an ingest or a transform
	CommitReplay   CommitKind = "replay"   // quarantine replay
	CommitRollback CommitKind = "rollback" // an older mapping made current again
	CommitRepair   CommitKind = "repair"   // doctor --repair
	CommitLegacy   CommitKind = "legacy"   // the per-table manifests of a lake from before snapshots
	CommitStream   CommitKind = "stream"   // a stream micro-batch, with the offsets it consumed
)

// TableRef is a table's entry in a snapshot: the version and its manifest.
type TableRef struct {
	Version  int64  `json:"version"`
	Manifest string `json:"manifest"` // relative to the lake root
	RunID    string `json:"run_id,omitempty"`
	Rows     int64  `json:"rows"`
	Bytes    int64  `json:"bytes"`
	// Dirs are the version directories the version's files live in
	// (lake-relative; see Manifest.VersionDirs): vacuum learns what a kept
	// snapshot holds from the snapshot alone, instead of opening every kept
	// manifest at every commit (a cost that grew with the commits of the
	// last hour). Absent in snapshots written before it: the manifest is
	// read then.
	Dirs []string `json:"dirs,omitempty"`
}

// Snapshot is one committed state of the whole lake: every table mapped to
// one immutable version. Snapshot files never change once written; the
// pointer _nexus/CURRENT names the current one. Committing a run is writing a
// new snapshot file (create-if-absent) and swapping the pointer (atomic
// rename here; a conditional PUT on object storage).
type Snapshot struct {
	ID        int64               `json:"id"`
	Parent    int64               `json:"parent"`
	Kind      CommitKind          `json:"kind"`
	RunID     string              `json:"run_id,omitempty"`
	CreatedAt time.Time           `json:"created_at"`
	Note      string              `json:"note,omitempty"`
	Tables    map[string]TableRef `json:"tables"`
	Changed   []string            `json:"changed"`
	Removed   []string            `json:"removed,omitempty"`
	// HighWater is the highest version ever given to each table, so that a
	// version number is never reused after a rollback.
	HighWater map[string]int64 `json:"high_water,omitempty"`
	// Meta carries what a writer commits with its data, atomically: the
	// stream's consumed offsets, for example.
	Meta map[string]string `json:"meta,omitempty"`
}

type pointer struct {
	Snapshot int64 `json:"snapshot"`
}

func (l *Lake) pointerPath() string { return l.MetaDir("CURRENT") }

// snapshotRel is where snapshot id lives, relative to the lake's root (a
// local directory or an object store's prefix).
func snapshotRel(id int64) string { return fmt.Sprintf("%s/snapshots/%010d.json", metaDir, id) }

func (l *Lake) snapshotPath(id int64) string { return l.Abs(snapshotRel(id)) }

// currentID reads the pointer; 0 when nothing was committed yet.
func (l *Lake) currentID() (int64, error) {
	b, err := os.ReadFile(l.pointerPath())
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("lake %s: read current snapshot pointer: %w", l.Root, err)
	}
	var p pointer
	if err := json.Unmarshal(b, &p); err != nil || p.Snapshot <= 0 {
		return 0, fmt.Errorf("lake %s: %w: %s holds %q; `nexus rollback N` to an existing snapshot (see `nexus snapshots`) rewrites it", l.Root, ErrDamagedPointer, l.pointerPath(), clipBytes(b))
	}
	return p.Snapshot, nil
}

// ErrDamagedPointer: _nexus/CURRENT cannot be read or names a snapshot that
// is not there. Readers and writers refuse the lake until `nexus rollback N`
// (RecoverPointer) rewrites it.
var ErrDamagedPointer = errors.New("the current snapshot pointer is damaged")

func clipBytes(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return s
}

func (l *Lake) currentSnapshot() (*Snapshot, error) {
	id, err := l.currentID()
	if err != nil {
		return nil, err
	}
	if id == 0 {
		return l.legacySnapshot()
	}
	s, err := l.ReadSnapshot(id)
	if err != nil {
		return nil, fmt.Errorf("lake %s: %w: it names snapshot %d: %v; `nexus rollback N` to an existing snapshot (see `nexus snapshots`) rewrites it", l.Root, ErrDamagedPointer, id, err)
	}
	return s, nil
}

// RecoverPointer makes snapshot id current on a lake whose pointer is
// damaged: a new snapshot with id's mapping, and the pointer rewritten. It
// takes the writer lock.
func RecoverPointer(root string, id int64, runID string) (*Snapshot, error) {
	abs, err := absRoot(root)
	if err != nil {
		return nil, err
	}
	l := &Lake{Root: abs, writable: true, tx: &txState{pending: map[string]*Manifest{}}}
	unlock, err := l.flock("lock", false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	target, err := l.ReadSnapshot(id)
	if err != nil {
		return nil, err
	}
	// The commit's parent is the target: the damaged pointer names nothing.
	l.snap = &Snapshot{ID: target.ID, HighWater: target.HighWater}
	return l.commitMapping(target, CommitInfo{Kind: CommitRollback, RunID: runID,
		Note: fmt.Sprintf("rollback to snapshot %d over a damaged pointer", id), overwritePointer: true})
}

// ReadSnapshot reads one snapshot by id.
func (l *Lake) ReadSnapshot(id int64) (*Snapshot, error) {
	if id == 0 {
		if s, err := l.legacySnapshot(); err != nil || s != nil {
			return s, err
		}
	}
	b, err := os.ReadFile(l.snapshotPath(id))
	if errors.Is(err, fs.ErrNotExist) && l.remote != nil {
		// The mirror holds the snapshots it pulled; the store has them all.
		b, err = l.remote.snapshotFile(context.Background(), id)
	}
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrObjectNotFound) {
		return nil, fmt.Errorf("snapshot %d does not exist or is no longer kept by retention (see `nexus snapshots`)", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read snapshot %d: %w", id, err)
	}
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("snapshot %d (%s) is damaged: %w", id, l.snapshotPath(id), err)
	}
	return &s, nil
}

// legacySnapshot maps a lake written before snapshots existed (one mutable
// manifest per table under _nexus/tables/) to snapshot 0, so such a lake stays
// readable and its first commit carries its tables over.
func (l *Lake) legacySnapshot() (*Snapshot, error) {
	entries, err := os.ReadDir(l.MetaDir("tables"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lake %s: %w", l.Root, err)
	}
	s := &Snapshot{Kind: CommitLegacy, Tables: map[string]TableRef{}}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		table := strings.TrimSuffix(name, ".json")
		ref := TableRef{Manifest: metaDir + "/tables/" + name}
		if m, err := readManifestFile(l.Abs(ref.Manifest)); err == nil {
			ref.Version, ref.RunID, ref.Rows, ref.Bytes = m.Version, m.RunID, m.Rows, m.Bytes
		}
		s.Tables[table] = ref
	}
	if len(s.Tables) == 0 {
		return nil, nil
	}
	return s, nil
}

// SnapshotIDs lists the ids of the snapshot files kept, ascending.
func (l *Lake) SnapshotIDs() ([]int64, error) {
	if l.remote != nil {
		return l.remote.snapshotIDs(context.Background())
	}
	entries, err := os.ReadDir(l.MetaDir("snapshots"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	var ids []int64
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".json") {
			continue
		}
		id, err := strconv.ParseInt(strings.TrimSuffix(name, ".json"), 10, 64)
		if err == nil && id > 0 {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, nil
}

// ErrConcurrentCommit is returned when another writer committed after this
// handle's snapshot was pinned: nothing of this transaction became visible.
var ErrConcurrentCommit = errors.New("concurrent commit")

// CommitInfo describes a commit.
type CommitInfo struct {
	Kind  CommitKind
	RunID string
	Note  string
	Meta  map[string]string
	// overwritePointer: RecoverPointer replaces a damaged pointer.
	overwritePointer bool
	// mapping: the commit makes an older snapshot's mapping current again,
	// with the meta committed with it (a stream's offsets go back with its
	// data), not the current one's.
	mapping *Snapshot
}

// Pending returns the names of the tables published in this handle's
// transaction and not yet committed.
func (l *Lake) Pending() []string {
	if l.tx == nil {
		return nil
	}
	l.tx.mu.Lock()
	defer l.tx.mu.Unlock()
	return append([]string(nil), l.tx.order...)
}

// Discard forgets the versions this handle published and did not commit
// (a commit that failed, to be done again from a newer snapshot): the
// handle reads its pinned snapshot again, and its next Lock re-pins it to
// the current one. Their files stay where they are, referenced by no
// snapshot: a vacuum takes them.
func (l *Lake) Discard() {
	if l.tx == nil {
		return
	}
	l.tx.mu.Lock()
	defer l.tx.mu.Unlock()
	l.tx.pending = map[string]*Manifest{}
	l.tx.order = nil
	l.tx.adopted = nil
}

// Commit makes everything this handle published visible at once, as one new
// snapshot. With nothing pending it commits nothing and returns the pinned
// snapshot. After a commit the handle is pinned to the new snapshot.
func (l *Lake) Commit(info CommitInfo) (*Snapshot, error) {
	if !l.writable {
		return nil, fmt.Errorf("commit: %w", ErrReadOnly)
	}
	l.tx.mu.Lock()
	pending := l.tx.pending
	adopted := l.tx.adopted
	order := l.tx.order
	l.tx.mu.Unlock()
	if len(pending) == 0 && len(info.Meta) == 0 {
		return l.snap, nil
	}
	tables := map[string]TableRef{}
	if l.snap != nil {
		for n, r := range l.snap.Tables {
			tables[n] = r
		}
	}
	for n, m := range pending {
		if r, ok := adopted[n]; ok {
			tables[n] = r
			continue
		}
		tables[n] = refOf(m)
	}
	changed := append([]string(nil), order...)
	sort.Slice(changed, func(i, j int) bool { return lessTable(changed[i], changed[j]) })
	return l.commit(tables, changed, nil, info)
}

func refOf(m *Manifest) TableRef {
	return TableRef{Version: m.Version, Manifest: manifestRel(m.Layer, m.Table, m.Dir), RunID: m.RunID, Rows: m.Rows, Bytes: m.Bytes, Dirs: m.VersionDirs()}
}

// commit writes a snapshot with the given mapping, parented on the pinned
// one, and swaps the pointer to it; the handle's transaction is then empty
// (the mapping includes what it had published).
func (l *Lake) commit(tables map[string]TableRef, changed, removed []string, info CommitInfo) (*Snapshot, error) {
	s, err := l.commitLocked(tables, changed, removed, info)
	if err == nil && l.remote != nil && l.remote.afterCommit != nil {
		// After the commit lock: a catalog's round trips hold no writer up.
		if herr := l.remote.afterCommit(context.Background(), l); herr != nil {
			l.remote.logger().Error("after the commit", "snapshot", s.ID, "lake", l.Location(), "err", herr)
		}
	}
	return s, err
}

func (l *Lake) commitLocked(tables map[string]TableRef, changed, removed []string, info CommitInfo) (*Snapshot, error) {
	// The check of the pointer, the snapshot write and the swap are one
	// critical section even for writers that do not hold the writer lock
	// (library callers): a writer that started from an older snapshot loses
	// with ErrConcurrentCommit instead of overwriting a commit. (On object
	// storage the same step is the pointer's conditional PUT.)
	unlock, err := l.flock("commit.lock", true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	base := l.SnapshotID()
	cur, err := l.currentID()
	if info.overwritePointer && errors.Is(err, ErrDamagedPointer) {
		cur, err = base, nil
	}
	if err != nil {
		return nil, err
	}
	if cur != base && !info.overwritePointer {
		return nil, fmt.Errorf("commit to %s: %w: snapshot %d was committed by another writer after this one started from %d; nothing of this run is visible, run it again", l.Root, ErrConcurrentCommit, cur, base)
	}
	ids, err := l.SnapshotIDs()
	if err != nil {
		return nil, err
	}
	next := base + 1
	if len(ids) > 0 && ids[len(ids)-1] >= next {
		// A snapshot written by a writer that died before its pointer swap:
		// never reuse its id.
		next = ids[len(ids)-1] + 1
	}
	if l.remote != nil {
		last, err := l.remote.lastSnapshotID(context.Background())
		if err != nil {
			return nil, err
		}
		next = max(next, last+1)
	}
	hw := map[string]int64{}
	if l.snap != nil {
		for n, v := range l.snap.HighWater {
			hw[n] = v
		}
	}
	for n, r := range tables {
		if r.Version > hw[n] {
			hw[n] = r.Version
		}
	}
	meta := map[string]string{}
	from := l.snap
	if info.mapping != nil {
		from = info.mapping
	}
	if from != nil {
		for k, v := range from.Meta {
			meta[k] = v
		}
	}
	for k, v := range info.Meta {
		meta[k] = v
	}
	if len(meta) == 0 {
		meta = nil
	}
	kind := info.Kind
	if kind == "" {
		kind = CommitRun
	}
	s := &Snapshot{ID: next, Parent: base, Kind: kind, RunID: info.RunID, CreatedAt: time.Now().UTC(), Note: info.Note,
		Tables: tables, Changed: changed, Removed: removed, HighWater: hw, Meta: meta}
	if s.Changed == nil {
		s.Changed = []string{}
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(l.snapshotPath(next), append(b, '\n'), true); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("commit to %s: %w: snapshot %d already exists", l.Root, ErrConcurrentCommit, next)
		}
		return nil, fmt.Errorf("commit snapshot %d: %w", next, err)
	}
	// The swap: readers see the old snapshot or the new one, never a mix.
	pb, err := json.Marshal(pointer{Snapshot: next})
	if err != nil {
		return nil, err
	}
	if l.remote != nil {
		// On the object store first: the commit is its conditional pointer
		// swap; the mirror follows only when it won.
		if err := l.remote.publish(context.Background(), l, s, append(b, '\n'), append(pb, '\n')); err != nil {
			_ = os.Remove(l.snapshotPath(next)) // never current; its error is the commit's
			return nil, err
		}
	}
	if err := writeFileAtomic(l.pointerPath(), append(pb, '\n'), false); err != nil {
		return nil, fmt.Errorf("commit snapshot %d: swap pointer: %w", next, err)
	}
	l.snap = s
	l.Discard() // committed: the transaction is empty
	l.settleStaged(s)
	return s, nil
}

// settleStaged forgets the staged version directories that snapshot s
// maps: committed, they are no orphans. What stays is what s left out.
func (l *Lake) settleStaged(s *Snapshot) {
	l.tx.mu.Lock()
	defer l.tx.mu.Unlock()
	for _, ref := range s.Tables {
		for _, d := range ref.Dirs {
			delete(l.tx.staged, d)
		}
	}
}

// Rollback makes snapshot id's mapping current again, as a new commit: no
// snapshot or file is deleted, and rolling forward is another rollback.
func (l *Lake) Rollback(id int64, runID string) (*Snapshot, error) {
	if !l.writable {
		return nil, fmt.Errorf("rollback: %w", ErrReadOnly)
	}
	if len(l.Pending()) > 0 {
		return nil, errors.New("rollback: the handle has uncommitted versions")
	}
	if l.remote != nil {
		// Its manifests come to the mirror: they are in the store already.
		if err := l.remote.pullSnapshot(context.Background(), id); err != nil {
			return nil, err
		}
	}
	target, err := l.ReadSnapshot(id)
	if err != nil {
		return nil, err
	}
	return l.commitMapping(target, CommitInfo{Kind: CommitRollback, RunID: runID, Note: fmt.Sprintf("rollback to snapshot %d", id)})
}

// commitMapping commits target's mapping of tables to versions again.
func (l *Lake) commitMapping(target *Snapshot, info CommitInfo) (*Snapshot, error) {
	tables := make(map[string]TableRef, len(target.Tables))
	for n, r := range target.Tables {
		tables[n] = r
	}
	changed, removed := diffTables(l.snap, tables)
	info.mapping = target
	return l.commit(tables, changed, removed, info)
}

func diffTables(from *Snapshot, to map[string]TableRef) (changed, removed []string) {
	changed = []string{}
	old := map[string]TableRef{}
	if from != nil {
		old = from.Tables
	}
	for n, r := range to {
		if o, ok := old[n]; !ok || o.Manifest != r.Manifest {
			changed = append(changed, n)
		}
	}
	for n := range old {
		if _, ok := to[n]; !ok {
			removed = append(removed, n)
		}
	}
	sort.Slice(changed, func(i, j int) bool { return lessTable(changed[i], changed[j]) })
	sort.Strings(removed)
	return changed, removed
}

// Retention says which snapshots (and so which table versions) are kept.
type Retention struct {
	// Keep is how many of the newest snapshots that were current are
	// always kept (the current one counts).
	Keep int
	// Grace keeps a snapshot that was current less than this long ago, so a
	// reader that pinned it keeps reading its files.
	Grace time.Duration
}

// DefaultRetention keeps the last 10 snapshots and any snapshot current
// within the last hour.
func DefaultRetention() Retention { return Retention{Keep: 10, Grace: time.Hour} }

func fileTime(p string) time.Time {
	info, err := os.Stat(p)
	if err != nil {
		return time.Time{}
	}
	return info.ModTime()
}

// Orphans lists version directories that no kept snapshot nor this
// handle's transaction refers to (left by a crashed run, or replaced); the
// next Vacuum removes them.
func (l *Lake) Orphans() ([]string, error) {
	ids, err := l.SnapshotIDs()
	if err != nil {
		return nil, err
	}
	var snaps []*Snapshot
	for _, id := range ids {
		if s, err := l.ReadSnapshot(id); err == nil {
			snaps = append(snaps, s)
		}
	}
	if legacy, err := l.legacySnapshot(); err == nil && legacy != nil {
		snaps = append(snaps, legacy)
	}
	_, dirs := referenced(snaps, l.loadManifest)
	for _, m := range l.pendingManifests() {
		for _, d := range m.VersionDirs() {
			dirs[d] = true
		}
	}
	versions, err := l.versionDirs()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rel := range versions {
		if !dirs[rel] && !dirs[path.Dir(rel)+"/*"] {
			out = append(out, rel)
		}
	}
	return out, nil
}

func (l *Lake) pendingManifests() []*Manifest {
	if l.tx == nil {
		return nil
	}
	l.tx.mu.Lock()
	defer l.tx.mu.Unlock()
	var out []*Manifest
	for _, m := range l.tx.pending {
		out = append(out, m)
	}
	return out
}
