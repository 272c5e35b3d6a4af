package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/olist"
)

// FileError is a problem with a whole source file: the table is not ingested
// and its published version stays as it was.
type FileError struct {
	File string
	Msg  string
	// Err, when set, is the class of the problem (ErrSourceChanging).
	Err error
}

func (e *FileError) Error() string { return e.File + ": " + e.Msg }

func (e *FileError) Unwrap() error { return e.Err }

// ErrSourceChanging: a source file changed while it was read. Unlike the
// other file errors it is transient: the same run succeeds once the writer
// is done.
var ErrSourceChanging = errors.New("source file is still being written")

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

// notRegular describes why a source path is not a regular file, or returns
// "" when it is one. A FIFO or a device would block or never end (a symlink
// to /dev/zero is read forever), so they fail before anything reads them.
func notRegular(path string, mode fs.FileMode) string {
	if mode.IsRegular() {
		return ""
	}
	var kind string
	switch {
	case mode.IsDir():
		kind = "directory"
	case mode&fs.ModeNamedPipe != 0:
		kind = "named pipe (FIFO)"
	case mode&fs.ModeSocket != 0:
		kind = "socket"
	case mode&fs.ModeCharDevice != 0:
		kind = "character device"
	case mode&fs.ModeDevice != 0:
		kind = "block device"
	default:
		kind = "special file"
	}
	if li, err := os.Lstat(path); err == nil && li.Mode()&fs.ModeSymlink != 0 {
		if target, err := filepath.EvalSymlinks(path); err == nil {
			return fmt.Sprintf("is a symbolic link to %s, a %s, not a regular file", target, kind)
		}
	}
	return fmt.Sprintf("is a %s, not a regular file", kind)
}

// openRegular opens a source file for reading and checks, on the opened
// descriptor, that it is a regular file. O_NONBLOCK keeps the open of a FIFO
// from waiting for a writer; it changes nothing for a regular file.
func openRegular(path string) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fileErr(path, "%v", err)
	}
	// On the failures below nothing was read: closing the read-only
	// descriptor cannot lose data, and its error would hide the cause.
	info, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, nil, fileErr(path, "%v", err)
	}
	if msg := notRegular(path, info.Mode()); msg != "" {
		_ = f.Close()
		return nil, nil, fileErr(path, "%s", msg)
	}
	return f, info, nil
}

// fileReader reads a source file, counting the bytes for progress and
// stopping as soon as the context is cancelled: a long read must not outlive
// SIGTERM or hold the lake lock.
type fileReader struct {
	ctx context.Context
	r   io.Reader
	n   *atomic.Int64 // nil: not counted
}

func (c fileReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	if c.n != nil {
		c.n.Add(int64(n))
	}
	return n, err
}

var (
	gzipMagic = []byte{0x1f, 0x8b}
	utf8BOM   = []byte{0xEF, 0xBB, 0xBF}
	utf16LE   = []byte{0xFF, 0xFE}
	utf16BE   = []byte{0xFE, 0xFF}
)

// source is an opened source file: decompressed, past any BOM, checked to be
// text.
type source struct {
	io.Reader
	close func() error
	// offset is the position of the reader's first byte in the (decompressed)
	// file: the BOM's length, so that offsets in reasons are the file's.
	offset int64
	gz     bool
}

func (s *source) Close() error { return s.close() }

// what names the stream that offsets count in.
func (s *source) what() string {
	if s.gz {
		return "decompressed file"
	}
	return "file"
}

// readSource reads the opened file f (named path), decompressing .gz, and
// checks that it looks like text: an empty file, a compressed file under a
// .csv name, or a file that is not text are file-level errors. Stray bad
// bytes in a text file are left to the records that hold them. read counts
// the bytes read from f. Closing the source does not close f.
func readSource(ctx context.Context, f *os.File, path string, read *atomic.Int64) (*source, error) {
	fr := bufio.NewReaderSize(fileReader{ctx, f, read}, 1<<20)
	br := fr // the text: fr itself or its decompression
	src := &source{close: func() error { return nil }}
	head, err := fr.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, readErr(path, err)
	}
	if strings.HasSuffix(path, ".gz") {
		if !bytes.Equal(head, gzipMagic) {
			return nil, fileErr(path, "named .gz but is not gzip-compressed")
		}
		zr, err := gzip.NewReader(fr)
		if err != nil {
			if ctx.Err() != nil {
				return nil, readErr(path, ctx.Err())
			}
			return nil, fileErr(path, "broken gzip stream: %v", err)
		}
		br = bufio.NewReaderSize(zr, 1<<20)
		src.close, src.gz = zr.Close, true
	} else if bytes.Equal(head, gzipMagic) {
		return nil, fileErr(path, "is gzip-compressed data; name it %s.gz", filepath.Base(path))
	}
	peek, err := br.Peek(64 << 10)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, src.drop(readErr(path, err))
	}
	if bytes.HasPrefix(peek, utf8BOM) {
		if _, err := br.Discard(len(utf8BOM)); err != nil {
			return nil, src.drop(readErr(path, err))
		}
		peek = peek[len(utf8BOM):]
		src.offset = int64(len(utf8BOM))
	}
	if len(bytes.TrimSpace(peek)) == 0 {
		return nil, src.drop(fileErr(path, "file is empty (no header line)"))
	}
	if msg := sniffText(peek); msg != "" {
		return nil, src.drop(fileErr(path, "%s", msg))
	}
	src.Reader = br
	return src, nil
}

// drop closes a source that failed its checks and returns err, the cause.
// The close error is left out: a gzip reader's Close only repeats an error of
// its own reads, which err already reports or which is moot beside it.
func (s *source) drop(err error) error {
	_ = s.close()
	return err
}

// readErr reports a failed read of a source file; a cancellation stays one
// (errors.Is(err, context.Canceled)), it says nothing about the file.
func readErr(path string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("ingest %s: %w", path, err)
	}
	return fileErr(path, "read: %v", err)
}

// Thresholds of sniffText. A real CSV with a few corrupted records stays far
// below them, and the floor keeps a small file with one bad record from
// failing as a whole.
const (
	binaryShare  = 0.10 // control or invalid bytes: mostly binary
	invalidShare = 0.01 // invalid UTF-8: another encoding (Latin-1...)
	minBadBytes  = 16
)

// sniffText says what is wrong with a file whose first bytes are b when it is
// not UTF-8 text, or returns "". It never quotes the content: the file may
// be anything (a symlink to a private file, an image).
func sniffText(b []byte) string {
	if bytes.HasPrefix(b, utf16LE) || bytes.HasPrefix(b, utf16BE) {
		return "is UTF-16 text; Olist files are UTF-8 (convert it, e.g. iconv -f UTF-16 -t UTF-8)"
	}
	ctrl, invalid := badBytes(b)
	share := func(n int) float64 { return float64(n) / float64(len(b)) }
	switch {
	case ctrl+invalid >= minBadBytes && share(ctrl+invalid) > binaryShare:
		return fmt.Sprintf("binary data, not CSV text (%.0f%% control or invalid bytes in the first %d bytes)", share(ctrl+invalid)*100, len(b))
	case invalid >= minBadBytes && share(invalid) > invalidShare:
		return fmt.Sprintf("not UTF-8 text (%d invalid UTF-8 bytes in the first %d bytes; Latin-1 or Windows-1252? convert it, e.g. iconv -f WINDOWS-1252 -t UTF-8)", invalid, len(b))
	}
	return ""
}

// badBytes counts the bytes in b that text never has: control characters
// other than tab and line breaks (NUL among them), and invalid UTF-8.
func badBytes(b []byte) (ctrl, invalid int) {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				ctrl++
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			// A multi-byte rune cut by the peek window is not garbage.
			if len(b)-i >= utf8.UTFMax {
				invalid++
			}
			n = 1
		}
		i += n
	}
	return ctrl, invalid
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
		if bytes.IndexByte(h, 0) >= 0 {
			return nil, nil, fileErr(path, "line 1 column %d: NUL byte in the header", i+1)
		}
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
	case len(missing) == len(t.Columns):
		// Not one expected column: this is some other file, whose first line
		// is not repeated (it may be anything, /etc/passwd through a symlink).
		return nil, nil, fileErr(path, "line 1 is not the header of %s: none of its columns (%s) is there; is this the right file?",
			t.File, strings.Join(t.ColumnNames(), ","))
	case len(missing) > 0 && len(unexpected) > 0:
		return nil, nil, fileErr(path, "line 1: header is missing column(s) %s and has unexpected column(s) %s (renamed?); expected %s",
			strings.Join(missing, ", "), clipNames(unexpected), strings.Join(t.ColumnNames(), ","))
	case len(missing) > 0:
		return nil, nil, fileErr(path, "line 1: header is missing column(s) %s; expected %s", strings.Join(missing, ", "), strings.Join(t.ColumnNames(), ","))
	case len(unexpected) > 0 && onDrift != DriftEvolve:
		return nil, nil, fileErr(path, "line 1: header has column(s) %s that the contract does not know (schema drift); re-run with --on-drift evolve to keep them as text columns",
			clipNames(unexpected))
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

// clipNames lists header names for a message, each cut to a sane length.
func clipNames(names []string) string {
	const max = 64
	out := make([]string, len(names))
	for i, n := range names {
		if r := []rune(n); len(r) > max {
			n = string(r[:max]) + "…"
		}
		out[i] = n
	}
	return strings.Join(out, ", ")
}

func normalizeHeader(s string) string {
	return strings.ToLower(strings.TrimSpace(strings.TrimPrefix(s, "\ufeff")))
}

// statSlack is how far in the past a file's modification time must be when
// it is hashed for the time to vouch for its content later: more than the
// coarsest timestamp granularity of common file systems (FAT: 2 s), so
// that a write after the hashing moves the time.
const statSlack = 3 * time.Second

// vouch records, in an input hashed from hashed on, what lets the next
// ingest trust the file without reading it: its modification time when
// older than statSlack (else none: read it again next time) and its
// identity (fileID).
func vouch(in *lake.Input, info fs.FileInfo, hashed time.Time) {
	in.ModTime, in.FileID = 0, ""
	if mt := info.ModTime(); mt.Before(hashed.Add(-statSlack)) {
		in.ModTime, in.FileID = mt.UnixNano(), fileID(info)
	}
}

// unchangedByStat says whether the file behind info is the input prev
// hashed, by its name, size, modification time and identity (device,
// inode, change time), as git's index judges a file: no read of a file
// that has not been written to or replaced since.
func unchangedByStat(prev lake.Input, name string, info fs.FileInfo) bool {
	return prev.ModTime != 0 && prev.FileID != "" && prev.Name == name && prev.Size == info.Size() &&
		prev.ModTime == info.ModTime().UnixNano() && prev.FileID == fileID(info)
}
