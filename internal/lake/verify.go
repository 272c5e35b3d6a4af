package lake

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Problem is what is wrong with a table's files.
type Problem string

// Problems Verify finds.
const (
	ProblemManifest    Problem = "unreadable manifest"
	ProblemMissingFile Problem = "missing file"
	ProblemSize        Problem = "size mismatch"
	ProblemFooter      Problem = "unreadable footer"
)

// Finding is one problem with one table of a snapshot.
type Finding struct {
	Table   string  `json:"table"`
	Version int64   `json:"version,omitempty"`
	Problem Problem `json:"problem"`
	File    string  `json:"file,omitempty"` // lake-relative
	Detail  string  `json:"detail"`
}

func (f Finding) Error() string {
	if f.File != "" {
		return fmt.Sprintf("table %s is damaged: %s %s (%s)", f.Table, f.Problem, f.File, f.Detail)
	}
	return fmt.Sprintf("table %s is damaged: %s (%s)", f.Table, f.Problem, f.Detail)
}

// ErrDamaged wraps the findings of a damaged table.
var ErrDamaged = errors.New("table damaged")

// Verify checks that every file a manifest lists exists with its recorded
// size and ends with a Parquet footer. It reads 12 bytes per file, so it is
// cheap enough to run whenever a table is opened.
func (l *Lake) Verify(m *Manifest) []Finding {
	var out []Finding
	for _, f := range m.Files {
		if fd := l.verifyFile(m, f); fd != nil {
			out = append(out, *fd)
		}
	}
	return out
}

func (l *Lake) verifyFile(m *Manifest, f File) *Finding {
	find := func(p Problem, detail string) *Finding {
		return &Finding{Table: m.Name(), Version: m.Version, Problem: p, File: f.Path, Detail: detail}
	}
	fh, err := os.Open(l.Abs(f.Path))
	if errors.Is(err, fs.ErrNotExist) {
		return find(ProblemMissingFile, "the file the manifest lists is not on disk")
	}
	if err != nil {
		return find(ProblemMissingFile, err.Error())
	}
	defer fh.Close()
	info, err := fh.Stat()
	if err != nil {
		return find(ProblemMissingFile, err.Error())
	}
	if !info.Mode().IsRegular() {
		return find(ProblemMissingFile, "not a regular file")
	}
	if info.Size() != f.Bytes {
		return find(ProblemSize, fmt.Sprintf("%d bytes on disk, %d in the manifest", info.Size(), f.Bytes))
	}
	// A Parquet file starts with "PAR1" and ends with the footer's length
	// and "PAR1".
	if info.Size() < 12 {
		return find(ProblemFooter, "too short to be Parquet")
	}
	var head [4]byte
	var tail [8]byte
	if _, err := fh.ReadAt(head[:], 0); err != nil {
		return find(ProblemFooter, err.Error())
	}
	if _, err := fh.ReadAt(tail[:], info.Size()-8); err != nil && !errors.Is(err, io.EOF) {
		return find(ProblemFooter, err.Error())
	}
	if string(head[:]) != "PAR1" || string(tail[4:]) != "PAR1" {
		return find(ProblemFooter, "no Parquet magic bytes")
	}
	if n := int64(binary.LittleEndian.Uint32(tail[:4])); n <= 0 || n > info.Size()-12 {
		return find(ProblemFooter, fmt.Sprintf("footer length %d does not fit a %d-byte file", n, info.Size()))
	}
	return nil
}

// Check returns every finding about the pinned view: unreadable manifests and
// damaged files, table by table, in layer order.
func (l *Lake) Check() []Finding {
	var out []Finding
	for _, t := range l.Tables() {
		if t.Err != nil {
			var v int64
			if l.snap != nil {
				v = l.snap.Tables[t.Name].Version
			}
			out = append(out, Finding{Table: t.Name, Version: v, Problem: ProblemManifest, Detail: t.Err.Error()})
			continue
		}
		out = append(out, l.Verify(t.Manifest)...)
	}
	return out
}

// Intact returns the table's manifest at the pinned view when it can be read
// and all its files verify, else nil: writers use it to decide whether a
// table is up to date, so a damaged table is rebuilt instead of trusted.
func (l *Lake) Intact(layer, table string) *Manifest {
	m, err := l.Manifest(layer, table)
	if err != nil || len(l.Verify(m)) > 0 {
		return nil
	}
	// The manifest itself may have been damaged since this handle cached it
	// (a long-lived writer): read it again.
	if l.snap != nil && !l.isPending(m) {
		if ref, ok := l.snap.Tables[m.Name()]; ok {
			if _, err := readManifestFile(l.Abs(ref.Manifest)); err != nil {
				return nil
			}
		}
	}
	return m
}

func (l *Lake) isPending(m *Manifest) bool {
	if l.tx == nil {
		return false
	}
	l.tx.mu.Lock()
	defer l.tx.mu.Unlock()
	return l.tx.pending[m.Name()] == m
}
