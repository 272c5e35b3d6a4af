package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Record is one CSV record as read from the file. Fields alias the reader's
// buffers and are valid until the next call to Next.
type Record struct {
	Line   int64    // physical line (1-based) where the record starts
	Offset int64    // byte offset of the record's first byte in the stream
	Lines  int      // physical lines the record spans
	Fields [][]byte // unquoted field values
	Quoted []bool   // whether each field was quoted (a quoted empty field is "", not NULL)
	Raw    []byte   // the record's bytes as in the file, without the final line break
}

// RecordError is a malformed record: the reader skips it and goes on.
type RecordError struct {
	Line   int64
	Offset int64 // byte offset of the record's first byte in the stream
	Column int   // 1-based field number, 0 when unknown
	Kind   string
	Msg    string
	Raw    []byte
}

func (e *RecordError) Error() string {
	if e.Column > 0 {
		return fmt.Sprintf("line %d column %d: %s", e.Line, e.Column, e.Msg)
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

// Error kinds of a malformed record, stored in the quarantine's error_type.
const (
	ErrKindQuoting     = "BROKEN QUOTING"
	ErrKindFieldCount  = "FIELD COUNT"
	ErrKindUTF8        = "INVALID UTF-8"
	ErrKindCast        = "CAST"
	ErrKindTooLong     = "RECORD TOO LONG"
	ErrKindUnterminate = "UNTERMINATED QUOTE"
	ErrKindNUL         = "NUL BYTE"
	ErrKindEvent       = "EVENT" // a stream's event that is not a row of the contract
)

// csvReader is an RFC 4180 reader that, unlike encoding/csv, reports the
// physical line of every record, keeps the raw bytes for the quarantine, and
// recovers from a broken record instead of stopping. A quoted field may hold
// line breaks (LF or CRLF); an unterminated quote is cut off after
// maxQuotedLines lines so that one stray quote cannot swallow the rest of the
// file: the reader then resumes at the line after the record's first line.
type csvReader struct {
	br             *bufio.Reader
	pending        []byte // bytes pushed back after a recovery, read before br
	line           int64  // lines consumed so far
	consumed       int64  // bytes consumed so far (the stream's offset)
	recStart       int64  // offset of the record being read
	maxQuotedLines int
	maxRecordBytes int

	raw    []byte
	field  []byte // unquoted values, back to back
	ends   []int
	quoted []bool
	rec    Record
	eof    bool
}

// Records calls fn with each record of r after its header, which it returns
// first, with whether each field was quoted (an empty quoted field is an
// empty string, an unquoted one NULL): the files' own reader (RFC 4180, line breaks inside quotes kept as
// they are, CRLF included), for a caller that reads a source file as data
// (the stream's load generator). A malformed record ends the read with its
// error.
func Records(r io.Reader, header func(fields []string) error, fn func(line int64, fields []string, quoted []bool) error) error {
	rd := newCSVReader(r)
	first := true
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if len(rec.Fields) == 1 && len(rec.Fields[0]) == 0 && !rec.Quoted[0] {
			continue // a blank line holds no record
		}
		fields := make([]string, len(rec.Fields))
		for i, f := range rec.Fields {
			fields[i] = string(f)
		}
		if first {
			first = false
			if err := header(fields); err != nil {
				return err
			}
			continue
		}
		if err := fn(rec.Line, fields, append([]bool(nil), rec.Quoted...)); err != nil {
			return err
		}
	}
}

func newCSVReader(r io.Reader) *csvReader {
	return newCSVReaderSize(r, 1<<20)
}

// newCSVReaderSize is newCSVReader with a read buffer of size bytes. The
// records are the same whatever the size (a line longer than the buffer is
// read in pieces); a small buffer suits a reader that only peeks at a few
// records.
func newCSVReaderSize(r io.Reader, size int) *csvReader {
	return &csvReader{
		br:             bufio.NewReaderSize(r, size),
		maxQuotedLines: 200,
		maxRecordBytes: 8 << 20,
	}
}

// startAt makes the reader read a stream that starts at byte offset of the
// file, after line lines: the offsets and lines of its records are then the
// file's.
func (r *csvReader) startAt(offset, line int64) {
	r.consumed, r.line = offset, line
}

// reset makes the reader read src from its start, forgetting all state but
// its buffers.
func (r *csvReader) reset(src io.Reader) {
	r.br.Reset(src)
	r.pending = nil
	r.line, r.consumed, r.recStart = 0, 0, 0
	r.eof = false
}

// readLine returns the next physical line including its terminator (LF), or
// the final unterminated line. It returns io.EOF when nothing is left.
func (r *csvReader) readLine(dst []byte) ([]byte, error) {
	if len(r.pending) > 0 {
		i := bytes.IndexByte(r.pending, '\n')
		var l []byte
		if i < 0 {
			l, r.pending = r.pending, nil
		} else {
			l, r.pending = r.pending[:i+1], r.pending[i+1:]
		}
		r.consumed += int64(len(l))
		return append(dst, l...), nil
	}
	start := len(dst)
	for {
		chunk, err := r.br.ReadSlice('\n')
		dst = append(dst, chunk...)
		r.consumed += int64(len(chunk))
		if err == nil {
			return dst, nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(dst)-start > r.maxRecordBytes {
				return dst, errTooLong
			}
			continue
		}
		if errors.Is(err, io.EOF) {
			if len(dst) == start {
				return dst, io.EOF
			}
			return dst, nil
		}
		return dst, err
	}
}

var errTooLong = errors.New("record too long")

// Next reads the next record. It returns (nil, *RecordError) for a malformed
// record, after which reading may go on, and (nil, io.EOF) at the end.
func (r *csvReader) Next() (*Record, error) {
	if r.eof {
		return nil, io.EOF
	}
	r.raw = r.raw[:0]
	r.field = r.field[:0]
	r.ends = r.ends[:0]
	r.quoted = r.quoted[:0]
	startLine := r.line + 1
	startOffset := r.consumed
	r.recStart = startOffset

	var err error
	r.raw, err = r.readLine(r.raw)
	if err == io.EOF {
		r.eof = true
		return nil, io.EOF
	}
	r.line++
	if err != nil {
		if errors.Is(err, errTooLong) {
			r.skipRestOfLine()
			return nil, &RecordError{Line: startLine, Offset: startOffset, Kind: ErrKindTooLong, Msg: fmt.Sprintf("line longer than %d bytes (binary data?)", r.maxRecordBytes), Raw: clip(r.raw)}
		}
		return nil, fmt.Errorf("line %d: %w", startLine, err)
	}
	lines := 1

	// Fast path: a line with no quote is split on commas.
	body := trimEOL(r.raw)
	if bytes.IndexByte(body, '"') < 0 {
		for {
			i := bytes.IndexByte(body, ',')
			if i < 0 {
				r.field = append(r.field, body...)
				r.ends = append(r.ends, len(r.field))
				r.quoted = append(r.quoted, false)
				break
			}
			r.field = append(r.field, body[:i]...)
			r.ends = append(r.ends, len(r.field))
			r.quoted = append(r.quoted, false)
			body = body[i+1:]
		}
		return r.record(startLine, startOffset, lines), nil
	}

	// Slow path: a state machine over the record, pulling more lines while a
	// quoted field is open.
	pos := 0
	col := 1
	for {
		// At the start of a field.
		if pos < len(r.raw) && r.raw[pos] == '"' {
			pos++
			for {
				i := bytes.IndexByte(r.raw[pos:], '"')
				if i < 0 {
					// The quoted field goes on past this line.
					r.field = append(r.field, r.raw[pos:]...)
					if lines >= r.maxQuotedLines {
						return nil, r.recover(startLine, col, fmt.Sprintf("quoted field opened on line %d is not closed within %d lines", startLine, r.maxQuotedLines))
					}
					pos = len(r.raw)
					var err error
					r.raw, err = r.readLine(r.raw)
					if err == io.EOF {
						// Blame only the record's first line and read the
						// lines after it again: a stray quote near the end
						// must not swallow the records that follow it.
						return nil, r.recoverAs(startLine, col, ErrKindUnterminate, fmt.Sprintf("quoted field opened on line %d is not closed before the end of the file", startLine))
					}
					if err != nil {
						if errors.Is(err, errTooLong) {
							r.skipRestOfLine()
							r.line++ // the over-long line is consumed: later line numbers stay right
							return nil, &RecordError{Line: startLine, Offset: startOffset, Column: col, Kind: ErrKindTooLong, Msg: "record too long (binary data?)", Raw: clip(r.raw)}
						}
						return nil, fmt.Errorf("line %d: %w", r.line+1, err)
					}
					r.line++
					lines++
					if len(r.raw) > r.maxRecordBytes {
						return nil, r.recover(startLine, col, "quoted field too long")
					}
					continue
				}
				r.field = append(r.field, r.raw[pos:pos+i]...)
				pos += i + 1
				if pos < len(r.raw) && r.raw[pos] == '"' { // doubled quote
					r.field = append(r.field, '"')
					pos++
					continue
				}
				break
			}
			r.ends = append(r.ends, len(r.field))
			r.quoted = append(r.quoted, true)
			// After a closing quote: a comma, the end of the line, or an error.
			rest := r.raw[pos:]
			switch {
			case len(rest) > 0 && rest[0] == ',':
				pos++
				col++
				continue
			case len(trimEOL(rest)) == 0:
				return r.record(startLine, startOffset, lines), nil
			default:
				return nil, r.recover(startLine, col, fmt.Sprintf("unexpected %q after the closing quote of field %d", rest[0], col))
			}
		}
		// Unquoted field: up to the next comma or end of line; no quote allowed.
		rest := r.raw[pos:]
		end := bytes.IndexByte(rest, ',')
		last := end < 0
		if last {
			end = len(trimEOL(rest))
		}
		val := rest[:end]
		if q := bytes.IndexByte(val, '"'); q >= 0 {
			return nil, r.recover(startLine, col, fmt.Sprintf("bare quote inside unquoted field %d", col))
		}
		r.field = append(r.field, val...)
		r.ends = append(r.ends, len(r.field))
		r.quoted = append(r.quoted, false)
		if last {
			return r.record(startLine, startOffset, lines), nil
		}
		pos += end + 1
		col++
	}
}

// recover reports a quoting error for the record that started at startLine.
// Only that record's first line is blamed: the lines read after it are pushed
// back, so a stray quote costs one record, not the rest of the file.
func (r *csvReader) recover(startLine int64, col int, msg string) error {
	return r.recoverAs(startLine, col, ErrKindQuoting, msg)
}

func (r *csvReader) recoverAs(startLine int64, col int, kind, msg string) error {
	first := r.raw
	if i := bytes.IndexByte(r.raw, '\n'); i >= 0 && i+1 < len(r.raw) {
		first = r.raw[:i+1]
		rest := append([]byte(nil), r.raw[i+1:]...)
		r.pending = append(rest, r.pending...)
		r.consumed -= int64(len(rest))
		r.line = startLine
	}
	return &RecordError{Line: startLine, Offset: r.recStart, Column: col, Kind: kind, Msg: msg, Raw: clip(trimEOL(first))}
}

func (r *csvReader) skipRestOfLine() {
	for {
		chunk, err := r.br.ReadSlice('\n')
		r.consumed += int64(len(chunk))
		if !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

func (r *csvReader) record(line, offset int64, lines int) *Record {
	r.rec.Line = line
	r.rec.Offset = offset
	r.rec.Lines = lines
	r.rec.Raw = trimEOL(r.raw)
	r.rec.Fields = r.rec.Fields[:0]
	start := 0
	for _, e := range r.ends {
		r.rec.Fields = append(r.rec.Fields, r.field[start:e:e])
		start = e
	}
	r.rec.Quoted = r.quoted
	return &r.rec
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// clip copies at most 64 KiB of raw bytes for the quarantine.
func clip(b []byte) []byte {
	const max = 64 << 10
	if len(b) > max {
		b = b[:max]
	}
	return append([]byte(nil), b...)
}
