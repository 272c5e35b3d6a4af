package olist

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
)

const writeBuffer = 1 << 20

// headerName is the spelling a column has in the original file header: the
// first alias when there is one (products say "lenght"), else the name.
func headerName(c Column) string {
	if len(c.Aliases) > 0 {
		return c.Aliases[0]
	}
	return c.Name
}

// csvWriter writes one source file following its contract: column order,
// per-column quoting, line endings (also inside quoted values), BOM, quoted or
// bare header and the final newline.
type csvWriter struct {
	t     Table
	w     *bufio.Writer
	eol   string
	rec   []byte // the record being built
	nl    int64  // line feeds written so far
	rows  int64
	bytes int64
	err   error
}

func newCSVWriter(w io.Writer, t Table) *csvWriter {
	cw := &csvWriter{t: t, w: bufio.NewWriterSize(w, writeBuffer), eol: "\n", rec: make([]byte, 0, 4096)}
	if t.CRLF {
		cw.eol = "\r\n"
	}
	if t.BOM {
		cw.rec = append(cw.rec, 0xEF, 0xBB, 0xBF)
	}
	for i, c := range t.Columns {
		if i > 0 {
			cw.rec = append(cw.rec, ',')
		}
		if t.QuoteHeader {
			cw.rec = appendQuoted(cw.rec, headerName(c), cw.eol, &cw.nl)
		} else {
			cw.rec = append(cw.rec, headerName(c)...)
		}
	}
	cw.flushRec()
	return cw
}

func (cw *csvWriter) flushRec() {
	if cw.err == nil {
		n, err := cw.w.Write(cw.rec)
		cw.bytes += int64(n)
		cw.err = err
	}
	cw.rec = cw.rec[:0]
}

// field kinds of a record value
const (
	fNull uint8 = iota
	fBytes
	fInt   // Int, or Money in cents
	fFloat // Float
	fTime  // Timestamp as an absolute instant
	fLocal // Timestamp as a local wall clock (seconds since the epoch)
)

type field struct {
	kind   uint8
	i      int64
	f      float64
	lo, hi int32 // bytes in record.buf
}

// record holds one row's values indexed by contract column.
type record struct {
	f   []field
	buf []byte
}

func newRecord(t Table) *record {
	return &record{f: make([]field, len(t.Columns)), buf: make([]byte, 0, 1024)}
}

func (r *record) reset() {
	clear(r.f)
	r.buf = r.buf[:0]
}

func (r *record) bytesOf(col int) []byte { return r.buf[r.f[col].lo:r.f[col].hi] }

// str sets a string value; an empty value is NULL.
func (r *record) str(col int, v []byte) {
	lo := len(r.buf)
	r.buf = append(r.buf, v...)
	r.f[col] = field{kind: fBytes, lo: int32(lo), hi: int32(len(r.buf))}
	if len(v) == 0 {
		r.f[col].kind = fNull
	}
}

func (r *record) strS(col int, v string) {
	lo := len(r.buf)
	r.buf = append(r.buf, v...)
	r.f[col] = field{kind: fBytes, lo: int32(lo), hi: int32(len(r.buf))}
	if len(v) == 0 {
		r.f[col].kind = fNull
	}
}

// id sets a 32-hex id.
func (r *record) id(col int, seed int64, kind, idx uint64) {
	lo := len(r.buf)
	r.buf = appendID(r.buf, seed, kind, idx)
	r.f[col] = field{kind: fBytes, lo: int32(lo), hi: int32(len(r.buf))}
}

// num sets an Int value, or a Money value in cents.
func (r *record) num(col int, v int64) { r.f[col] = field{kind: fInt, i: v} }

func (r *record) float(col int, v float64) { r.f[col] = field{kind: fFloat, f: v} }

// ts sets a Timestamp as an instant; 0 is NULL.
func (r *record) ts(col int, sec int64) {
	if sec == 0 {
		r.f[col] = field{}
		return
	}
	r.f[col] = field{kind: fTime, i: sec}
}

// local sets a Timestamp as a local wall clock.
func (r *record) local(col int, l int64) { r.f[col] = field{kind: fLocal, i: l} }

// write emits the record in contract order and returns the physical line it
// starts on (the header is line 1).
func (cw *csvWriter) write(r *record, z *tzTable) int64 {
	// Records are separated by the line ending; the final one is written by
	// close when the contract wants it.
	cw.rec = append(cw.rec, cw.eol...)
	cw.nl++
	line := cw.nl + 1
	for ci := range cw.t.Columns {
		c := &cw.t.Columns[ci]
		if ci > 0 {
			cw.rec = append(cw.rec, ',')
		}
		f := &r.f[ci]
		if f.kind == fNull {
			if !c.Nullable {
				panic(fmt.Sprintf("olist: %s.%s: NULL in a non-nullable column", cw.t.Name, c.Name))
			}
			continue
		}
		switch c.Type {
		case String:
			if f.kind != fBytes {
				panic(fmt.Sprintf("olist: %s.%s: not a string", cw.t.Name, c.Name))
			}
			cw.rec = appendString(cw.rec, c.Quoting, r.buf[f.lo:f.hi], cw.eol, &cw.nl)
			continue
		case Int:
			if f.kind == fInt {
				cw.rec = strconv.AppendInt(cw.rec, f.i, 10)
			}
		case Money:
			if f.kind == fInt {
				cw.rec = appendMoney(cw.rec, f.i)
			}
		case Float:
			if f.kind == fFloat {
				cw.rec = strconv.AppendFloat(cw.rec, f.f, 'f', -1, 64)
			}
		case Timestamp:
			switch f.kind {
			case fTime:
				cw.rec = z.appendTS(cw.rec, f.i)
			case fLocal:
				cw.rec = appendLocal(cw.rec, f.i)
			}
		}
		if !(f.kind == fInt && (c.Type == Int || c.Type == Money) ||
			f.kind == fFloat && c.Type == Float ||
			(f.kind == fTime || f.kind == fLocal) && c.Type == Timestamp) {
			panic(fmt.Sprintf("olist: %s.%s: value kind %d does not fit type %s", cw.t.Name, c.Name, f.kind, c.Type))
		}
	}
	cw.rows++
	if len(cw.rec) >= 32<<10 {
		cw.flushRec()
	}
	return line
}

func (cw *csvWriter) close() error {
	if cw.t.FinalNewline {
		cw.rec = append(cw.rec, cw.eol...)
	}
	cw.flushRec()
	if cw.err == nil {
		cw.err = cw.w.Flush()
	}
	return cw.err
}

// columns resolves the canonical column names a table generator uses to
// contract column indexes, and checks that the generator covers exactly the
// contract's columns.
type columns struct {
	t    Table
	used []bool
	err  error
}

func newColumns(t Table) *columns { return &columns{t: t, used: make([]bool, len(t.Columns))} }

func (cs *columns) col(name string) int {
	for i, c := range cs.t.Columns {
		if c.Name == name {
			if cs.used[i] && cs.err == nil {
				cs.err = fmt.Errorf("olist: generator uses %s.%s twice", cs.t.Name, name)
			}
			cs.used[i] = true
			return i
		}
	}
	if cs.err == nil {
		cs.err = fmt.Errorf("olist: contract table %s has no column %q the generator needs", cs.t.Name, name)
	}
	return 0
}

func (cs *columns) check() error {
	if cs.err != nil {
		return cs.err
	}
	for i, u := range cs.used {
		if !u {
			return fmt.Errorf("olist: the generator does not know column %s.%s", cs.t.Name, cs.t.Columns[i].Name)
		}
	}
	return nil
}

func appendMoney(dst []byte, cents int64) []byte {
	if cents < 0 {
		dst = append(dst, '-')
		cents = -cents
	}
	dst = strconv.AppendInt(dst, cents/100, 10)
	return append(dst, '.', byte('0'+cents/10%10), byte('0'+cents%10))
}

// needsQuote is the original export's rule: quote values with a delimiter,
// quote or line break, and values starting with a digit.
func needsQuote[T string | []byte](v T) bool {
	if len(v) == 0 {
		return false
	}
	if v[0] >= '0' && v[0] <= '9' {
		return true
	}
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case ',', '"', '\r', '\n':
			return true
		}
	}
	return false
}

// appendString appends a string value quoted as the column's Quoting says.
func appendString[T string | []byte](dst []byte, q Quoting, v T, eol string, nl *int64) []byte {
	switch {
	case q == QuoteAlways, q == QuoteAsNeeded && needsQuote(v):
		return appendQuoted(dst, v, eol, nl)
	}
	return append(dst, v...)
}

// appendQuoted quotes v, doubling quotes and writing every line break as eol.
func appendQuoted[T string | []byte](dst []byte, v T, eol string, nl *int64) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(v); i++ {
		b := v[i]
		switch b {
		case '"':
			dst = append(dst, '"', '"')
		case '\r':
			// A CR is only written as part of a line ending.
			if i+1 < len(v) && v[i+1] == '\n' {
				continue
			}
			dst = append(dst, eol...)
			*nl++
		case '\n':
			dst = append(dst, eol...)
			*nl++
		default:
			dst = append(dst, b)
		}
	}
	return append(dst, '"')
}

// --- planted defects manifest -----------------------------------------------

// manifest writes one JSON line per planted defect of one table.
type manifest struct {
	table  string
	w      *bufio.Writer
	buf    []byte
	key    []byte // the entry's key object
	nkeys  int
	counts []PlantedCount
	err    error
}

func newManifest(w io.Writer, table string) *manifest {
	return &manifest{table: table, w: bufio.NewWriterSize(w, 64<<10), buf: make([]byte, 0, 512), key: make([]byte, 0, 256)}
}

// appendPlanted appends one line of _planted.jsonl; key is a JSON object.
// The landing zone's per-folder manifests are written with it too.
func appendPlanted(dst []byte, table string, key []byte, line int64, quirk string) []byte {
	dst = append(dst, `{"table":`...)
	dst = appendJSONString(dst, table)
	dst = append(dst, `,"key":`...)
	dst = append(dst, key...)
	dst = append(dst, `,"line":`...)
	dst = strconv.AppendInt(dst, line, 10)
	dst = append(dst, `,"quirk":`...)
	dst = appendJSONString(dst, quirk)
	return append(dst, "}\n"...)
}

// start begins an entry; add keys with key*, then call done.
func (m *manifest) start() {
	m.key = append(m.key[:0], '{')
	m.nkeys = 0
}

func (m *manifest) keyName(name string) {
	if m.nkeys > 0 {
		m.key = append(m.key, ',')
	}
	m.nkeys++
	m.key = appendJSONString(m.key, name)
	m.key = append(m.key, ':')
}

func (m *manifest) keyStr(name string, v []byte) {
	m.keyName(name)
	m.key = appendJSONString(m.key, v)
}

func (m *manifest) keyInt(name string, v int64) {
	m.keyName(name)
	m.key = strconv.AppendInt(m.key, v, 10)
}

func (m *manifest) keyFloat(name string, v float64) {
	m.keyName(name)
	m.key = strconv.AppendFloat(m.key, v, 'f', -1, 64)
}

// countOnly quirks are counted, not listed: they are not bad rows (Silver
// aggregates geolocation points per prefix) and would be 99% of the
// manifest (60 MB at scale 1).
var countOnly = map[string]bool{qGeoDuplicate: true, qGeoAccentVariant: true}

func (m *manifest) done(line int64, quirk string) {
	m.key = append(m.key, '}')
	m.buf = appendPlanted(m.buf[:0], m.table, m.key, line, quirk)
	if m.err == nil && !countOnly[quirk] {
		_, m.err = m.w.Write(m.buf)
	}
	for i := range m.counts {
		if m.counts[i].Quirk == quirk {
			m.counts[i].Count++
			return
		}
	}
	m.counts = append(m.counts, PlantedCount{Table: m.table, Quirk: quirk, Count: 1})
}

func (m *manifest) close() error {
	if m.err == nil {
		m.err = m.w.Flush()
	}
	return m.err
}

func appendJSONString[T string | []byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case b == '"' || b == '\\':
			dst = append(dst, '\\', b)
		case b == '\n':
			dst = append(dst, '\\', 'n')
		case b == '\r':
			dst = append(dst, '\\', 'r')
		case b == '\t':
			dst = append(dst, '\\', 't')
		case b < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&15])
		default:
			dst = append(dst, b)
		}
	}
	return append(dst, '"')
}
