package lake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
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

// metaDir holds manifests, locks and the run store.
const metaDir = "_nexus"

// Lake is a lake rooted at a local directory.
type Lake struct {
	Root string
}

// Open returns the lake at root, creating its directories.
func Open(root string) (*Lake, error) {
	if root == "" {
		return nil, errors.New("lake: empty root directory")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("lake %s: %w", root, err)
	}
	if err := os.MkdirAll(filepath.Join(abs, metaDir, "tables"), 0o755); err != nil {
		return nil, fmt.Errorf("lake %s: %w", root, err)
	}
	return &Lake{Root: abs}, nil
}

// MetaDir returns the directory for the lake's own state (manifests, runs, tmp).
func (l *Lake) MetaDir(parts ...string) string {
	return filepath.Join(append([]string{l.Root, metaDir}, parts...)...)
}

// File is one data file of a table version.
type File struct {
	Path  string `json:"path"` // relative to the lake root, with forward slashes
	Rows  int64  `json:"rows"`
	Bytes int64  `json:"bytes"`
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
}

// Manifest describes the published version of a table. Readers read only the
// files it lists; switching it is the atomic publish.
type Manifest struct {
	Layer        string           `json:"layer"`
	Table        string           `json:"table"`
	Version      int64            `json:"version"`
	RunID        string           `json:"run_id"`
	CreatedAt    time.Time        `json:"created_at"`
	Dir          string           `json:"dir"`
	Files        []File           `json:"files"`
	Rows         int64            `json:"rows"`
	Bytes        int64            `json:"bytes"`
	Schema       []Column         `json:"schema"`
	PartitionBy  []string         `json:"partition_by,omitempty"`
	Inputs       []Input          `json:"inputs,omitempty"`
	Fingerprint  string           `json:"fingerprint,omitempty"`
	Stats        map[string]int64 `json:"stats,omitempty"`
	Description  string           `json:"description,omitempty"`
	PreviousDirs []string         `json:"previous_dirs,omitempty"`
}

// Name returns "layer.table".
func (m *Manifest) Name() string { return m.Layer + "." + m.Table }

// AbsFiles returns the absolute paths of the manifest's files.
func (l *Lake) AbsFiles(m *Manifest) []string {
	out := make([]string, len(m.Files))
	for i, f := range m.Files {
		out[i] = filepath.Join(l.Root, filepath.FromSlash(f.Path))
	}
	return out
}

func (l *Lake) manifestPath(layer, table string) string {
	return l.MetaDir("tables", layer+"."+table+".json")
}

// Manifest returns the published manifest of a table, or nil if the table has
// never been published.
func (l *Lake) Manifest(layer, table string) (*Manifest, error) {
	b, err := os.ReadFile(l.manifestPath(layer, table))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest %s.%s: %w", layer, table, err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", l.manifestPath(layer, table), err)
	}
	return &m, nil
}

// Manifests returns every published manifest, sorted by layer order and name.
func (l *Lake) Manifests() ([]*Manifest, error) {
	entries, err := os.ReadDir(l.MetaDir("tables"))
	if err != nil {
		return nil, fmt.Errorf("list manifests: %w", err)
	}
	var out []*Manifest
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		layer, table, ok := strings.Cut(strings.TrimSuffix(name, ".json"), ".")
		if !ok {
			continue
		}
		m, err := l.Manifest(layer, table)
		if err != nil {
			return nil, err
		}
		if m != nil {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if a, b := layerRank(out[i].Layer), layerRank(out[j].Layer); a != b {
			return a < b
		}
		return out[i].Table < out[j].Table
	})
	return out, nil
}

func layerRank(l string) int {
	switch l {
	case Bronze:
		return 0
	case Silver:
		return 1
	case Gold:
		return 2
	case Quarantine:
		return 3
	}
	return 4
}

// Staging is a new version of a table being written. Nothing a reader sees
// changes until Publish.
type Staging struct {
	lake    *Lake
	Layer   string
	Table   string
	Version int64
	RunID   string
	dir     string // relative to the root
	prev    *Manifest
}

// Stage starts a new version of layer.table. The version's files go under
// <layer>/<table>/v<version>-<run>/ beside the published version.
func (l *Lake) Stage(layer, table, runID string) (*Staging, error) {
	prev, err := l.Manifest(layer, table)
	if err != nil {
		return nil, err
	}
	version := int64(1)
	if prev != nil {
		version = prev.Version + 1
	}
	rel := filepath.ToSlash(filepath.Join(layer, table, fmt.Sprintf("v%06d-%s", version, runID)))
	abs := filepath.Join(l.Root, filepath.FromSlash(rel))
	if err := os.RemoveAll(abs); err != nil {
		return nil, fmt.Errorf("stage %s.%s: %w", layer, table, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("stage %s.%s: %w", layer, table, err)
	}
	return &Staging{lake: l, Layer: layer, Table: table, Version: version, RunID: runID, dir: rel, prev: prev}, nil
}

// Dir returns the absolute directory to write the version's files into.
func (s *Staging) Dir() string { return filepath.Join(s.lake.Root, filepath.FromSlash(s.dir)) }

// Previous returns the manifest this version replaces, or nil.
func (s *Staging) Previous() *Manifest { return s.prev }

// Abort removes the staged files; the published version is untouched.
func (s *Staging) Abort() { _ = os.RemoveAll(s.Dir()) }

// Publish lists the staged Parquet files into m, fsyncs them and switches the
// table's manifest by atomic rename. m's Layer, Table, Version, RunID, Dir and
// Files are filled in here; Files' Rows must be given by the caller through
// rows (path relative to the staging dir → rows), since only the writer knows.
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
		relToStage, _ := filepath.Rel(root, p)
		relToStage = filepath.ToSlash(relToStage)
		n, ok := rows[relToStage]
		if !ok && rows != nil {
			return fmt.Errorf("no row count for %s", relToStage)
		}
		m.Files = append(m.Files, File{Path: s.dir + "/" + relToStage, Rows: n, Bytes: info.Size()})
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
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	if rows != nil {
		var total int64
		for _, f := range m.Files {
			total += f.Rows
		}
		m.Rows = total
	}
	if s.prev != nil {
		m.PreviousDirs = append([]string{s.prev.Dir}, s.prev.PreviousDirs...)
		if len(m.PreviousDirs) > keepVersions {
			m.PreviousDirs = m.PreviousDirs[:keepVersions]
		}
	}
	if err := s.lake.writeManifest(&m); err != nil {
		return nil, err
	}
	s.lake.collect(s.Layer, s.Table, &m)
	return &m, nil
}

// keepVersions is how many replaced versions stay on disk, for readers that
// opened them just before a publish and for a manual rollback.
const keepVersions = 1

func (l *Lake) writeManifest(m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	final := l.manifestPath(m.Layer, m.Table)
	tmp := final + ".tmp-" + m.RunID
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("write manifest %s: %w", m.Name(), err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write manifest %s: %w", m.Name(), err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync manifest %s: %w", m.Name(), err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("publish manifest %s: %w", m.Name(), err)
	}
	return syncDir(filepath.Dir(final))
}

// collect removes version directories of a table that no manifest refers to:
// versions older than those kept, and orphans of crashed runs.
func (l *Lake) collect(layer, table string, m *Manifest) {
	keep := map[string]bool{m.Dir: true}
	for _, d := range m.PreviousDirs {
		keep[d] = true
	}
	base := filepath.Join(l.Root, layer, table)
	entries, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range entries {
		rel := layer + "/" + table + "/" + e.Name()
		if e.IsDir() && strings.HasPrefix(e.Name(), "v") && !keep[rel] {
			_ = os.RemoveAll(filepath.Join(base, e.Name()))
		}
	}
}

// Orphans lists version directories that no manifest refers to (left by a
// crashed run). They are removed by the next publish of their table.
func (l *Lake) Orphans() ([]string, error) {
	ms, err := l.Manifests()
	if err != nil {
		return nil, err
	}
	keep := map[string]bool{}
	for _, m := range ms {
		keep[m.Dir] = true
		for _, d := range m.PreviousDirs {
			keep[d] = true
		}
	}
	var out []string
	for _, layer := range []string{Bronze, Silver, Gold, Quarantine} {
		tables, _ := os.ReadDir(filepath.Join(l.Root, layer))
		for _, t := range tables {
			versions, _ := os.ReadDir(filepath.Join(l.Root, layer, t.Name()))
			for _, v := range versions {
				rel := layer + "/" + t.Name() + "/" + v.Name()
				if v.IsDir() && !keep[rel] {
					out = append(out, rel)
				}
			}
		}
	}
	return out, nil
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
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// Lock takes the lake's writer lock, so that two writers never publish the
// same table at once. Readers need no lock. The lock is released by the
// returned function or when the process dies.
func (l *Lake) Lock() (func(), error) {
	p := l.MetaDir("lock")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lake lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lake %s is locked by another nexus process (%s): %w", l.Root, p, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
