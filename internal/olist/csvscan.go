package olist

import (
	"bytes"
	"fmt"
)

// A reader of the generator's own CSV output that keeps every record's bytes
// as written, so that a landing zone can copy records unchanged.

// span is one record of a file: data[off:end] without its line ending.
type span struct {
	off, end int
	line     int64 // physical line where the record starts (the header is line 1)
	nl       int32 // line feeds inside the record (multi-line quoted values)
}

// scannedFile is a whole CSV file split into its header and records.
type scannedFile struct {
	data   []byte
	header []byte // the header line as written (BOM included), without its line ending
	recs   []span
}

// scanCSV splits a file written with table t's format: records end with t's
// line ending outside quotes; the last one may end without one. Fields are
// not checked here (see fields), so a malformed record is still one record.
func scanCSV(data []byte, t Table) (*scannedFile, error) {
	eol := "\n"
	if t.CRLF {
		eol = "\r\n"
	}
	// One allocation: there are at most as many records as line feeds.
	sf := &scannedFile{data: data, recs: make([]span, 0, bytes.Count(data, []byte("\n"))+1)}
	var line int64 = 1
	first := true
	for pos := 0; pos < len(data); {
		start, nl, quoted := pos, int32(0), false
		i := pos
		for ; i < len(data); i++ {
			if c := data[i]; c == '"' {
				quoted = !quoted // a doubled quote toggles twice
			} else if c == '\n' {
				if !quoted {
					break
				}
				nl++
			}
		}
		// data[i] is the record's line feed, or i is the end of the file.
		end, next := i, i
		if i < len(data) {
			next = i + 1
			cr := i > start && data[i-1] == '\r'
			if cr != t.CRLF {
				return nil, fmt.Errorf("line %d: the record does not end with the file's line ending %q", line+int64(nl), eol)
			}
			if cr {
				end = i - 1
			}
		}
		if first {
			sf.header = data[start:end]
			first = false
		} else {
			sf.recs = append(sf.recs, span{off: start, end: end, line: line, nl: nl})
		}
		line += int64(nl) + 1
		pos = next
	}
	if first {
		return nil, fmt.Errorf("no header")
	}
	return sf, nil
}

// raw returns the bytes of record i as written.
func (sf *scannedFile) raw(i int) []byte { r := sf.recs[i]; return sf.data[r.off:r.end] }

// fields splits a record into its fields as written (quotes kept) and
// reports whether it has n of them.
func fields(rec []byte, n int, out [][]byte) ([][]byte, bool) {
	out = out[:0]
	quoted := false
	start := 0
	for i := 0; i < len(rec); i++ {
		switch rec[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				out = append(out, rec[start:i])
				start = i + 1
			}
		}
	}
	out = append(out, rec[start:])
	return out, len(out) == n && !quoted
}

// fieldValue returns a field's value: quotes removed, doubled quotes undone
// (only then is it a copy).
func fieldValue(f []byte) []byte {
	if len(f) >= 2 && f[0] == '"' && f[len(f)-1] == '"' {
		in := f[1 : len(f)-1]
		if bytes.Contains(in, []byte(`""`)) {
			return bytes.ReplaceAll(in, []byte(`""`), []byte(`"`))
		}
		return in
	}
	return f
}

// parseDay returns the civil day of a timestamp written as
// "YYYY-MM-DD HH:MM:SS" (or of a bare "YYYY-MM-DD" when dateOnly), and false
// for anything else, an impossible date or time included.
func parseDay[T string | []byte](v T, dateOnly bool) (int64, bool) {
	n := 19
	if dateOnly {
		n = 10
	}
	if len(v) != n {
		return 0, false
	}
	num := func(a, b int) (int64, bool) {
		var x int64
		for i := a; i < b; i++ {
			if v[i] < '0' || v[i] > '9' {
				return 0, false
			}
			x = x*10 + int64(v[i]-'0')
		}
		return x, true
	}
	y, ok1 := num(0, 4)
	m, ok2 := num(5, 7)
	d, ok3 := num(8, 10)
	if !ok1 || !ok2 || !ok3 || v[4] != '-' || v[7] != '-' || m < 1 || m > 12 || d < 1 {
		return 0, false
	}
	day := daysFromCivil(y, m, d)
	if _, _, dd := civil(day); dd != d { // 2018-02-30
		return 0, false
	}
	if !dateOnly {
		h, ok1 := num(11, 13)
		mi, ok2 := num(14, 16)
		s, ok3 := num(17, 19)
		if !ok1 || !ok2 || !ok3 || v[10] != ' ' || v[13] != ':' || v[16] != ':' || h > 23 || mi > 59 || s > 59 {
			return 0, false
		}
	}
	return day, true
}

// appendDay appends a civil day as YYYY-MM-DD.
func appendDay(dst []byte, day int64) []byte {
	y, m, d := civil(day)
	dst = append(dst, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-')
	dst = append2(dst, m)
	dst = append(dst, '-')
	return append2(dst, d)
}

func formatDay(day int64) string { return string(appendDay(nil, day)) }
