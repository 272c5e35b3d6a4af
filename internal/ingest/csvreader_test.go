package ingest

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

type readResult struct {
	line   int64
	fields []string
	err    string // error kind, when the record is malformed
	errCol int
}

func readAll(t *testing.T, in string) []readResult {
	t.Helper()
	r := newCSVReader(strings.NewReader(in))
	r.maxQuotedLines = 5
	var out []readResult
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		var re *RecordError
		if errors.As(err, &re) {
			out = append(out, readResult{line: re.Line, err: re.Kind, errCol: re.Column})
			continue
		}
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		var fs []string
		for _, f := range rec.Fields {
			fs = append(fs, string(f))
		}
		out = append(out, readResult{line: rec.Line, fields: fs})
	}
}

// The cases are modelled on the real files' lines (see olist-sample/README.md).
func TestCSVReader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []readResult
	}{
		{
			name: "quoted and bare ids mixed, LF",
			in:   "\"customer_id\",\"zip\",city\n\"06b8999e\",\"14409\",franca\nb2b6027b,\"08775\",mogi das cruzes\n",
			want: []readResult{
				{line: 1, fields: []string{"customer_id", "zip", "city"}},
				{line: 2, fields: []string{"06b8999e", "14409", "franca"}},
				{line: 3, fields: []string{"b2b6027b", "08775", "mogi das cruzes"}},
			},
		},
		{
			name: "CRLF review with multi-line comment, doubled quotes and empty fields",
			in: "\"review_id\",\"msg\",\"ts\"\r\n" +
				"\"fe3d\",\"A compra foi realizada.\r\nO produto \"\"ótimo\"\" 😀\r\nsem problemas.\",2018-03-23 00:00:00\r\n" +
				"\"e07e\",,2018-03-29 00:00:00\r\n",
			want: []readResult{
				{line: 1, fields: []string{"review_id", "msg", "ts"}},
				{line: 2, fields: []string{"fe3d", "A compra foi realizada.\r\nO produto \"ótimo\" 😀\r\nsem problemas.", "2018-03-23 00:00:00"}},
				{line: 5, fields: []string{"e07e", "", "2018-03-29 00:00:00"}},
			},
		},
		{
			name: "no final newline, CRLF",
			in:   "a,b\r\nflores,flowers\r\nseguros,security",
			want: []readResult{
				{line: 1, fields: []string{"a", "b"}},
				{line: 2, fields: []string{"flores", "flowers"}},
				{line: 3, fields: []string{"seguros", "security"}},
			},
		},
		{
			name: "quoted field with commas (dirty seller city)",
			in:   "id,city,uf\nx1,\"novo hamburgo, rio grande do sul, brasil\",RS\n",
			want: []readResult{
				{line: 1, fields: []string{"id", "city", "uf"}},
				{line: 2, fields: []string{"x1", "novo hamburgo, rio grande do sul, brasil", "RS"}},
			},
		},
		{
			name: "bare quote in unquoted field is rejected, next line read",
			in:   "a,b\nx,ab\"c\ny,z\n",
			want: []readResult{
				{line: 1, fields: []string{"a", "b"}},
				{line: 2, err: ErrKindQuoting, errCol: 2},
				{line: 3, fields: []string{"y", "z"}},
			},
		},
		{
			name: "garbage after closing quote is rejected",
			in:   "a,b\n\"x\"y,1\nz,2\n",
			want: []readResult{
				{line: 1, fields: []string{"a", "b"}},
				{line: 2, err: ErrKindQuoting, errCol: 1},
				{line: 3, fields: []string{"z", "2"}},
			},
		},
		{
			name: "unclosed quote costs one record, not the rest of the file",
			in:   "a,b\n1,\"never closed\n2,x\n3,y\n4,z\n5,w\n6,v\n7,u\n",
			want: []readResult{
				{line: 1, fields: []string{"a", "b"}},
				{line: 2, err: ErrKindQuoting, errCol: 2},
				{line: 3, fields: []string{"2", "x"}},
				{line: 4, fields: []string{"3", "y"}},
				{line: 5, fields: []string{"4", "z"}},
				{line: 6, fields: []string{"5", "w"}},
				{line: 7, fields: []string{"6", "v"}},
				{line: 8, fields: []string{"7", "u"}},
			},
		},
		{
			name: "unclosed quote near the end of the file costs one record",
			in:   "a,b\n1,\"open\n2,x\n3,y\n",
			want: []readResult{
				{line: 1, fields: []string{"a", "b"}},
				{line: 2, err: ErrKindUnterminate, errCol: 2},
				{line: 3, fields: []string{"2", "x"}},
				{line: 4, fields: []string{"3", "y"}},
			},
		},
		{
			name: "field count is the caller's business",
			in:   "a,b\n1\n1,2,3\n",
			want: []readResult{
				{line: 1, fields: []string{"a", "b"}},
				{line: 2, fields: []string{"1"}},
				{line: 3, fields: []string{"1", "2", "3"}},
			},
		},
		{
			name: "empty quoted field and trailing empty field",
			in:   "a,b,c\n\"\",x,\n",
			want: []readResult{
				{line: 1, fields: []string{"a", "b", "c"}},
				{line: 2, fields: []string{"", "x", ""}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := readAll(t, tc.in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

// A quoted field that grows past the record limit costs its first line; the
// lines after it are read again with the right line numbers.
func TestCSVReaderOverlongLine(t *testing.T) {
	t.Parallel()
	in := "a,b\n1,\"open\n" + strings.Repeat("x", 300) + "\n2,ok\n"
	r := newCSVReader(strings.NewReader(in))
	r.maxRecordBytes = 100
	var got []string
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var re *RecordError
		if errors.As(err, &re) {
			got = append(got, fmt.Sprintf("%d:%s", re.Line, re.Kind))
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d:%d fields", rec.Line, len(rec.Fields)))
	}
	if want := "1:2 fields,2:BROKEN QUOTING,3:1 fields,4:2 fields"; strings.Join(got, ",") != want {
		t.Errorf("got %v, want %s", got, want)
	}
}

// Every record knows the offset of its first byte, also after a recovery
// pushed lines back and after an over-long line was skipped: the reason of a
// NUL byte quotes it.
func TestCSVReaderOffsets(t *testing.T) {
	t.Parallel()
	in := "a,b\r\n\"x\r\ny\",2\r\n1,\"open\n3,4\n" + strings.Repeat("z", 300) + "\n5,\"6\x00\"\n"
	r := newCSVReader(strings.NewReader(in))
	r.maxRecordBytes = 100
	var got []string
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			continue
		}
		if !strings.HasPrefix(in[rec.Offset:], string(rec.Raw)) {
			t.Errorf("line %d: offset %d holds %q, not the record %q", rec.Line, rec.Offset, in[rec.Offset:], rec.Raw)
		}
		got = append(got, fmt.Sprintf("%d@%d", rec.Line, rec.Offset))
	}
	if want := "1@0,2@5,5@23,6@27,7@328"; strings.Join(got, ",") != want {
		t.Errorf("got %v, want %s", got, want)
	}
}

// FuzzCSVReader checks the reader against encoding/csv on inputs both accept,
// and that it never panics, never loses its line count and always advances.
func FuzzCSVReader(f *testing.F) {
	for _, s := range []string{
		"a,b\n1,2\n",
		"\"a\",\"b\"\r\n\"x\r\ny\",2\r\n",
		"a,b\n\"unclosed\n3,4\n",
		"a\n\"\"\"\"\n",
		"\ufeffa,b\r\nc,d",
		// NUL bytes are data to the reader (the ingest quarantines their
		// records): inside bare and quoted fields, in a multi-line field, and
		// next to separators and quotes.
		"a,b\n1\x00,2\n",
		"a,b\n\"x\x00y\",2\n",
		"a,b\r\n\"x\r\n\x00\r\ny\",2\r\n",
		"a,b\n\x00,\x00\n\x00\"\x00\n",
		"\x00\x00\x00\x00\n\x00",
		"a,b\n\"unclosed\x00\n3,4\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r := newCSVReader(strings.NewReader(in))
		r.maxQuotedLines = 4
		var ours [][]string
		clean := true
		lines := int64(strings.Count(in, "\n"))
		for i := 0; ; i++ {
			if i > len(in)+1 {
				t.Fatalf("reader does not advance on %q", in)
			}
			rec, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				var re *RecordError
				if !errors.As(err, &re) {
					t.Fatalf("unexpected error type %T: %v", err, err)
				}
				if re.Line < 1 || re.Line > lines+1 {
					t.Fatalf("error line %d outside 1..%d", re.Line, lines+1)
				}
				if re.Offset < 0 || !strings.HasPrefix(in[re.Offset:], string(re.Raw)) {
					t.Fatalf("error at line %d: offset %d does not hold its raw bytes %q", re.Line, re.Offset, re.Raw)
				}
				clean = false
				continue
			}
			if rec.Line < 1 || rec.Line > lines+1 {
				t.Fatalf("record line %d outside 1..%d", rec.Line, lines+1)
			}
			if rec.Offset < 0 || !strings.HasPrefix(in[rec.Offset:], string(rec.Raw)) {
				t.Fatalf("record at line %d: offset %d does not hold its raw bytes %q", rec.Line, rec.Offset, rec.Raw)
			}
			var fs []string
			for _, f := range rec.Fields {
				fs = append(fs, string(f))
			}
			ours = append(ours, fs)
		}
		if !clean {
			return
		}
		// encoding/csv normalises \r\n inside quotes to \n and skips empty
		// lines; compare only inputs where neither matters.
		if strings.Contains(in, "\r") || strings.Contains(in, "\n\n") || strings.HasPrefix(in, "\n") {
			return
		}
		cr := csv.NewReader(strings.NewReader(in))
		cr.FieldsPerRecord = -1
		theirs, err := cr.ReadAll()
		if err != nil {
			return
		}
		if len(theirs) != len(ours) {
			t.Fatalf("records: ours %d, encoding/csv %d for %q", len(ours), len(theirs), in)
		}
		for i := range theirs {
			if !reflect.DeepEqual(theirs[i], ours[i]) {
				t.Fatalf("record %d: ours %q, encoding/csv %q", i, ours[i], theirs[i])
			}
		}
	})
}
