package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/keystone/nexus/internal/olist"
)

// FileError is a problem with a whole source file: the table is not ingested
// and its published version stays as it was.
type FileError struct {
	File string
	Msg  string
}

func (e *FileError) Error() string { return e.File + ": " + e.Msg }

func fileErr(file, format string, args ...any) error {
	return &FileError{File: file, Msg: fmt.Sprintf(format, args...)}
}

// locate finds a table's file in dir, plain or gzip-compressed.
func locate(dir string, t olist.Table) (string, error) {
	plain := filepath.Join(dir, t.File)
	gz := plain + ".gz"
	_, errPlain := os.Stat(plain)
	_, errGz := os.Stat(gz)
	switch {
	case errPlain == nil && errGz == nil:
		return "", fileErr(plain, "both %s and %s exist; keep one", t.File, t.File+".gz")
	case errPlain == nil:
		return plain, nil
	case errGz == nil:
		return gz, nil
	case errors.Is(errPlain, fs.ErrNotExist):
		return "", fileErr(plain, "missing source file for table %s (expected %s or %s.gz in %s)", t.Name, t.File, t.File, dir)
	default:
		return "", fileErr(plain, "%v", errPlain)
	}
}

// countingReader counts the bytes read from the file, for progress.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

var gzipMagic = []byte{0x1f, 0x8b}
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// openSource opens a source file, decompressing .gz, and checks that it looks
// like text: an empty file, a compressed file under a .csv name, or binary
// data are file-level errors. The returned reader starts after any BOM.
func openSource(path string, read *atomic.Int64) (io.Reader, func() error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fileErr(path, "%v", err)
	}
	var r io.Reader = bufio.NewReaderSize(countingReader{f, read}, 1<<20)
	closeFn := f.Close
	head, _ := r.(*bufio.Reader).Peek(2)
	if strings.HasSuffix(path, ".gz") {
		if !bytes.Equal(head, gzipMagic) {
			f.Close()
			return nil, nil, fileErr(path, "named .gz but is not gzip-compressed")
		}
		zr, err := gzip.NewReader(r)
		if err != nil {
			f.Close()
			return nil, nil, fileErr(path, "broken gzip stream: %v", err)
		}
		r = bufio.NewReaderSize(zr, 1<<20)
		closeFn = func() error { zr.Close(); return f.Close() }
	} else if bytes.Equal(head, gzipMagic) {
		f.Close()
		return nil, nil, fileErr(path, "is gzip-compressed data; name it %s.gz", filepath.Base(path))
	}
	br := r.(*bufio.Reader)
	peek, err := br.Peek(64 << 10)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		closeFn()
		return nil, nil, fileErr(path, "read: %v", err)
	}
	if bytes.HasPrefix(peek, utf8BOM) {
		_, _ = br.Discard(len(utf8BOM))
		peek = peek[len(utf8BOM):]
	}
	if len(bytes.TrimSpace(peek)) == 0 {
		closeFn()
		return nil, nil, fileErr(path, "file is empty (no header line)")
	}
	if i := bytes.IndexByte(peek, 0); i >= 0 {
		closeFn()
		return nil, nil, fileErr(path, "binary data, not CSV text (NUL byte at offset %d)", i)
	}
	if bad := controlShare(peek); bad > 0.01 {
		closeFn()
		return nil, nil, fileErr(path, "binary data, not CSV text (%.0f%% control or invalid bytes in the first %d bytes)", bad*100, len(peek))
	}
	return br, closeFn, nil
}

// controlShare is the share of bytes in b that text never has: control
// characters other than tab and line breaks, and invalid UTF-8.
func controlShare(b []byte) float64 {
	if len(b) == 0 {
		return 0
	}
	bad := 0
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				bad++
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			// A multi-byte rune cut by the peek window is not garbage.
			if len(b)-i >= utf8.UTFMax {
				bad++
			}
			n = 1
		}
		i += n
	}
	return float64(bad) / float64(len(b))
}

// headerMap matches a file's header to the contract. It returns, for each
// field of the file, the index of its contract column or -1 for an extra
// column, plus the names of the extra columns.
func headerMap(path string, t olist.Table, header [][]byte, onDrift string) (idx []int, extras []string, err error) {
	want := map[string]int{}
	for i, c := range t.Columns {
		want[normalizeHeader(c.Name)] = i
		for _, a := range c.Aliases {
			want[normalizeHeader(a)] = i
		}
	}
	seen := make([]bool, len(t.Columns))
	idx = make([]int, len(header))
	var unexpected []string
	for i, h := range header {
		name := normalizeHeader(string(h))
		if !utf8.ValidString(name) {
			return nil, nil, fileErr(path, "line 1 column %d: header is not valid UTF-8", i+1)
		}
		ci, ok := want[name]
		switch {
		case !ok:
			idx[i] = -1
			unexpected = append(unexpected, name)
		case seen[ci]:
			return nil, nil, fileErr(path, "line 1 column %d: column %q appears twice in the header", i+1, name)
		default:
			seen[ci] = true
			idx[i] = ci
		}
	}
	var missing []string
	for i, ok := range seen {
		if !ok {
			missing = append(missing, t.Columns[i].Name)
		}
	}
	switch {
	case len(missing) > 0 && len(unexpected) > 0:
		return nil, nil, fileErr(path, "line 1: header is missing column(s) %s and has unexpected column(s) %s (renamed?); expected %s",
			strings.Join(missing, ", "), strings.Join(unexpected, ", "), strings.Join(t.ColumnNames(), ","))
	case len(missing) > 0:
		return nil, nil, fileErr(path, "line 1: header is missing column(s) %s; expected %s", strings.Join(missing, ", "), strings.Join(t.ColumnNames(), ","))
	case len(unexpected) > 0 && onDrift != DriftEvolve:
		return nil, nil, fileErr(path, "line 1: header has column(s) %s that the contract does not know (schema drift); re-run with --on-drift evolve to keep them as text columns",
			strings.Join(unexpected, ", "))
	}
	for _, u := range unexpected {
		if u == "" || strings.HasPrefix(u, "_") {
			return nil, nil, fileErr(path, "line 1: extra column name %q cannot be kept (empty or reserved prefix '_')", u)
		}
	}
	return idx, unexpected, nil
}

// checkDelimiter reports a header line that is separated by something other
// than commas, before the CSV reader makes a confusing error of it.
func checkDelimiter(path string, t olist.Table, rawHeader []byte) error {
	h := string(rawHeader)
	if len(t.Columns) < 2 || strings.Count(h, ",") >= len(t.Columns)-1 {
		return nil
	}
	for _, d := range []struct{ sep, name string }{{";", "semicolon"}, {"\t", "tab"}, {"|", "pipe"}} {
		if strings.Count(h, d.sep) >= len(t.Columns)-1 {
			return fileErr(path, "line 1: header uses %s (%q) as delimiter; Olist files are comma-separated", d.name, d.sep)
		}
	}
	return nil
}

func normalizeHeader(s string) string {
	return strings.ToLower(strings.TrimSpace(strings.TrimPrefix(s, "\ufeff")))
}
