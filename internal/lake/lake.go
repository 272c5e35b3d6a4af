package lake

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Layers of the lake, in flow order.
const (
	Bronze     = "bronze"
	Silver     = "silver"
	Gold       = "gold"
	Quarantine = "quarantine"
)

// Layers lists the data layers, in flow order.
func Layers() []string { return []string{Bronze, Silver, Gold, Quarantine} }

// metaDir holds manifests, snapshots, locks and the run store.
const metaDir = "_nexus"

// ErrNoTable is returned by Manifest for a table the pinned snapshot does not
// hold (never published, or not yet at that snapshot).
var ErrNoTable = errors.New("table not published")

// ErrNoLake: a reader was pointed at a place that holds no lake (nothing
// committed there).
var ErrNoLake = errors.New("no lake")

// ErrReadOnly is returned when a lake opened for reading is asked to write.
var ErrReadOnly = errors.New("lake opened read-only")

// Lake is a lake rooted at a local directory, seen through one pinned
// snapshot: every Manifest and Manifests call answers from that snapshot, so a
// command reads one consistent state however many runs commit meanwhile. A
// lake opened for writing also sees the versions it published itself and not
// yet committed (its transaction); nobody else sees them until Commit.
type Lake struct {
	Root string

	snap     *Snapshot // nil: nothing committed yet
	writable bool
	tx       *txState // shared by the handle and its stagings

	cacheMu sync.Mutex
	cache   map[string]manifestEntry // manifest path → loaded manifest (files are immutable)

	// remote, when set, is the object store this handle's Root mirrors:
	// its commits go there (see remote.go).
	remote *remote
}

type manifestEntry struct {
	m   *Manifest
	err error
}

type txState struct {
	mu      sync.Mutex
	pending map[string]*Manifest // layer.table → published in this transaction
	order   []string
	// adopted are existing versions made current again by this transaction
	// (a repair's roll-back), with their original snapshot entries.
	adopted map[string]TableRef
	// staged are the version directories (lake-relative) this handle staged
	// and did not remove; marked says it wrote the staging marker. With
	// them the vacuum after a commit knows whether this handle can have left
	// an orphan (see VacuumExpired).
	staged map[string]bool
	marked bool
}

// Open opens the lake at root for writing, creating its directories, pinned to
// the current snapshot. Writers also take the lock (Lock) before staging.
func Open(root string) (*Lake, error) {
	abs, err := absRoot(root)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(abs, metaDir, "snapshots"), 0o755); err != nil {
		return nil, fmt.Errorf("lake %s: %w", root, err)
	}
	l := &Lake{Root: abs, writable: true, tx: &txState{pending: map[string]*Manifest{}}}
	if err := l.pin(); err != nil {
		return nil, err
	}
	return l, nil
}

// OpenRead opens an existing lake for reading, pinned to its current snapshot.
// It never creates or writes anything, so it works on a read-only lake.
func OpenRead(root string) (*Lake, error) {
	l, err := OpenUnpinned(root)
	if err != nil {
		return nil, err
	}
	if err := l.pin(); err != nil {
		return nil, err
	}
	return l, nil
}

// Exists reports whether root holds a lake (without creating anything).
func Exists(root string) bool {
	info, err := os.Stat(filepath.Join(root, metaDir))
	return err == nil && info.IsDir()
}

// MetaPath is a path under root's _nexus directory, for a process that has
// not opened the lake (and must not create it).
func MetaPath(root string, parts ...string) string {
	return filepath.Join(append([]string{root, metaDir}, parts...)...)
}

// OpenUnpinned opens an existing lake read-only without reading its current
// snapshot: enough to list and read snapshot files when the pointer itself
// is damaged.
func OpenUnpinned(root string) (*Lake, error) {
	abs, err := absRoot(root)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(abs, metaDir)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w at %s (run `nexus demo` or `nexus run` to create one, or pass --lake)", ErrNoLake, root)
		}
		return nil, fmt.Errorf("lake %s: %w", root, err)
	}
	return &Lake{Root: abs}, nil
}

func absRoot(root string) (string, error) {
	if root == "" {
		return "", errors.New("lake: empty root directory")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", fmt.Errorf("lake %s: %w", root, err)
	}
	return abs, nil
}

// pin loads the current snapshot.
func (l *Lake) pin() error {
	s, err := l.currentSnapshot()
	if err != nil {
		return err
	}
	l.snap = s
	return nil
}

// At returns a read-only handle on the same lake pinned to snapshot id (time
// travel). The snapshot must still be kept by retention.
func (l *Lake) At(ctx context.Context, id int64) (*Lake, error) {
	if l.remote != nil {
		// An older snapshot's manifests and files come to the mirror first.
		if err := l.remote.pullSnapshot(ctx, id); err != nil {
			return nil, err
		}
	}
	s, err := l.ReadSnapshot(id)
	if err != nil {
		return nil, err
	}
	return &Lake{Root: l.Root, snap: s, cache: l.sharedCache(), remote: l.remote}, nil
}

// Reopen returns a read-only handle pinned to the lake's current snapshot, or
// l itself when that is still the one l is pinned to (servers call it between
// requests).
func (l *Lake) Reopen() (*Lake, error) {
	id, err := l.currentID()
	if err != nil {
		return nil, err
	}
	if id == l.SnapshotID() && !l.writable {
		return l, nil
	}
	return l.At(context.Background(), id)
}

func (l *Lake) sharedCache() map[string]manifestEntry {
	l.cacheMu.Lock()
	defer l.cacheMu.Unlock()
	out := make(map[string]manifestEntry, len(l.cache))
	for k, v := range l.cache {
		if v.err == nil {
			out[k] = v
		}
	}
	return out
}

// Snapshot returns the pinned snapshot (nil when nothing was committed yet).
func (l *Lake) Snapshot() *Snapshot { return l.snap }

// SnapshotID returns the pinned snapshot's id, 0 when nothing was committed.
func (l *Lake) SnapshotID() int64 {
	if l.snap == nil {
		return 0
	}
	return l.snap.ID
}

// Writable reports whether the handle may stage and commit.
func (l *Lake) Writable() bool { return l.writable }

// MetaDir returns the directory for the lake's own state (manifests, runs, tmp).
func (l *Lake) MetaDir(parts ...string) string {
	return filepath.Join(append([]string{l.Root, metaDir}, parts...)...)
}

// File is one data file of a table version.
type File struct {
	Path string `json:"path"` // relative to the lake root, with forward slashes
	// Rows counts the file's rows that are in the table: those it holds
	// less the Deleted ones.
	Rows  int64 `json:"rows"`
	Bytes int64 `json:"bytes"`
	// Deleted lists, in order, the positions (from 0) of rows the file
	// holds that are no longer in the table: an incremental build that
	// replaces a few rows of a big file marks them here instead of writing
	// the file again (merge on read; every read of the table skips them,
	// see engine.ReadFilesSQL). Files written since keep theirs in full.
	Deleted []int64 `json:"deleted,omitempty"`
	// Batches lists the landing-zone batches (dt=YYYY-MM-DD folder dates)
	// whose rows the file holds: one for a batch's file, several for a file
	// that merges many; none outside batch mode.
	Batches []string `json:"batches,omitempty"`
	// Trimmed lists the string columns none of whose values begins or ends
	// with anything but a printable ASCII character other than space, so
	// that trim() leaves every value as it is: a filter on trim(c) may then
	// filter on c itself, which the Parquet reader applies before decoding
	// the other columns. Written by ingest; empty when not known.
	Trimmed []string `json:"trimmed,omitempty"`
}

// Held is the number of rows the file holds: those in the table and the
// deleted ones.
func (f File) Held() int64 { return f.Rows + int64(len(f.Deleted)) }

// VersionDir returns the version directory (layer/table/v…) a file lives
// in. A version appends by listing files of earlier versions, so a file's
// directory is not always its manifest's.
func (f File) VersionDir() string {
	parts := strings.SplitN(f.Path, "/", 4)
	if len(parts) < 4 {
		return path.Dir(f.Path)
	}
	return strings.Join(parts[:3], "/")
}

// VersionDirs lists, sorted, the version directories the version uses: its
// own, those of the files it carries, and those of the older files its
// delta names (the batches a Bronze append replaced: the models downstream
// still read them). Vacuum keeps them while a kept snapshot maps the table
// to this version.
func (m *Manifest) VersionDirs() []string {
	dirs := []string{m.Dir}
	for _, f := range m.Files {
		dirs = append(dirs, f.VersionDir())
	}
	if m.Delta != nil {
		for _, f := range m.Delta.Files {
			dirs = append(dirs, File{Path: f}.VersionDir())
		}
	}
	slices.Sort(dirs)
	return slices.Compact(dirs)
}

// Column is a column of a published table.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Input is a fingerprinted input of a table version: a source file or another
// table's version.
type Input struct {
	Name        string `json:"name"`
	Size        int64  `json:"size,omitempty"`
	Hash        string `json:"hash,omitempty"`
	Version     int64  `json:"version,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	// Batch is the landing-zone batch the input belongs to; empty outside
	// batch mode.
	Batch string `json:"batch,omitempty"`
	// Rows and Quarantined count what a batch input gave: rows written and
	// records quarantined.
	Rows        int64 `json:"rows,omitempty"`
	Quarantined int64 `json:"quarantined,omitempty"`
	// ModTime is the file's modification time (Unix ns) when it was hashed,
	// kept only when it was already well in the past then: a file of the
	// same size, ModTime and FileID since has not been written to, and the
	// next ingest need not read it again. 0 = read it.
	ModTime int64 `json:"mtime_ns,omitempty"`
	// FileID is the file's device, inode and change time when it was
	// hashed: with ModTime and Size, what vouches for its content.
	FileID string `json:"file_id,omitempty"`
}

// Manifest describes one immutable version of a table. Readers read only the
// files it lists; a snapshot maps each table to one manifest.
type Manifest struct {
	Layer       string           `json:"layer"`
	Table       string           `json:"table"`
	Version     int64            `json:"version"`
	RunID       string           `json:"run_id"`
	CreatedAt   time.Time        `json:"created_at"`
	Dir         string           `json:"dir"`
	Files       []File           `json:"files"`
	Rows        int64            `json:"rows"`
	Bytes       int64            `json:"bytes"`
	Schema      []Column         `json:"schema"`
	PartitionBy []string         `json:"partition_by,omitempty"`
	Inputs      []Input          `json:"inputs,omitempty"`
	Fingerprint string           `json:"fingerprint,omitempty"`
	Stats       map[string]int64 `json:"stats,omitempty"`
	Description string           `json:"description,omitempty"`
	// Code fingerprints what built the version apart from its inputs (a
	// model's SQL and suite): an incremental build continues only a version
	// built by the same code.
	Code string `json:"code,omitempty"`
	// Delta says what changed since the version it was built on, so that
	// the tables downstream can rebuild only what depends on the change.
	Delta *Delta `json:"delta,omitempty"`
	// Totals are the exact totals of the additive aggregates its
	// table-level checks take (quality.Totals, opaque here): the next
	// incremental build judges them without reading the whole table.
	Totals map[string]string `json:"totals,omitempty"`
	// BuildTime is how long the model's build of this version took: the
	// next run schedules the longest chains of models first with it.
	BuildTime time.Duration `json:"build_ns,omitempty"`
}

// Delta is what changed between a table version and the version Base it was
// built on. Full means "everything may have changed". Otherwise the rows
// that were removed or added are in Files (Parquet, lake-relative paths):
// for a Bronze append these are the new batch files plus the files of the
// batches they replaced; for a model, one file holding the old versions of
// the rows it rebuilt and their new versions.
type Delta struct {
	Base  int64    `json:"base"`
	Full  bool     `json:"full,omitempty"`
	Files []string `json:"files,omitempty"`
	Rows  int64    `json:"rows,omitempty"`
}

// DeltaDir is the subdirectory of a version directory that holds its delta
// files; they are not data files of the table.
const DeltaDir = "_delta"

// Name returns "layer.table".
func (m *Manifest) Name() string { return m.Layer + "." + m.Table }

// AbsFiles returns the absolute paths of the manifest's files.
func (l *Lake) AbsFiles(m *Manifest) []string {
	out := make([]string, len(m.Files))
	for i, f := range m.Files {
		out[i] = l.Abs(f.Path)
	}
	return out
}

// Abs returns the absolute path of a lake-relative path.
func (l *Lake) Abs(rel string) string { return filepath.Join(l.Root, filepath.FromSlash(rel)) }

// Manifest returns the manifest of layer.table at the pinned snapshot (or
// published in this handle's transaction). It returns an error wrapping
// ErrNoTable when the table is not there, and a descriptive error when its
// manifest cannot be read.
func (l *Lake) Manifest(layer, table string) (*Manifest, error) {
	name := layer + "." + table
	if l.tx != nil {
		l.tx.mu.Lock()
		m := l.tx.pending[name]
		l.tx.mu.Unlock()
		if m != nil {
			return m, nil
		}
	}
	if l.snap == nil {
		return nil, fmt.Errorf("%s: %w", name, ErrNoTable)
	}
	ref, ok := l.snap.Tables[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, ErrNoTable)
	}
	return l.loadManifest(name, ref.Manifest)
}

// TableState is one table of the pinned view: its manifest, or why it could
// not be read.
type TableState struct {
	Name     string
	Manifest *Manifest // nil when Err is set
	Err      error
}

// Tables returns every table of the pinned view (snapshot plus this handle's
// uncommitted versions) in layer order, with the manifests that could be read
// and an error for those that could not: one damaged table never hides the
// others.
func (l *Lake) Tables() []TableState {
	names := map[string]bool{}
	if l.snap != nil {
		for n := range l.snap.Tables {
			names[n] = true
		}
	}
	if l.tx != nil {
		l.tx.mu.Lock()
		for n := range l.tx.pending {
			names[n] = true
		}
		l.tx.mu.Unlock()
	}
	var out []TableState
	for n := range names {
		layer, table, _ := strings.Cut(n, ".")
		m, err := l.Manifest(layer, table)
		out = append(out, TableState{Name: n, Manifest: m, Err: err})
	}
	sort.Slice(out, func(i, j int) bool { return lessTable(out[i].Name, out[j].Name) })
	return out
}

// Manifests returns the readable manifests of the pinned view, sorted by
// layer order and name. Tables whose manifest cannot be read are left out
// (Tables reports them).
func (l *Lake) Manifests() ([]*Manifest, error) {
	var out []*Manifest
	for _, t := range l.Tables() {
		if t.Manifest != nil {
			out = append(out, t.Manifest)
		}
	}
	return out, nil
}

func lessTable(a, b string) bool {
	la, ta, _ := strings.Cut(a, ".")
	lb, tb, _ := strings.Cut(b, ".")
	if ra, rb := layerRank(la), layerRank(lb); ra != rb {
		return ra < rb
	}
	return ta < tb
}

func layerRank(l string) int {
	for i, x := range Layers() {
		if x == l {
			return i
		}
	}
	return len(Layers())
}

// ManifestAt returns version v of layer.table, read from its immutable
// manifest while retention keeps it.
func (l *Lake) ManifestAt(layer, table string, v int64) (*Manifest, error) {
	name := layer + "." + table
	found, err := filepath.Glob(l.MetaDir("manifests", name, fmt.Sprintf("v%06d-*.json", v)))
	if err != nil {
		return nil, err
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("%s version %d: %d manifests found: %w", name, v, len(found), ErrNoTable)
	}
	rel, err := filepath.Rel(l.Root, found[0])
	if err != nil {
		return nil, err
	}
	return l.loadManifest(name, filepath.ToSlash(rel))
}

func (l *Lake) loadManifest(name, rel string) (*Manifest, error) {
	l.cacheMu.Lock()
	if e, ok := l.cache[rel]; ok {
		l.cacheMu.Unlock()
		return e.m, e.err
	}
	l.cacheMu.Unlock()
	m, err := readManifestFile(l.Abs(rel))
	if err != nil {
		err = fmt.Errorf("%s: manifest %s unreadable: %w", name, rel, err)
	}
	l.cacheMu.Lock()
	if l.cache == nil {
		l.cache = map[string]manifestEntry{}
	}
	l.cache[rel] = manifestEntry{m: m, err: err}
	l.cacheMu.Unlock()
	return m, err
}

func readManifestFile(p string) (*Manifest, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if m.Layer == "" || m.Table == "" {
		return nil, errors.New("no layer or table")
	}
	return &m, nil
}

// manifestRel is where the immutable manifest of a version is stored.
func manifestRel(layer, table, dir string) string {
	return metaDir + "/manifests/" + layer + "." + table + "/" + pathBase(dir) + ".json"
}

func pathBase(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[i+1:]
	}
	return p
}

// Staging is a new version of a table being written. Nothing a reader sees
// changes until the transaction commits.
type Staging struct {
	lake    *Lake
	Layer   string
	Table   string
	Version int64
	RunID   string
	dir     string // relative to the root
	prev    *Manifest
	carried []File
	holds   map[string][]string
	trimmed map[string][]string
}

// Holds records that the staged file rel (relative to the version's
// directory) merges the rows of these batches.
func (s *Staging) Holds(rel string, batches []string) {
	if s.holds == nil {
		s.holds = map[string][]string{}
	}
	s.holds[rel] = batches
}

// Trimmed records the trimmed string columns (File.Trimmed) of the staged
// file rel (relative to the version's directory).
func (s *Staging) Trimmed(rel string, cols []string) {
	if s.trimmed == nil {
		s.trimmed = map[string][]string{}
	}
	s.trimmed[rel] = cols
}

// Stage starts a new version of layer.table. The version's files go under
// <layer>/<table>/v<version>-<run>/ beside the published versions.
func (l *Lake) Stage(layer, table, runID string) (*Staging, error) {
	if !l.writable {
		return nil, fmt.Errorf("stage %s.%s: %w", layer, table, ErrReadOnly)
	}
	prev, err := l.Manifest(layer, table)
	if err != nil {
		// Not published, or its manifest is damaged: the new version
		// replaces it either way.
		prev = nil
	}
	version := l.nextVersion(layer+"."+table, prev)
	rel := fmt.Sprintf("%s/%s/v%06d-%s", layer, table, version, runID)
	abs := l.Abs(rel)
	if err := l.markStaging(rel); err != nil {
		return nil, fmt.Errorf("stage %s.%s: %w", layer, table, err)
	}
	if err := os.RemoveAll(abs); err != nil {
		return nil, fmt.Errorf("stage %s.%s: %w", layer, table, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("stage %s.%s: %w", layer, table, err)
	}
	return &Staging{lake: l, Layer: layer, Table: table, Version: version, RunID: runID, dir: rel, prev: prev}, nil
}

// nextVersion is one more than any version of the table in the pinned view
// or recorded by the snapshot, so a version number is never reused after a
// rollback.
func (l *Lake) nextVersion(name string, prev *Manifest) int64 {
	var v int64
	if prev != nil {
		v = prev.Version
	}
	if l.snap != nil {
		if ref, ok := l.snap.Tables[name]; ok && ref.Version > v {
			v = ref.Version
		}
		if hw := l.snap.HighWater[name]; hw > v {
			v = hw
		}
	}
	// A version published by a writer killed before its commit has a
	// manifest on disk and no snapshot: its number is taken too, or two
	// manifests would share it until a vacuum.
	if entries, err := os.ReadDir(l.MetaDir("manifests", name)); err == nil {
		for _, e := range entries {
			var n int64
			if _, err := fmt.Sscanf(e.Name(), "v%06d-", &n); err == nil && n > v {
				v = n
			}
		}
	}
	return v + 1
}

// RelDir returns the version's directory relative to the lake root.
func (s *Staging) RelDir() string { return s.dir }

// Dir returns the absolute directory to write the version's files into.
func (s *Staging) Dir() string { return s.lake.Abs(s.dir) }

// Previous returns the manifest this version replaces, or nil.
func (s *Staging) Previous() *Manifest { return s.prev }

// Carry lists files of earlier versions in the new one, unchanged: an
// append writes only its new files and carries the rest. The files stay in
// their own version directories, which vacuum keeps while any kept version
// lists them.
func (s *Staging) Carry(files ...File) { s.carried = append(s.carried, files...) }

// Abort removes the staged files; the published version is untouched.
func (s *Staging) Abort() {
	if os.RemoveAll(s.Dir()) == nil {
		s.lake.tx.mu.Lock()
		delete(s.lake.tx.staged, s.dir)
		s.lake.tx.mu.Unlock()
	}
}

// stagingMarker is the file that says a writer staged versions that no
// vacuum has looked at since: the vacuum after a commit looks for orphans
// only then (VacuumExpired). A writer creates it before its first version
// directory, so a process killed while it stages leaves it behind.
func (l *Lake) stagingMarker() string { return l.MetaDir("staging") }

// markStaging records rel as staged by this handle, creating the staging
// marker before the handle's first version directory (on a local lake; an
// object store's vacuum looks at what it holds each time).
func (l *Lake) markStaging(rel string) error {
	l.tx.mu.Lock()
	defer l.tx.mu.Unlock()
	if l.remote == nil && !l.tx.marked {
		if _, err := os.Stat(l.stagingMarker()); errors.Is(err, fs.ErrNotExist) {
			if err := os.WriteFile(l.stagingMarker(), []byte("versions staged since the last vacuum that looked for orphans\n"), 0o644); err != nil {
				return fmt.Errorf("staging marker: %w", err)
			}
			// Durable before the version directory: a power loss must not
			// keep the directory and lose the marker.
			if err := syncDir(l.MetaDir()); err != nil {
				return fmt.Errorf("staging marker: %w", err)
			}
			l.tx.marked = true
		}
		// Present already: another process staged and no vacuum swept
		// after it; this handle's vacuum will (it did not mark).
	}
	if l.tx.staged == nil {
		l.tx.staged = map[string]bool{}
	}
	l.tx.staged[rel] = true
	return nil
}

// Publish lists the staged Parquet files into m, fsyncs them, writes the
// version's immutable manifest and adds it to the handle's transaction: the
// handle sees it at once, other readers when the transaction commits. m's
// Layer, Table, Version, RunID, Dir and Files are filled in here; Files' Rows
// must be given by the caller through rows (path relative to the staging dir →
// rows), since only the writer knows.
func (s *Staging) Publish(m Manifest, rows map[string]int64) (*Manifest, error) {
	m.Layer, m.Table, m.Version, m.RunID, m.Dir = s.Layer, s.Table, s.Version, s.RunID, s.dir
	if m.CreatedAt.IsZero() {
		m.CreatedAt = time.Now().UTC()
	}
	m.Files = nil
	m.Bytes = 0
	root := s.Dir()
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
			return nil
		}
		if filepath.Base(filepath.Dir(p)) == DeltaDir {
			// Not data of the table, but the manifest names it: durable first.
			return syncFile(p)
		}
		if !strings.HasSuffix(p, ".parquet") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if err := syncFile(p); err != nil {
			return err
		}
		relToStage, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		relToStage = filepath.ToSlash(relToStage)
		n, ok := rows[relToStage]
		if !ok && rows != nil {
			return fmt.Errorf("no row count for %s", relToStage)
		}
		m.Files = append(m.Files, File{Path: s.dir + "/" + relToStage, Rows: n, Bytes: info.Size(), Batches: s.holds[relToStage], Trimmed: s.trimmed[relToStage]})
		m.Bytes += info.Size()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("publish %s.%s: %w", s.Layer, s.Table, err)
	}
	// The new directories must be durable before a manifest points at them.
	for _, d := range append(dirs, filepath.Dir(root)) {
		if err := syncDir(d); err != nil {
			return nil, fmt.Errorf("publish %s.%s: sync %s: %w", s.Layer, s.Table, d, err)
		}
	}
	for _, f := range s.carried {
		if strings.HasPrefix(f.Path, s.dir+"/") {
			return nil, fmt.Errorf("publish %s.%s: carried file %s is in the new version's directory", s.Layer, s.Table, f.Path)
		}
		m.Files = append(m.Files, f)
		m.Bytes += f.Bytes
	}
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	if rows != nil {
		var total int64
		for _, f := range m.Files {
			total += f.Rows
		}
		m.Rows = total
	}
	b, err := json.MarshalIndent(&m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(s.lake.Abs(manifestRel(m.Layer, m.Table, m.Dir)), append(b, '\n'), false); err != nil {
		return nil, fmt.Errorf("publish %s: manifest: %w", m.Name(), err)
	}
	s.lake.tx.mu.Lock()
	if _, seen := s.lake.tx.pending[m.Name()]; !seen {
		s.lake.tx.order = append(s.lake.tx.order, m.Name())
	}
	s.lake.tx.pending[m.Name()] = &m
	delete(s.lake.tx.adopted, m.Name()) // a new version replaces an adopted one
	s.lake.tx.mu.Unlock()
	return &m, nil
}

// Adopt makes an existing version (an entry of an older snapshot) part of
// this transaction, as if it had just been published: the handle reads it
// at once, and the next commit maps the table to it.
func (l *Lake) Adopt(name string, ref TableRef) error {
	if !l.writable {
		return fmt.Errorf("adopt %s: %w", name, ErrReadOnly)
	}
	m, err := l.loadManifest(name, ref.Manifest)
	if err != nil {
		return err
	}
	l.tx.mu.Lock()
	defer l.tx.mu.Unlock()
	if _, seen := l.tx.pending[name]; !seen {
		l.tx.order = append(l.tx.order, name)
	}
	l.tx.pending[name] = m
	if l.tx.adopted == nil {
		l.tx.adopted = map[string]TableRef{}
	}
	if len(ref.Dirs) == 0 { // a ref from a snapshot written before Dirs
		ref.Dirs = m.VersionDirs()
	}
	l.tx.adopted[name] = ref
	return nil
}

// writeFileAtomic writes b to p through a temporary file, fsync and rename
// (or, with exclusive, a hard link that fails when p exists: the local
// equivalent of S3's If-None-Match: *), then syncs the directory.
func writeFileAtomic(p string, b []byte, exclusive bool) error {
	dir := filepath.Dir(p)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		// A new directory's entry must survive a power loss too.
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return err
		}
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:]) // crypto/rand.Read never fails (Go 1.24+)
	tmp := filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".tmp-"+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if exclusive {
		err = os.Link(tmp, p)
		os.Remove(tmp)
	} else {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		if !exclusive {
			os.Remove(tmp)
		}
		return err
	}
	return syncDir(filepath.Dir(p))
}

func syncFile(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func syncDir(p string) error {
	d, err := os.Open(p)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// NewRunID returns a sortable, unique run id: UTC time plus random suffix.
func NewRunID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// Lock takes the lake's writer lock, so that two writers never stage and
// commit at once. Readers need no lock. The lock is released by the returned
// function or when the process dies.
func (l *Lake) Lock() (func(), error) {
	if !l.writable {
		return nil, fmt.Errorf("lake lock: %w", ErrReadOnly)
	}
	unlock, err := l.flock("lock", false)
	if err != nil {
		return nil, err
	}
	// A writer starts from the latest commit, not the one current when the
	// handle was opened: another writer may have committed in between.
	// The staging marker it wrote under an earlier lock may since have been
	// swept by another writer's vacuum, or another writer may have staged
	// under it: from now on, a marker is this handle's only if it writes it.
	l.tx.mu.Lock()
	l.tx.marked = false
	l.tx.mu.Unlock()
	if err := l.rebase(); err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}

// ErrLocked: another process holds a lock of the lake. It is transient: the
// lock is free when that process is done.
var ErrLocked = errors.New("lock held")

// LockNamed takes the exclusive lock _nexus/<name>.lock without waiting, for
// a process that must be alone on the lake in some role (one scheduler per
// lake) while writers come and go under the writer lock. On an object store
// it is a lease in the store (see acquireLease), which can be lost (taken
// over once it expired): lost is then closed, and the holder must stop
// acting in its role. A file lock is never lost (lost is nil).
func (l *Lake) LockNamed(name string) (unlock func(), lost <-chan struct{}, err error) {
	if !l.writable {
		return nil, nil, fmt.Errorf("lake lock %s: %w", name, ErrReadOnly)
	}
	if l.remote != nil {
		// Its holders are on different machines: a lease in the store.
		return l.remote.acquireLease(context.Background(), name, l.remote.leaseTTL)
	}
	unlock, err = l.flock(name+".lock", false)
	return unlock, nil, err
}

// flock takes an exclusive lock on _nexus/<name>; wait blocks until it is
// free, else a held lock is an error naming it.
func (l *Lake) flock(name string, wait bool) (func(), error) {
	p := l.MetaDir(name)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lake lock: %w", err)
	}
	how := syscall.LOCK_EX
	if !wait {
		how |= syscall.LOCK_NB
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			err = fmt.Errorf("%w: %w", ErrLocked, err)
		}
		return nil, fmt.Errorf("lake %s is locked by another nexus process (%s): %w", l.Root, p, err)
	}
	return func() {
		// Closing the file releases the lock even if the unlock failed.
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// rebase re-pins a writer with nothing pending to the current snapshot.
func (l *Lake) rebase() error {
	l.tx.mu.Lock()
	n := len(l.tx.pending)
	l.tx.mu.Unlock()
	if n > 0 {
		return nil
	}
	return l.pin()
}
