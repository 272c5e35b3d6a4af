package olist

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// --- an independent reader of raw records (encoding/csv offsets) -----------------

// rawFile is a CSV file read with encoding/csv, with every record's bytes as
// written (line ending excluded).
type rawFile struct {
	t      Table
	header []byte
	recs   [][]byte
	rows   [][]string
	lines  []int
	short  map[int]bool // records with too few fields (padded in rows)
	col    map[string]int
}

func (f *rawFile) get(i int, name string) string { return f.rows[i][f.col[name]] }

func readRaw(t testing.TB, path string, tb Table) *rawFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bom := 0
	if bytes.HasPrefix(data, []byte("\xEF\xBB\xBF")) {
		bom = 3
	}
	eol := "\n"
	if tb.CRLF {
		eol = "\r\n"
	}
	r := csv.NewReader(bytes.NewReader(data[bom:]))
	r.FieldsPerRecord = -1 // a test plants records with a wrong field count
	f := &rawFile{t: tb, col: map[string]int{}, short: map[int]bool{}}
	for i, c := range tb.Columns {
		f.col[c.Name] = i
	}
	prev := int64(0)
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(rec) < len(tb.Columns) && prev != 0 {
			f.short[len(f.recs)] = true
		}
		for len(rec) < len(tb.Columns) {
			rec = append(rec, "")
		}
		off := r.InputOffset()
		raw := data[bom+int(prev) : bom+int(off)]
		if prev == 0 {
			raw = data[:bom+int(off)]
		}
		if bytes.HasSuffix(raw, []byte(eol)) {
			raw = raw[:len(raw)-len(eol)]
		} else if off != int64(len(data)-bom) {
			t.Fatalf("%s: a record at offset %d does not end with %q", path, prev, eol)
		}
		if prev == 0 {
			f.header = raw
		} else {
			line, _ := r.FieldPos(0)
			f.recs = append(f.recs, raw)
			f.rows = append(f.rows, rec)
			f.lines = append(f.lines, line)
		}
		prev = off
	}
	// The file is exactly its header and records in the table's format.
	want := append([]byte(nil), f.header...)
	for _, rec := range f.recs {
		want = append(want, eol...)
		want = append(want, rec...)
	}
	if tb.FinalNewline {
		want = append(want, eol...)
	}
	if !bytes.Equal(want, data) {
		t.Fatalf("%s is not header + records in the format of %s", path, tb.Name)
	}
	return f
}

func dayOfTS(s string) (int64, bool) {
	v, err := time.Parse(tsLayout, s)
	if err != nil {
		return 0, false
	}
	return daysFromCivil(int64(v.Year()), int64(v.Month()), int64(v.Day())), true
}

func mustDay(t testing.TB, s string) int64 {
	t.Helper()
	v, err := time.Parse(time.DateOnly, s)
	if err != nil {
		t.Fatal(err)
	}
	return daysFromCivil(int64(v.Year()), int64(v.Month()), int64(v.Day()))
}

func multiset(recs [][]byte) map[string]int {
	m := map[string]int{}
	for _, r := range recs {
		m[string(r)]++
	}
	return m
}

func sameMultiset(t *testing.T, what string, got, want map[string]int) {
	t.Helper()
	n := 0
	for k, v := range want {
		if got[k] != v && n < 3 {
			t.Errorf("%s: record %q: %d times, want %d", what, k, got[k], v)
			n++
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok && n < 3 {
			t.Errorf("%s: %d times the record %q, which the full data set does not have", what, v, k)
			n++
		}
	}
}

// landingZone is a landing zone as read back.
type landingZone struct {
	days    []int64                       // folder days, ascending
	files   map[int64]map[string]*rawFile // day -> table -> file (absent: no records)
	planted map[int64][]plantedEntry
}

func readLanding(t *testing.T, dir string) *landingZone {
	t.Helper()
	lz := &landingZone{files: map[int64]map[string]*rawFile{}, planted: map[int64][]plantedEntry{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == GeneratorManifestFile {
			continue
		}
		if !e.IsDir() || !strings.HasPrefix(e.Name(), DropDirPrefix) {
			t.Fatalf("%s holds %s, neither a dt= folder nor %s", dir, e.Name(), GeneratorManifestFile)
		}
		d := mustDay(t, strings.TrimPrefix(e.Name(), DropDirPrefix))
		lz.days = append(lz.days, d)
		lz.files[d] = map[string]*rawFile{}
		sub := filepath.Join(dir, e.Name())
		for _, tb := range Tables() {
			p := filepath.Join(sub, tb.File)
			if _, err := os.Stat(p); err != nil {
				continue
			}
			f := readRaw(t, p, tb)
			if len(f.recs) == 0 {
				t.Errorf("%s has no record: it should be absent", p)
			}
			lz.files[d][tb.Name] = f
		}
		lz.planted[d] = readPlanted(t, sub)
		others, _ := os.ReadDir(sub)
		for _, o := range others {
			if o.Name() != PlantedFile && !slices.ContainsFunc(Tables(), func(tb Table) bool { return tb.File == o.Name() }) {
				t.Errorf("%s holds %s", sub, o.Name())
			}
		}
	}
	if !slices.IsSorted(lz.days) {
		t.Fatalf("folder days not sorted: %v", lz.days)
	}
	return lz
}

// --- the invariant -----------------------------------------------------------------

// checkLanding checks a landing zone with daily drops from day from against
// the full data set in fullDir: applying the drops gives the full data set
// back; every record is in the folder of the day it became known; no folder
// shows an event of a later day; order versions are consistent; each
// folder's _planted.jsonl points at its records.
//
// exempt lists records that hold values the day of which cannot be told:
// they are expected in the base batch and may show any timestamp.
func checkLanding(t *testing.T, fullDir, dir string, from int64, exempt map[string]bool) *landingZone {
	t.Helper()
	base := from - 1
	lz := readLanding(t, dir)
	if len(lz.days) == 0 || lz.days[0] != base {
		t.Fatalf("first folder %v, want the base batch dt=%s", lz.days, formatDay(base))
	}
	full := map[string]*rawFile{}
	for _, tb := range Tables() {
		full[tb.Name] = readRaw(t, filepath.Join(fullDir, tb.File), tb)
	}
	folder := func(d int64) int64 { return max(d, base) }

	// Headers are the full files' headers (BOM and quoting included).
	for _, d := range lz.days {
		for name, f := range lz.files[d] {
			if !bytes.Equal(f.header, full[name].header) {
				t.Errorf("dt=%s %s: header %q, want %q", formatDay(d), name, f.header, full[name].header)
			}
		}
	}

	// Applying the drops: orders, the latest folder's row per order_id; the
	// other files, the union.
	type version struct {
		day  int64
		i    int
		f    *rawFile
		line int
	}
	versions := map[string][]version{}
	for _, d := range lz.days {
		f := lz.files[d]["orders"]
		if f == nil {
			continue
		}
		seen := map[string]bool{}
		for i := range f.recs {
			id := f.get(i, "order_id")
			if seen[id] && !exempt[string(f.recs[i])] {
				t.Errorf("dt=%s: order %s twice", formatDay(d), id)
			}
			seen[id] = true
			versions[id] = append(versions[id], version{d, i, f, f.lines[i]})
		}
	}
	// The rows of the latest folder holding the order_id (several only for
	// an order_id the full data set has twice).
	var latest [][]byte
	for _, vs := range versions {
		last := vs[len(vs)-1].day
		for _, v := range vs {
			if v.day == last {
				latest = append(latest, v.f.recs[v.i])
			}
		}
	}
	sameMultiset(t, "orders", multiset(latest), multiset(full["orders"].recs))
	for _, tb := range Tables()[1:] {
		var all [][]byte
		for _, d := range lz.days {
			if f := lz.files[d][tb.Name]; f != nil {
				all = append(all, f.recs...)
			}
		}
		sameMultiset(t, tb.Name, multiset(all), multiset(full[tb.Name].recs))
	}

	// No event later than the folder's day (promised dates are not events).
	for _, d := range lz.days {
		for name, f := range lz.files[d] {
			for ci, c := range f.t.Columns {
				if c.Type != Timestamp || c.Promise {
					continue
				}
				for i, row := range f.rows {
					if ed, ok := dayOfTS(row[ci]); ok && ed > d && !exempt[string(f.recs[i])] {
						t.Errorf("dt=%s %s line %d: %s %s is later", formatDay(d), name, f.lines[i], c.Name, row[ci])
					}
				}
			}
		}
	}

	// Orders: one version per day an event became known, the last one the
	// full row; earlier versions show exactly the events known by their day.
	fo := full["orders"]
	orderFirst := map[string]int64{} // folder of the order's first version
	ids := map[string]int{}
	for i := range fo.recs {
		ids[fo.get(i, "order_id")]++
	}
	for i := range fo.recs {
		id := fo.get(i, "order_id")
		vs := versions[id]
		_, okP := dayOfTS(fo.get(i, "order_purchase_timestamp"))
		known := map[int64]bool{}
		var evDays [len(orderEvents)]int64
		determined := okP && ids[id] == 1 && !fo.short[i]
		// An event is known on its day, or with the later events before it
		// in the order's life.
		upTo := int64(math.MinInt64)
		for x, e := range orderEvents {
			evDays[x] = math.MinInt64
			v := fo.get(i, e.col)
			if v == "" {
				continue
			}
			d, ok := dayOfTS(v)
			if !ok {
				determined = false
				continue
			}
			upTo = max(upTo, d)
			evDays[x] = upTo
			known[folder(evDays[x])] = true
		}
		if !determined {
			orderFirst[id] = base
			if len(vs) != ids[id] || vs[0].day != base || vs[len(vs)-1].day != base {
				t.Errorf("order %s, whose days cannot be told, is in %d folders, want the base batch only", id, len(vs))
			}
			continue
		}
		orderFirst[id] = folder(evDays[0])
		var got []int64
		for _, v := range vs {
			got = append(got, v.day)
		}
		var want []int64
		for d := range known {
			want = append(want, d)
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("order %s: versions in %v, want %v", id, got, want)
			continue
		}
		for k, v := range vs[:len(vs)-1] {
			row := v.f.rows[v.i]
			shown := -1
			for ci, c := range fo.t.Columns {
				g, w := row[ci], fo.rows[i][ci]
				x := slices.IndexFunc(orderEvents[:], func(e struct {
					col    string
					status int
				}) bool {
					return e.col == c.Name
				})
				switch {
				case c.Name == "order_status":
				case x >= 0:
					if w != "" && folder(evDays[x]) <= v.day {
						if g != w {
							t.Errorf("order %s version %d: %s %q, want %q", id, k, c.Name, g, w)
						}
						shown = x
					} else if g != "" {
						t.Errorf("order %s version %d in dt=%s shows %s %s", id, k, formatDay(v.day), c.Name, g)
					}
				case g != w:
					t.Errorf("order %s version %d: %s %q, want %q", id, k, c.Name, g, w)
				}
			}
			wantStatus := map[int]string{-1: "created", 0: "created", 1: "approved", 2: "shipped", 3: "delivered"}[shown]
			if st := v.f.get(v.i, "order_status"); st != wantStatus {
				t.Errorf("order %s version %d: status %s, want %s", id, k, st, wantStatus)
			}
		}
	}

	// Every other record in the folder of the day it became known.
	placed := func(name, key string, want func(i int) int64) {
		t.Helper()
		where := map[string][]int64{}
		for _, d := range lz.days {
			if f := lz.files[d][name]; f != nil {
				for i := range f.recs {
					where[string(f.recs[i])] = append(where[string(f.recs[i])], d)
				}
			}
		}
		f := full[name]
		for i := range f.recs {
			w := want(i)
			ds := where[string(f.recs[i])]
			if !slices.Contains(ds, w) {
				t.Errorf("%s %s=%s: in %v, want dt=%s", name, key, f.get(i, key), ds, formatDay(w))
			}
		}
	}
	byOrder := func(name string) func(i int) int64 {
		return func(i int) int64 {
			if d, ok := orderFirst[full[name].get(i, "order_id")]; ok {
				return d
			}
			return base
		}
	}
	placed("order_items", "order_id", byOrder("order_items"))
	placed("order_payments", "order_id", byOrder("order_payments"))
	custFirst := map[string]int64{}
	for i := range fo.recs {
		c := fo.get(i, "customer_id")
		if d, ok := custFirst[c]; !ok || orderFirst[fo.get(i, "order_id")] < d {
			custFirst[c] = orderFirst[fo.get(i, "order_id")]
		}
	}
	placed("customers", "customer_id", func(i int) int64 {
		if d, ok := custFirst[full["customers"].get(i, "customer_id")]; ok {
			return d
		}
		return base
	})
	placed("order_reviews", "review_id", func(i int) int64 {
		f := full["order_reviews"]
		od, ok := orderFirst[f.get(i, "order_id")]
		c, ok1 := dayOfTS(f.get(i, "review_creation_date"))
		a, ok2 := dayOfTS(f.get(i, "review_answer_timestamp"))
		if !ok || !ok1 || !ok2 {
			return base
		}
		return folder(max(c, a, od))
	})
	for _, dim := range []struct{ table, col string }{{"products", "product_id"}, {"sellers", "seller_id"}} {
		first := map[string]int64{}
		it := full["order_items"]
		for i := range it.recs {
			d := byOrder("order_items")(i)
			if f, ok := first[it.get(i, dim.col)]; !ok || d < f {
				first[it.get(i, dim.col)] = d
			}
		}
		placed(dim.table, dim.col, func(i int) int64 {
			if d, ok := first[full[dim.table].get(i, dim.col)]; ok {
				return d
			}
			return base
		})
	}
	for _, name := range []string{"geolocation", "category_translation"} {
		a, _ := os.ReadFile(filepath.Join(fullDir, full[name].t.File))
		b, _ := os.ReadFile(filepath.Join(dir, DropDirPrefix+formatDay(base), full[name].t.File))
		if !bytes.Equal(a, b) {
			t.Errorf("%s: the base batch's file differs from the full data set's", name)
		}
	}

	// _planted.jsonl: every entry points at a record of its folder with its
	// key and shows the defect; the entries of the full data set are each
	// listed once at their record; earlier order versions that show a
	// timestamp defect are listed with it.
	fullEntries := map[string]int{}
	for _, e := range readPlanted(t, fullDir) {
		fullEntries[entryKey(e)]++
	}
	finalEntries := map[string]int{}
	for _, d := range lz.days {
		listed := map[string]bool{}
		for _, e := range lz.planted[d] {
			f := lz.files[d][e.Table]
			if f == nil {
				t.Fatalf("dt=%s: %+v: no %s file", formatDay(d), e, e.Table)
			}
			i := slices.Index(f.lines, e.Line)
			if i < 0 {
				t.Fatalf("dt=%s: %+v: no record starts on line %d", formatDay(d), e, e.Line)
			}
			for k, v := range e.Key {
				if fmt.Sprint(v) != f.get(i, k) {
					t.Fatalf("dt=%s: %+v: line %d has %s=%q", formatDay(d), e, e.Line, k, f.get(i, k))
				}
			}
			final := e.Table != "orders" || slices.ContainsFunc(fo.recs, func(r []byte) bool { return bytes.Equal(r, f.recs[i]) })
			switch {
			case final:
				finalEntries[entryKey(e)]++
			case e.Quirk == qOrderWithoutItems || e.Quirk == qOrderWithoutPayment:
				// listed at every version of the order
			case !slices.Contains(versionDefects(f, i), e.Quirk):
				t.Errorf("dt=%s: %+v: the version %s does not show the defect", formatDay(d), e, f.recs[i])
			}
			listed[fmt.Sprint(e.Line, e.Quirk)] = true
		}
		// Earlier versions that show a timestamp defect are listed.
		if f := lz.files[d]["orders"]; f != nil {
			for i := range f.recs {
				if exempt[string(f.recs[i])] {
					continue
				}
				for _, q := range versionDefects(f, i) {
					if !listed[fmt.Sprint(f.lines[i], q)] {
						t.Errorf("dt=%s line %d shows %s and is not listed: %s", formatDay(d), f.lines[i], q, f.recs[i])
					}
				}
			}
		}
	}
	if fmt.Sprint(finalEntries) != fmt.Sprint(fullEntries) {
		t.Errorf("planted entries at the records of the full data set:\n%v\nwant\n%v", finalEntries, fullEntries)
	}
	return lz
}

// versionDefects lists the timestamp defects an orders row shows, as
// TestDefectsOnlyWherePlanted finds them (one violation named per group).
func versionDefects(f *rawFile, i int) []string {
	pu, ap := f.get(i, "order_purchase_timestamp"), f.get(i, "order_approved_at")
	ca, de := f.get(i, "order_delivered_carrier_date"), f.get(i, "order_delivered_customer_date")
	st := f.get(i, "order_status")
	var out []string
	switch {
	case ca != "" && ca < pu:
		out = append(out, qCarrierBeforePurchase)
	case ca != "" && ap != "" && ca < ap:
		out = append(out, qCarrierBeforeApproval)
	}
	switch {
	case de != "" && de < pu:
		out = append(out, qDeliveredBeforePurchase)
	case de != "" && ca != "" && de < ca:
		out = append(out, qDeliveredBeforeCarrier)
	}
	if st == "delivered" && de == "" {
		out = append(out, qMissingDelivered)
	}
	if st == "delivered" && ap == "" {
		out = append(out, qMissingApproval)
	}
	if ap != "" && ap < pu {
		out = append(out, "approved_before_purchase") // never planted
	}
	if st != "delivered" && de != "" {
		out = append(out, "delivered_date_on_undelivered") // never planted
	}
	return out
}

func entryKey(e plantedEntry) string {
	b, _ := json.Marshal(e.Key)
	return e.Table + " " + e.Quirk + " " + string(b)
}

type landingMeta struct {
	Version   string  `json:"version"`
	Seed      int64   `json:"seed"`
	Scale     float64 `json:"scale"`
	DailyFrom string  `json:"daily_from"`
	Base      string  `json:"base"`
	Days      []struct {
		Dir     string `json:"dir"`
		Date    string `json:"date"`
		Base    bool   `json:"base"`
		Planted int64  `json:"planted"`
		Files   []struct {
			Table string `json:"table"`
			File  string `json:"file"`
			Rows  int64  `json:"rows"`
			Bytes int64  `json:"bytes"`
		} `json:"files"`
	} `json:"days"`
	Final []struct {
		Table string `json:"table"`
		Rows  int64  `json:"rows"`
	} `json:"final"`
}

// checkLandingMeta compares _generator.json with the folders.
func checkLandingMeta(t *testing.T, dir string, lz *landingZone, opts GenOptions, rep LandingReport) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, GeneratorManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m landingMeta
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Version != GeneratorVersion || m.Seed != opts.Seed || m.Scale != opts.Scale || m.DailyFrom != opts.DailyFrom {
		t.Errorf("manifest %s/%d/%g/%s", m.Version, m.Seed, m.Scale, m.DailyFrom)
	}
	if len(m.Days) != len(lz.days) || len(rep.Drops) != len(lz.days) {
		t.Fatalf("manifest lists %d days, report %d, folders %d", len(m.Days), len(rep.Drops), len(lz.days))
	}
	if m.Base != DropDirPrefix+formatDay(lz.days[0]) {
		t.Errorf("base %q", m.Base)
	}
	for k, md := range m.Days {
		d := lz.days[k]
		if md.Dir != DropDirPrefix+formatDay(d) || md.Date != formatDay(d) || md.Base != (k == 0) || md.Planted != int64(len(lz.planted[d])) {
			t.Errorf("manifest day %+v, folder %s with %d planted", md, formatDay(d), len(lz.planted[d]))
		}
		if len(md.Files) != len(lz.files[d]) {
			t.Errorf("dt=%s: manifest lists %d files, the folder has %d", md.Date, len(md.Files), len(lz.files[d]))
		}
		for j, mf := range md.Files {
			f := lz.files[d][mf.Table]
			st, err := os.Stat(filepath.Join(dir, md.Dir, mf.File))
			if f == nil || err != nil || int64(len(f.recs)) != mf.Rows || st.Size() != mf.Bytes {
				t.Errorf("dt=%s: manifest %+v", md.Date, mf)
				continue
			}
			rf := rep.Drops[k].Files[j]
			if rf.Table != mf.Table || rf.Rows != mf.Rows || rf.Bytes != mf.Bytes || rf.Path != filepath.Join(dir, md.Dir, mf.File) {
				t.Errorf("report %+v, manifest %+v", rf, mf)
			}
		}
	}
	for i, f := range m.Final {
		if f.Table != rep.Final.Files[i].Table || f.Rows != rep.Final.Files[i].Rows {
			t.Errorf("final %+v, report %+v", f, rep.Final.Files[i])
		}
	}
}

// --- tests --------------------------------------------------------------------

// TestDailyLandingZone: applying every drop in order gives back the data set
// generated without --daily-from, for several seeds, scales and first days
// (before the first purchase, inside the history, after the last event).
func TestDailyLandingZone(t *testing.T) {
	t.Parallel()
	tests := []struct {
		scale     float64
		seed      int64
		dailyFrom string
		drops     string // "none": only the base batch; "all": nothing in the base but the reference data
	}{
		{0.01, 1, "2018-01-01", ""},
		{0.01, 2, "2016-01-01", "all"},
		{0.01, 3, "2019-06-01", "none"},
		{0.01, 4, "2017-11-24", ""},
		{0.05, 5, "2018-08-20", ""},
		{0.05, 6, "2017-03-01", ""},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("scale=%g/seed=%d/from=%s", tc.scale, tc.seed, tc.dailyFrom), func(t *testing.T) {
			t.Parallel()
			fullDir, _ := generated(t, tc.scale, tc.seed)
			dir := t.TempDir()
			opts := GenOptions{Scale: tc.scale, Seed: tc.seed, DailyFrom: tc.dailyFrom}
			rep, err := GenerateDaily(context.Background(), dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			from := mustDay(t, tc.dailyFrom)
			lz := checkLanding(t, fullDir, dir, from, nil)
			checkLandingMeta(t, dir, lz, opts, rep)
			baseFiles := lz.files[from-1]
			switch tc.drops {
			case "none":
				if len(lz.days) != 1 {
					t.Errorf("%d folders after the last event, want the base batch only", len(lz.days))
				}
				// The base batch is then the full data set, byte for byte.
				for _, tb := range Tables() {
					a, _ := os.ReadFile(filepath.Join(fullDir, tb.File))
					b, _ := os.ReadFile(filepath.Join(dir, DropDirPrefix+formatDay(from-1), tb.File))
					if !bytes.Equal(a, b) {
						t.Errorf("%s: the base batch differs from the full data set", tb.File)
					}
				}
			case "all":
				for _, name := range []string{"orders", "customers", "order_items", "order_payments", "order_reviews"} {
					if baseFiles[name] != nil {
						t.Errorf("the base batch before the first purchase has %d %s", len(baseFiles[name].recs), name)
					}
				}
			default:
				if len(lz.days) < 30 || baseFiles["orders"] == nil {
					t.Errorf("%d folders, base orders %v: want a base batch and many drops", len(lz.days), baseFiles["orders"] != nil)
				}
			}
		})
	}
}

// TestDailyDeterminism: the landing zone is a pure function of (seed,
// scale, daily-from).
func TestDailyDeterminism(t *testing.T) {
	t.Parallel()
	opts := GenOptions{Scale: 0.01, Seed: 9, DailyFrom: "2018-03-01"}
	a, b := t.TempDir(), t.TempDir()
	for _, d := range []string{a, b} {
		if _, err := GenerateDaily(context.Background(), d, opts); err != nil {
			t.Fatal(err)
		}
	}
	if ha, hb := treeDigest(t, a), treeDigest(t, b); ha != hb {
		t.Errorf("two runs differ:\n%s\n%s", ha, hb)
	}
}

func treeDigest(t *testing.T, dir string) string {
	t.Helper()
	var sb strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(&sb, "%s %x\n", rel, sha256.Sum256(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

// TestDailyUndeterminedRecords: records whose day cannot be told (a
// timestamp that does not parse, a duplicated order_id, a wrong field count,
// orphans) go to the base batch as written, and the invariant still holds.
func TestDailyUndeterminedRecords(t *testing.T) {
	t.Parallel()
	src, rep := generated(t, 0.01, 1)
	full := copyDir(t, src)
	o := readRaw(t, filepath.Join(full, "olist_orders_dataset.csv"), Tables()[0])
	dup := strings.Replace(string(o.recs[0]), ",delivered,", ",shipped,", 1)
	add := map[string][]string{
		"olist_orders_dataset.csv": {
			`"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1",cccccccccccccccccccccccccccccc01,delivered,2018-02-30 10:00:00,,,,2018-03-10 00:00:00`,
			`bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2,cccccccccccccccccccccccccccccc02,shipped,2018-05-02 10:00:00,yesterday,,,2018-05-20 00:00:00`,
			`dddddddddddddddddddddddddddddd03,cccccccccccccccccccccccccccccc03,delivered,2018-05-02 10:00:00`,
			dup,
			`eeeeeeeeeeeeeeeeeeeeeeeeeeeeee04,cccccccccccccccccccccccccccccc04,created,1969-12-31 10:00:00,,,,1970-01-10 00:00:00`,
		},
		"olist_order_items_dataset.csv": {
			`"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1",1,eeeeeeeeeeeeeeeeeeeeeeeeeeeeee01,ffffffffffffffffffffffffffffff01,2018-03-05 10:00:00,10.00,1.00`,
			`"99999999999999999999999999999999",1,eeeeeeeeeeeeeeeeeeeeeeeeeeeeee02,ffffffffffffffffffffffffffffff02,2018-03-05 10:00:00,10.00,1.00`,
		},
		"olist_order_payments_dataset.csv": {`"99999999999999999999999999999999",1,boleto,1,11.00`},
		"olist_order_reviews_dataset.csv":  {`"77777777777777777777777777777777","` + o.get(1, "order_id") + `",5,,,2018-13-01 00:00:00,2018-06-02 10:00:00`},
		"olist_customers_dataset.csv":      {`cccccccccccccccccccccccccccccc01,"11111111111111111111111111111111","01001",sao paulo,SP`, `cccccccccccccccccccccccccccccc99,"11111111111111111111111111111112","01001",sao paulo,SP`},
		"olist_products_dataset.csv":       {`eeeeeeeeeeeeeeeeeeeeeeeeeeeeee01,,,,,1,1,1,1`},
	}
	for file, recs := range add {
		tb := slices.IndexFunc(Tables(), func(tb Table) bool { return tb.File == file })
		eol := "\n"
		if Tables()[tb].CRLF {
			eol = "\r\n"
		}
		f, err := os.OpenFile(filepath.Join(full, file), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			fmt.Fprint(f, r+eol)
		}
		f.Close()
	}
	work := t.TempDir()
	from := mustDay(t, "2018-01-01")
	sp := &splitter{src: copyDir(t, full), work: work, base: from - 1, final: rep, drops: map[int64]*drop{}}
	if err := sp.split(context.Background()); err != nil {
		t.Fatal(err)
	}
	exempt := map[string]bool{string(o.recs[0]): true}
	for _, recs := range add {
		for _, r := range recs {
			exempt[r] = true
		}
	}
	lz := checkLanding(t, full, work, from, exempt)
	baseOrders := lz.files[from-1]["orders"]
	for _, r := range append(add["olist_orders_dataset.csv"], string(o.recs[0])) {
		if !slices.ContainsFunc(baseOrders.recs, func(b []byte) bool { return string(b) == r }) {
			t.Errorf("order %s is not in the base batch", r)
		}
	}
	for file, recs := range add {
		if file == "olist_orders_dataset.csv" {
			continue
		}
		tb := Tables()[slices.IndexFunc(Tables(), func(tb Table) bool { return tb.File == file })]
		f := lz.files[from-1][tb.Name]
		for _, r := range recs {
			if f == nil || !slices.ContainsFunc(f.recs, func(b []byte) bool { return string(b) == r }) {
				t.Errorf("%s record %s is not in the base batch", tb.Name, r)
			}
		}
	}
}

// TestDailyLayoutReplaced: a landing zone replaces a flat data set and the
// other way round, so that a directory never holds both; a dt= folder
// holding a file the generator does not write stops both before anything
// is written.
func TestDailyLayoutReplaced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := Generate(ctx, dir, GenOptions{Scale: 0.01, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	opts := GenOptions{Scale: 0.01, Seed: 1, DailyFrom: "2018-06-01"}
	// The work folder of an interrupted run is removed.
	os.MkdirAll(filepath.Join(dir, ".landing-123.tmp", "full"), 0o755)
	if _, err := GenerateDaily(ctx, dir, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".landing-123.tmp")); err == nil {
		t.Error("the work folder of an interrupted run is still there")
	}
	readLanding(t, dir) // only dt= folders and the manifest
	if ex, err := InspectOutput(dir, opts); err != nil || ex.State != OutputSame {
		t.Errorf("after GenerateDaily: %+v, %v", ex, err)
	}
	if _, err := Generate(ctx, dir, GenOptions{Scale: 0.01, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if ds, _ := dropDirs(dir); len(ds) != 0 {
		t.Errorf("Generate left %v", ds)
	}
	if ex, err := InspectOutput(dir, GenOptions{Scale: 0.01, Seed: 1}); err != nil || ex.State != OutputSame {
		t.Errorf("after Generate: %+v, %v", ex, err)
	}

	os.MkdirAll(filepath.Join(dir, "dt=2018-01-01"), 0o755)
	os.WriteFile(filepath.Join(dir, "dt=2018-01-01", "notes.txt"), []byte("mine"), 0o644)
	before := treeDigest(t, dir)
	if _, err := GenerateDaily(ctx, dir, opts); err == nil || !strings.Contains(err.Error(), "notes.txt") {
		t.Errorf("GenerateDaily over a foreign dt= folder: %v", err)
	}
	if _, err := Generate(ctx, dir, GenOptions{Scale: 0.01, Seed: 1}); err == nil || !strings.Contains(err.Error(), "notes.txt") {
		t.Errorf("Generate beside a foreign dt= folder: %v", err)
	}
	if after := treeDigest(t, dir); after != before {
		t.Errorf("a refused generate changed the directory:\n%s\n%s", before, after)
	}
	if _, err := GenerateDaily(ctx, dir, GenOptions{Scale: 0.01, Seed: 1, DailyFrom: "2018-02-30"}); err == nil {
		t.Error("an impossible date was accepted")
	}
}

// TestInspectLandingZone: generate and demo know a landing zone: the same
// one is left alone; another, or a changed one, needs --force.
func TestInspectLandingZone(t *testing.T) {
	t.Parallel()
	lzDir := t.TempDir()
	opts := GenOptions{Scale: 0.01, Seed: 1, DailyFrom: "2018-06-01"}
	if _, err := GenerateDaily(context.Background(), lzDir, opts); err != nil {
		t.Fatal(err)
	}
	flat, _ := generated(t, 0.01, 1)
	copyTree := func(t *testing.T) string {
		dst := t.TempDir()
		err := filepath.WalkDir(lzDir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(lzDir, p)
			if d.IsDir() {
				return os.MkdirAll(filepath.Join(dst, rel), 0o755)
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
		return dst
	}
	orders := "dt=2018-06-01/olist_orders_dataset.csv"
	tests := []struct {
		name    string
		prepare func(t *testing.T) string
		opts    GenOptions
		want    OutputState
		descHas string
	}{
		{"same landing zone", copyTree, opts, OutputSame, "landing zone (scale 0.01, seed 1, daily from 2018-06-01)"},
		{"other daily-from", copyTree, GenOptions{Scale: 0.01, Seed: 1, DailyFrom: "2018-06-02"}, OutputOther, "another generated landing zone"},
		{"flat wanted", copyTree, GenOptions{Scale: 0.01, Seed: 1}, OutputOther, "another generated landing zone"},
		{"landing wanted over flat", func(t *testing.T) string { return copyDir(t, flat) }, opts, OutputOther, "another generated data set (scale 0.01, seed 1)"},
		{"edited drop", func(t *testing.T) string {
			d := copyTree(t)
			f, _ := os.OpenFile(filepath.Join(d, orders), os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString("x\n")
			f.Close()
			return d
		}, opts, OutputChanged, orders + " was changed"},
		{"drop edited in place, same size", func(t *testing.T) string {
			d := copyTree(t)
			sameSizeEdit(t, filepath.Join(d, orders))
			return d
		}, opts, OutputChanged, orders + " was changed (same size, other content"},
		{"removed drop", func(t *testing.T) string {
			d := copyTree(t)
			os.RemoveAll(filepath.Join(d, "dt=2018-06-01"))
			return d
		}, opts, OutputChanged, orders + " was removed"},
		{"added drop", func(t *testing.T) string {
			d := copyTree(t)
			os.MkdirAll(filepath.Join(d, "dt=2030-01-01"), 0o755)
			os.WriteFile(filepath.Join(d, "dt=2030-01-01", "olist_orders_dataset.csv"), []byte("x"), 0o644)
			return d
		}, opts, OutputChanged, "dt=2030-01-01/olist_orders_dataset.csv, which the generator did not write"},
		{"flat files beside", func(t *testing.T) string {
			d := copyTree(t)
			os.WriteFile(filepath.Join(d, "olist_orders_dataset.csv"), []byte("x"), 0o644)
			return d
		}, opts, OutputChanged, "beside olist_orders_dataset.csv"},
		{"landing zone without manifest", func(t *testing.T) string {
			d := copyTree(t)
			os.Remove(filepath.Join(d, GeneratorManifestFile))
			return d
		}, opts, OutputForeign, "dt=2018-05-31/olist_customers_dataset.csv"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := InspectOutput(tc.prepare(t), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != tc.want || !strings.Contains(got.Desc, tc.descHas) {
				t.Errorf("got %+v, want state %d with %q", got, tc.want, tc.descHas)
			}
		})
	}
}

func TestParseDayAndScan(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		date bool
		ok   bool
		want string
	}{
		{"2018-01-31 23:59:59", false, true, "2018-01-31"},
		{"2016-02-29 00:00:00", false, true, "2016-02-29"},
		{"2018-02-29 00:00:00", false, false, ""},
		{"2018-13-01 00:00:00", false, false, ""},
		{"2018-01-01 24:00:00", false, false, ""},
		{"2018-01-01T10:00:00", false, false, ""},
		{"2018-01-01", false, false, ""},
		{"2018-01-01", true, true, "2018-01-01"},
		{"2018-1-01", true, false, ""},
		{"", false, false, ""},
	} {
		d, ok := parseDay(tc.in, tc.date)
		if ok != tc.ok || ok && formatDay(d) != tc.want {
			t.Errorf("parseDay(%q) = %s, %v", tc.in, formatDay(d), ok)
		}
	}
	rv := Tables()[slices.IndexFunc(Tables(), func(tb Table) bool { return tb.CRLF && !tb.BOM })]
	for _, tc := range []struct {
		name, data string
		lines      []int64
		err        string
	}{
		{"multi-line value", "h\r\na,\"x\r\ny\"\r\nb\r\n", []int64{2, 4}, ""},
		{"no final newline", "h\r\na\r\nb", []int64{2, 3}, ""},
		{"bare line feed", "h\r\na\nb\r\n", nil, "line 2"},
	} {
		sf, err := scanCSV([]byte(tc.data), rv)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var lines []int64
		for _, r := range sf.recs {
			lines = append(lines, r.line)
		}
		if !slices.Equal(lines, tc.lines) || string(sf.header) != "h" {
			t.Errorf("%s: lines %v header %q", tc.name, lines, sf.header)
		}
	}
}

func BenchmarkGenerateDaily(b *testing.B) {
	for b.Loop() {
		dir := b.TempDir()
		if _, err := GenerateDaily(context.Background(), dir, GenOptions{Scale: 0.1, Seed: 1, DailyFrom: "2018-01-01"}); err != nil {
			b.Fatal(err)
		}
	}
}
