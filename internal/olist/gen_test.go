package olist

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// --- shared generated data sets ---------------------------------------------

var (
	genMu    sync.Mutex
	genDirs  = map[string]*genResult{}
	genRoot  string
	rootOnce sync.Once
)

type genResult struct {
	once sync.Once
	dir  string
	rep  GenReport
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if genRoot != "" {
		os.RemoveAll(genRoot)
	}
	os.Exit(code)
}

// generated returns a data set generated once per (scale, seed) for the
// whole test binary.
func generated(t testing.TB, scale float64, seed int64) (string, GenReport) {
	t.Helper()
	rootOnce.Do(func() {
		var err error
		genRoot, err = os.MkdirTemp("", "olistgen-test-")
		if err != nil {
			panic(err)
		}
	})
	key := fmt.Sprintf("%g-%d", scale, seed)
	genMu.Lock()
	r, ok := genDirs[key]
	if !ok {
		r = &genResult{dir: filepath.Join(genRoot, key)}
		genDirs[key] = r
	}
	genMu.Unlock()
	r.once.Do(func() {
		r.rep, r.err = Generate(context.Background(), r.dir, GenOptions{Scale: scale, Seed: seed})
	})
	if r.err != nil {
		t.Fatalf("Generate(scale=%g, seed=%d): %v", scale, seed, r.err)
	}
	return r.dir, r.rep
}

// csvFile is a parsed generated file.
type csvFile struct {
	t      Table
	header []string
	rows   [][]string
	lines  []int // physical line where each row starts
	col    map[string]int
}

func (f *csvFile) get(row []string, name string) string { return row[f.col[name]] }

func readTable(t testing.TB, dir string, tb Table) *csvFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, tb.File))
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.TrimPrefix(raw, []byte("\xEF\xBB\xBF"))
	r := csv.NewReader(bytes.NewReader(raw))
	r.FieldsPerRecord = len(tb.Columns)
	r.ReuseRecord = false
	f := &csvFile{t: tb, col: map[string]int{}}
	f.header, err = r.Read()
	if err != nil {
		t.Fatalf("%s: header: %v", tb.File, err)
	}
	for i, c := range tb.Columns {
		f.col[c.Name] = i
	}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", tb.File, err)
		}
		line, _ := r.FieldPos(0)
		f.rows = append(f.rows, rec)
		f.lines = append(f.lines, line)
	}
	return f
}

func readAll(t testing.TB, dir string) map[string]*csvFile {
	t.Helper()
	out := map[string]*csvFile{}
	for _, tb := range Tables() {
		out[tb.Name] = readTable(t, dir, tb)
	}
	return out
}

type plantedEntry struct {
	Table string         `json:"table"`
	Key   map[string]any `json:"key"`
	Line  int            `json:"line"`
	Quirk string         `json:"quirk"`
}

func readPlanted(t testing.TB, dir string) []plantedEntry {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, PlantedFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []plantedEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e plantedEntry
		d := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		d.UseNumber()
		if err := d.Decode(&e); err != nil {
			t.Fatalf("%s: %v: %s", PlantedFile, err, sc.Text())
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func mustLoc(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("America/Sao_Paulo")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

const tsLayout = "2006-01-02 15:04:05"

func parseTS(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(tsLayout, s)
	if err != nil {
		t.Fatalf("bad timestamp %q: %v", s, err)
	}
	return v
}

// --- tests --------------------------------------------------------------------

// The header lines of the original files, byte for byte.
var goldenHeaders = map[string]string{
	"orders":               `"order_id","customer_id","order_status","order_purchase_timestamp","order_approved_at","order_delivered_carrier_date","order_delivered_customer_date","order_estimated_delivery_date"` + "\n",
	"customers":            `"customer_id","customer_unique_id","customer_zip_code_prefix","customer_city","customer_state"` + "\n",
	"order_items":          `"order_id","order_item_id","product_id","seller_id","shipping_limit_date","price","freight_value"` + "\n",
	"order_payments":       `"order_id","payment_sequential","payment_type","payment_installments","payment_value"` + "\n",
	"order_reviews":        `"review_id","order_id","review_score","review_comment_title","review_comment_message","review_creation_date","review_answer_timestamp"` + "\r\n",
	"products":             `"product_id","product_category_name","product_name_lenght","product_description_lenght","product_photos_qty","product_weight_g","product_length_cm","product_height_cm","product_width_cm"` + "\n",
	"sellers":              `"seller_id","seller_zip_code_prefix","seller_city","seller_state"` + "\n",
	"geolocation":          `"geolocation_zip_code_prefix","geolocation_lat","geolocation_lng","geolocation_city","geolocation_state"` + "\n",
	"category_translation": "\xEF\xBB\xBFproduct_category_name,product_category_name_english\r\n",
}

var fileNames = map[string]string{
	"orders":               "olist_orders_dataset.csv",
	"customers":            "olist_customers_dataset.csv",
	"order_items":          "olist_order_items_dataset.csv",
	"order_payments":       "olist_order_payments_dataset.csv",
	"order_reviews":        "olist_order_reviews_dataset.csv",
	"products":             "olist_products_dataset.csv",
	"sellers":              "olist_sellers_dataset.csv",
	"geolocation":          "olist_geolocation_dataset.csv",
	"category_translation": "product_category_name_translation.csv",
}

func TestHeadersAndFileNames(t *testing.T) {
	t.Parallel()
	dir, rep := generated(t, 0.01, 1)
	if len(rep.Files) != len(goldenHeaders) {
		t.Fatalf("report has %d files, want %d", len(rep.Files), len(goldenHeaders))
	}
	for i, tb := range Tables() {
		t.Run(tb.Name, func(t *testing.T) {
			if got := rep.Files[i].Table; got != tb.Name {
				t.Errorf("report file %d is %q, want %q (contract order)", i, got, tb.Name)
			}
			if want := fileNames[tb.Name]; tb.File != want || filepath.Base(rep.Files[i].Path) != want {
				t.Errorf("file name %q / %q, want %q", tb.File, rep.Files[i].Path, want)
			}
			raw, err := os.ReadFile(filepath.Join(dir, tb.File))
			if err != nil {
				t.Fatal(err)
			}
			want := goldenHeaders[tb.Name]
			if !bytes.HasPrefix(raw, []byte(want)) {
				n := min(len(raw), len(want)+10)
				t.Errorf("header\n got %q\nwant %q", raw[:n], want)
			}
			if int64(len(raw)) != rep.Files[i].Bytes {
				t.Errorf("report says %d bytes, file has %d", rep.Files[i].Bytes, len(raw))
			}
		})
	}
}

func TestDeterminism(t *testing.T) {
	t.Parallel()
	a, _ := generated(t, 0.01, 1)
	b := t.TempDir()
	if _, err := Generate(context.Background(), b, GenOptions{Scale: 0.01, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	c, _ := generated(t, 0.01, 2)
	names := []string{GeneratorManifestFile, PlantedFile}
	for _, tb := range Tables() {
		names = append(names, tb.File)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			fa, err := os.ReadFile(filepath.Join(a, name))
			if err != nil {
				t.Fatal(err)
			}
			fb, err := os.ReadFile(filepath.Join(b, name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(fa, fb) {
				t.Errorf("same seed: %s differs", name)
			}
			fc, err := os.ReadFile(filepath.Join(c, name))
			if err != nil {
				t.Fatal(err)
			}
			fixed := name == "product_category_name_translation.csv" // does not depend on the seed
			if bytes.Equal(fa, fc) != fixed {
				t.Errorf("different seed: %s equal=%v, want %v", name, bytes.Equal(fa, fc), fixed)
			}
		})
	}
	// No temporary files are left behind.
	ents, _ := os.ReadDir(b)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("leftover file %s", e.Name())
		}
	}
	if len(ents) != len(Tables())+2 {
		t.Errorf("%d files in output, want %d", len(ents), len(Tables())+2)
	}
}

func TestRowCounts(t *testing.T) {
	t.Parallel()
	dir, rep := generated(t, 0.01, 1)
	files := readAll(t, dir)
	tests := []struct {
		table    string
		want     float64
		tolerate float64 // relative
	}{
		{"orders", 994, 0},
		{"customers", 994, 0},
		{"order_items", 1126, 0.08},
		{"order_payments", 1039, 0.08},
		{"order_reviews", 992, 0.05},
		{"products", 330, 0},
		{"sellers", 31, 0},
		{"geolocation", 10002, 0},
		{"category_translation", 71, 0},
	}
	for i, tc := range tests {
		got := float64(len(files[tc.table].rows))
		if math.Abs(got-tc.want) > tc.want*tc.tolerate {
			t.Errorf("%s: %v rows, want %v ±%v%%", tc.table, got, tc.want, tc.tolerate*100)
		}
		if rep.Files[i].Table != tc.table || rep.Files[i].Rows != int64(got) {
			t.Errorf("report %s: %d rows, file has %v", rep.Files[i].Table, rep.Files[i].Rows, got)
		}
	}
}

// encodeField is an independent implementation of the contract's quoting.
func encodeField(v string, c Column, eol string) string {
	if v == "" {
		return ""
	}
	quote := false
	switch c.Quoting {
	case QuoteAlways:
		quote = true
	case QuoteAsNeeded:
		quote = v[0] >= '0' && v[0] <= '9' || strings.ContainsAny(v, ",\"\r\n")
	}
	if !quote {
		return v
	}
	v = strings.ReplaceAll(v, `"`, `""`)
	v = strings.ReplaceAll(v, "\n", eol) // encoding/csv reads CRLF inside quotes as LF
	return `"` + v + `"`
}

// TestFormatting re-encodes every parsed file with the contract's rules and
// compares the result with the generated bytes: quoting, line endings (also
// inside quoted values), BOM, header and final newline must all match.
func TestFormatting(t *testing.T) {
	t.Parallel()
	dir, _ := generated(t, 0.01, 1)
	for _, tb := range Tables() {
		t.Run(tb.Name, func(t *testing.T) {
			f := readTable(t, dir, tb)
			raw, err := os.ReadFile(filepath.Join(dir, tb.File))
			if err != nil {
				t.Fatal(err)
			}
			eol := "\n"
			if tb.CRLF {
				eol = "\r\n"
			}
			var b strings.Builder
			if tb.BOM {
				b.WriteString("\xEF\xBB\xBF")
			}
			for i := range tb.Columns {
				if i > 0 {
					b.WriteByte(',')
				}
				if tb.QuoteHeader {
					b.WriteString(`"` + f.header[i] + `"`)
				} else {
					b.WriteString(f.header[i])
				}
			}
			for _, row := range f.rows {
				b.WriteString(eol)
				for i, c := range tb.Columns {
					if i > 0 {
						b.WriteByte(',')
					}
					b.WriteString(encodeField(row[i], c, eol))
				}
			}
			if tb.FinalNewline {
				b.WriteString(eol)
			}
			if got := b.String(); got != string(raw) {
				i := 0
				for i < len(got) && i < len(raw) && got[i] == raw[i] {
					i++
				}
				lo := max(0, i-80)
				t.Fatalf("re-encoded file differs at byte %d:\n got %q\nwant %q", i, raw[lo:min(len(raw), i+80)], got[lo:min(len(got), i+80)])
			}
			if tb.CRLF && bytes.Count(raw, []byte("\n")) != bytes.Count(raw, []byte("\r\n")) {
				t.Error("bare LF in a CRLF file")
			}
			if !tb.CRLF && bytes.Contains(raw, []byte("\r")) {
				t.Error("CR in an LF file")
			}
		})
	}
}

var (
	reID    = regexp.MustCompile(`^[0-9a-f]{32}$`)
	reZip   = regexp.MustCompile(`^[0-9]{5}$`)
	reMoney = regexp.MustCompile(`^[0-9]+\.[0-9]{2}$`)
	reInt   = regexp.MustCompile(`^-?[0-9]+$`)
	reTS    = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$`)
	reUF    = regexp.MustCompile(`^[A-Z]{2}$`)
)

// TestValueFormats checks every value against its contract type.
func TestValueFormats(t *testing.T) {
	t.Parallel()
	dir, _ := generated(t, 0.01, 1)
	for _, tb := range Tables() {
		t.Run(tb.Name, func(t *testing.T) {
			f := readTable(t, dir, tb)
			for ri, row := range f.rows {
				for i, c := range tb.Columns {
					v := row[i]
					if v == "" {
						if !c.Nullable {
							t.Fatalf("row %d: %s is empty", ri, c.Name)
						}
						continue
					}
					var ok bool
					switch {
					case c.Type == Money:
						ok = reMoney.MatchString(v)
					case c.Type == Int:
						ok = reInt.MatchString(v)
					case c.Type == Timestamp:
						ok = reTS.MatchString(v)
					case c.Type == Float:
						x, err := strconv.ParseFloat(v, 64)
						ok = err == nil && strconv.FormatFloat(x, 'f', -1, 64) == v
					case strings.HasSuffix(c.Name, "_id"):
						ok = reID.MatchString(v)
					case strings.HasSuffix(c.Name, "zip_code_prefix"):
						ok = reZip.MatchString(v)
					case strings.HasSuffix(c.Name, "_state"):
						ok = reUF.MatchString(v)
					default:
						ok = true
					}
					if !ok {
						t.Fatalf("row %d: %s = %q is not a valid %s", ri, c.Name, v, c.Type)
					}
				}
			}
		})
	}
}

func TestReferentialConsistency(t *testing.T) {
	t.Parallel()
	dir, _ := generated(t, 0.05, 7)
	fs := readAll(t, dir)
	orders, customers := fs["orders"], fs["customers"]
	orderIDs := map[string]bool{}
	custOf := map[string]string{}
	for _, r := range orders.rows {
		id := orders.get(r, "order_id")
		if orderIDs[id] {
			t.Fatalf("duplicate order_id %s", id)
		}
		orderIDs[id] = true
		custOf[orders.get(r, "customer_id")] = id
	}
	if len(custOf) != len(orders.rows) {
		t.Fatalf("%d distinct customer_id for %d orders", len(custOf), len(orders.rows))
	}
	seen := map[string]bool{}
	for _, r := range customers.rows {
		id := customers.get(r, "customer_id")
		if _, ok := custOf[id]; !ok || seen[id] {
			t.Fatalf("customer %s: unknown or repeated", id)
		}
		seen[id] = true
	}
	if len(seen) != len(orders.rows) {
		t.Fatalf("%d customers for %d orders", len(seen), len(orders.rows))
	}
	keys := func(f *csvFile, col string) map[string]bool {
		m := map[string]bool{}
		for _, r := range f.rows {
			m[f.get(r, col)] = true
		}
		return m
	}
	products, sellers := keys(fs["products"], "product_id"), keys(fs["sellers"], "seller_id")
	if len(products) != len(fs["products"].rows) || len(sellers) != len(fs["sellers"].rows) {
		t.Fatal("duplicate product or seller ids")
	}
	items := fs["order_items"]
	price := map[string]string{}
	itemKeys := map[string]bool{}
	for _, r := range items.rows {
		o, p, s := items.get(r, "order_id"), items.get(r, "product_id"), items.get(r, "seller_id")
		if !orderIDs[o] || !products[p] || !sellers[s] {
			t.Fatalf("item %v references a missing order, product or seller", r)
		}
		k := o + "/" + items.get(r, "order_item_id")
		if itemKeys[k] {
			t.Fatalf("duplicate item key %s", k)
		}
		itemKeys[k] = true
		if old, ok := price[p]; ok && old != items.get(r, "price") {
			t.Fatalf("product %s sold at %s and %s", p, old, items.get(r, "price"))
		}
		price[p] = items.get(r, "price")
	}
	for _, name := range []string{"order_payments", "order_reviews"} {
		f := fs[name]
		for _, r := range f.rows {
			if !orderIDs[f.get(r, "order_id")] {
				t.Fatalf("%s references missing order %s", name, f.get(r, "order_id"))
			}
		}
	}
	pk := map[string]bool{}
	pays := fs["order_payments"]
	for _, r := range pays.rows {
		k := pays.get(r, "order_id") + "/" + pays.get(r, "payment_sequential")
		if pk[k] {
			t.Fatalf("duplicate payment key %s", k)
		}
		pk[k] = true
	}
	// Every natural category has a translation.
	trans := keys(fs["category_translation"], "product_category_name")
	missing := map[string]bool{}
	for _, r := range fs["products"].rows {
		if c := fs["products"].get(r, "product_category_name"); c != "" && !trans[c] {
			missing[c] = true
		}
	}
	for c := range missing {
		if c != "pc_gamer" && c != "portateis_cozinha_e_preparadores_de_alimentos" {
			t.Errorf("category %q has no translation", c)
		}
	}
}

// TestDST checks that no local timestamp falls into a spring-forward gap or
// into the repeated hour of a fall-back, that review_creation_date is
// midnight (01:00 on a DST-start day) and that estimated dates are midnight.
func TestDST(t *testing.T) {
	t.Parallel()
	loc := mustLoc(t)
	dir, _ := generated(t, 0.05, 1)
	dstStartSeen := 0
	for _, tb := range Tables() {
		f := readTable(t, dir, tb)
		for ci, c := range tb.Columns {
			if c.Type != Timestamp {
				continue
			}
			for _, row := range f.rows {
				v := row[ci]
				if v == "" {
					continue
				}
				w := parseTS(t, v)
				y, mo, d := w.Date()
				in := time.Date(y, mo, d, w.Hour(), w.Minute(), w.Second(), 0, loc)
				inGap := in.Format(tsLayout) != v
				midnightGap := time.Date(y, mo, d, 0, 0, 0, 0, loc).Format(tsLayout) != w.Format("2006-01-02")+" 00:00:00"
				switch c.Name {
				case "review_creation_date":
					want := "00:00:00"
					if midnightGap {
						want = "01:00:00"
						dstStartSeen++
					}
					if w.Format("15:04:05") != want {
						t.Fatalf("%s.%s = %s, want %s", tb.Name, c.Name, v, want)
					}
					continue
				case "order_estimated_delivery_date":
					if w.Format("15:04:05") != "00:00:00" || midnightGap {
						t.Fatalf("%s.%s = %s is not an existing midnight", tb.Name, c.Name, v)
					}
				}
				if inGap {
					t.Fatalf("%s.%s = %s falls in a DST gap", tb.Name, c.Name, v)
				}
				if in.Add(-time.Hour).Format(tsLayout) == v || in.Add(time.Hour).Format(tsLayout) == v {
					t.Fatalf("%s.%s = %s is ambiguous (fall-back hour)", tb.Name, c.Name, v)
				}
			}
		}
	}
	if dstStartSeen == 0 {
		t.Error("no review_creation_date on a DST-start day: the 01:00 case is untested")
	}
}

func share(n, d int) float64 { return float64(n) / float64(d) }

func TestDistributions(t *testing.T) {
	t.Parallel()
	dir, _ := generated(t, 0.05, 3)
	fs := readAll(t, dir)
	orders, reviews, pays, customers := fs["orders"], fs["order_reviews"], fs["order_payments"], fs["customers"]
	items, geo := fs["order_items"], fs["geolocation"]

	delivered, late, withDate := 0, 0, 0
	var days []float64
	months := map[string]int{}
	status := map[string]int{}
	carrierEarly, carrierEarlyShaped := 0, 0
	for _, r := range orders.rows {
		months[orders.get(r, "order_purchase_timestamp")[:7]]++
		status[orders.get(r, "order_status")]++
		if c := orders.get(r, "order_delivered_carrier_date"); c != "" && c < orders.get(r, "order_purchase_timestamp") {
			// The real ones: the same day, 20-100 minutes early, whole minutes.
			carrierEarly++
			gap := parseTS(t, orders.get(r, "order_purchase_timestamp")).Sub(parseTS(t, c))
			if gap >= 20*time.Minute && gap <= 100*time.Minute && strings.HasSuffix(c, ":00") {
				carrierEarlyShaped++
			}
		}
		if orders.get(r, "order_status") != "delivered" {
			continue
		}
		delivered++
		d := orders.get(r, "order_delivered_customer_date")
		if d == "" {
			continue
		}
		withDate++
		pu, de := parseTS(t, orders.get(r, "order_purchase_timestamp")), parseTS(t, d)
		if de.After(parseTS(t, orders.get(r, "order_estimated_delivery_date"))) {
			late++
		}
		if de.After(pu) {
			days = append(days, de.Sub(pu).Hours()/24)
		}
	}
	stars := map[string]int{}
	noMsg := 0
	for _, r := range reviews.rows {
		stars[reviews.get(r, "review_score")]++
		if reviews.get(r, "review_comment_message") == "" {
			noMsg++
		}
	}
	types := map[string]int{}
	for _, r := range pays.rows {
		types[pays.get(r, "payment_type")]++
	}
	persons := map[string]int{}
	sp := 0
	for _, r := range customers.rows {
		persons[customers.get(r, "customer_unique_id")]++
		if customers.get(r, "customer_state") == "SP" {
			sp++
		}
	}
	repeat := 0
	for _, n := range persons {
		if n > 1 {
			repeat++
		}
	}
	var prices []float64
	for _, r := range items.rows {
		p, _ := strconv.ParseFloat(items.get(r, "price"), 64)
		prices = append(prices, p)
	}
	sort.Float64s(prices)
	seen := map[string]bool{}
	dups := 0
	for _, r := range geo.rows {
		k := strings.Join(r, ",")
		if seen[k] {
			dups++
		}
		seen[k] = true
	}
	meanDays := 0.0
	for _, d := range days {
		meanDays += d
	}
	meanDays /= float64(len(days))
	n := len(orders.rows)
	tests := []struct {
		name   string
		got    float64
		lo, hi float64
	}{
		// Status shares of the real 99,441 orders: delivered 97.02%, shipped
		// 1.11%, canceled 0.63%, unavailable 0.61% (the planted orders without
		// items replace unavailable ones, they do not add to them).
		{"delivered share", share(delivered, n), 0.965, 0.975},
		{"shipped share", share(status["shipped"], n), 0.008, 0.015},
		{"canceled share", share(status["canceled"], n), 0.004, 0.009},
		{"unavailable share", share(status["unavailable"], n), 0.004, 0.009},
		{"late share", share(late, withDate), 0.05, 0.11},
		// The real delivered orders take 12.5 days on average.
		{"mean delivery days", meanDays, 12.0, 13.0},
		// 0.17% of the real orders have the carrier hand-over before the purchase.
		{"carrier before purchase share", share(carrierEarly, n), 0.0014, 0.0020},
		{"carrier before purchase: same day, 20-100 min, whole minutes", share(carrierEarlyShaped, carrierEarly), 1, 1},
		{"5 star share", share(stars["5"], len(reviews.rows)), 0.53, 0.63},
		{"1 star share", share(stars["1"], len(reviews.rows)), 0.09, 0.15},
		{"empty message share", share(noMsg, len(reviews.rows)), 0.52, 0.66},
		{"credit card share", share(types["credit_card"], len(pays.rows)), 0.69, 0.79},
		{"boleto share", share(types["boleto"], len(pays.rows)), 0.15, 0.23},
		{"repeat customer share", share(repeat, len(persons)), 0.015, 0.05},
		{"SP customer share", share(sp, n), 0.37, 0.47},
		{"items per order", share(len(items.rows), n), 1.08, 1.2},
		{"median price", prices[len(prices)/2], 60, 90},
		{"geolocation duplicate share", share(dups, len(geo.rows)), 0.2, 0.3},
		{"orders in 2016-11", float64(months["2016-11"]), 0, 0},
		{"2018 monthly orders (scale 0.05)", float64(months["2018-03"]), 300, 420},
		{"Black Friday vs Nov median", blackFriday(orders), 3, 7},
	}
	for _, tc := range tests {
		if tc.got < tc.lo || tc.got > tc.hi {
			t.Errorf("%s = %.4f, want in [%v, %v]", tc.name, tc.got, tc.lo, tc.hi)
		}
	}
}

func blackFriday(orders *csvFile) float64 {
	perDay := map[string]int{}
	for _, r := range orders.rows {
		perDay[orders.get(r, "order_purchase_timestamp")[:10]]++
	}
	var nov []int
	for d := 1; d <= 30; d++ {
		nov = append(nov, perDay[fmt.Sprintf("2017-11-%02d", d)])
	}
	sort.Ints(nov)
	return float64(perDay["2017-11-24"]) / float64(max(1, nov[15]))
}

// quirkHolds checks that a planted row really shows its defect.
var quirkHolds = map[string]func(f *csvFile, row []string, fs map[string]*csvFile) bool{
	qCarrierBeforePurchase: func(f *csvFile, r []string, _ map[string]*csvFile) bool {
		return f.get(r, "order_delivered_carrier_date") < f.get(r, "order_purchase_timestamp")
	},
	qCarrierBeforeApproval: func(f *csvFile, r []string, _ map[string]*csvFile) bool {
		c := f.get(r, "order_delivered_carrier_date")
		return c >= f.get(r, "order_purchase_timestamp") && c < f.get(r, "order_approved_at")
	},
	qDeliveredBeforeCarrier: func(f *csvFile, r []string, _ map[string]*csvFile) bool {
		return f.get(r, "order_delivered_customer_date") < f.get(r, "order_delivered_carrier_date")
	},
	qDeliveredBeforePurchase: func(f *csvFile, r []string, _ map[string]*csvFile) bool {
		d := f.get(r, "order_delivered_customer_date")
		return d != "" && d < f.get(r, "order_purchase_timestamp")
	},
	qMissingDelivered: func(f *csvFile, r []string, _ map[string]*csvFile) bool {
		return f.get(r, "order_status") == "delivered" && f.get(r, "order_delivered_customer_date") == ""
	},
	qMissingApproval: func(f *csvFile, r []string, _ map[string]*csvFile) bool {
		return f.get(r, "order_status") == "delivered" && f.get(r, "order_approved_at") == ""
	},
	qOrderWithoutPayment: func(f *csvFile, r []string, fs map[string]*csvFile) bool {
		p := fs["order_payments"]
		for _, pr := range p.rows {
			if p.get(pr, "order_id") == f.get(r, "order_id") {
				return false
			}
		}
		return true
	},
	qOrderWithoutItems: func(f *csvFile, r []string, fs map[string]*csvFile) bool {
		it := fs["order_items"]
		for _, ir := range it.rows {
			if it.get(ir, "order_id") == f.get(r, "order_id") {
				return false
			}
		}
		st := f.get(r, "order_status")
		return st == "unavailable" || st == "canceled"
	},
	qPaymentNotDefined: func(f *csvFile, r []string, _ map[string]*csvFile) bool {
		return f.get(r, "payment_type") == "not_defined"
	},
	qInstallmentsZero: func(f *csvFile, r []string, _ map[string]*csvFile) bool {
		return f.get(r, "payment_installments") == "0"
	},
	qPaymentValueZero: func(f *csvFile, r []string, _ map[string]*csvFile) bool {
		return f.get(r, "payment_value") == "0.00"
	},
	qFreightZero: func(f *csvFile, r []string, _ map[string]*csvFile) bool {
		return f.get(r, "freight_value") == "0.00"
	},
	qShippingLimitFar: func(f *csvFile, r []string, _ map[string]*csvFile) bool {
		return f.get(r, "shipping_limit_date") > "2019-01-01"
	},
	qProductNoCategory: func(f *csvFile, r []string, _ map[string]*csvFile) bool {
		return f.get(r, "product_category_name") == "" && f.get(r, "product_name_length") == ""
	},
	qCategoryNoTranslation: func(f *csvFile, r []string, fs map[string]*csvFile) bool {
		c := f.get(r, "product_category_name")
		for _, tr := range fs["category_translation"].rows {
			if tr[0] == c {
				return false
			}
		}
		return c != ""
	},
	qProductNoDimensions: func(f *csvFile, r []string, _ map[string]*csvFile) bool {
		return f.get(r, "product_weight_g") == "" && f.get(r, "product_length_cm") == ""
	},
	qWeightZero: func(f *csvFile, r []string, _ map[string]*csvFile) bool {
		return f.get(r, "product_weight_g") == "0"
	},
	qGeoOutsideBrazil: func(f *csvFile, r []string, _ map[string]*csvFile) bool {
		lat, _ := strconv.ParseFloat(f.get(r, "geolocation_lat"), 64)
		return lat > 6
	},
}

// TestPlantedManifest checks that every manifest line points to the row it
// names, that the row shows the defect, and that the counts agree with
// _generator.json and the report.
func TestPlantedManifest(t *testing.T) {
	t.Parallel()
	dir, rep := generated(t, 0.01, 1)
	fs := readAll(t, dir)
	entries := readPlanted(t, dir)
	byLine := map[string]map[int][]string{}
	for name, f := range fs {
		m := map[int][]string{}
		for i, l := range f.lines {
			m[l] = f.rows[i]
		}
		byLine[name] = m
	}
	counts := map[[2]string]int64{}
	for _, e := range entries {
		counts[[2]string{e.Table, e.Quirk}]++
		f, ok := fs[e.Table]
		if !ok {
			t.Fatalf("unknown table in %+v", e)
		}
		row, ok := byLine[e.Table][e.Line]
		if !ok {
			t.Fatalf("%+v: no record starts on line %d", e, e.Line)
		}
		if len(e.Key) == 0 {
			t.Fatalf("%+v: empty key", e)
		}
		for k, v := range e.Key {
			ci, ok := f.col[k]
			if !ok {
				t.Fatalf("%+v: key column %q not in table", e, k)
			}
			var match bool
			switch x := v.(type) {
			case string:
				match = row[ci] == x
			case json.Number:
				match = row[ci] == x.String()
			}
			if !match {
				t.Fatalf("%+v: line %d has %s=%q", e, e.Line, k, row[ci])
			}
		}
		if check, ok := quirkHolds[e.Quirk]; ok && !check(f, row, fs) {
			t.Fatalf("%+v: row %v does not show the defect", e, row)
		}
	}
	// Every quirk id of the generator is planted at this scale.
	for _, specs := range [][]quirkSpec{orderQuirks, productQuirks, sellerQuirks, geoQuirks} {
		for _, s := range specs {
			found := false
			for k := range counts {
				found = found || k[1] == s.quirk
			}
			if !found {
				t.Errorf("quirk %s not planted at scale 0.01", s.quirk)
			}
		}
	}
	var meta struct {
		Seed         int64          `json:"seed"`
		Scale        float64        `json:"scale"`
		Version      string         `json:"version"`
		Planted      []PlantedCount `json:"planted"`
		PlantedTotal int64          `json:"planted_total"`
		Files        []struct {
			Table string `json:"table"`
			Rows  int64  `json:"rows"`
			Bytes int64  `json:"bytes"`
		} `json:"files"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, GeneratorManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatal(err)
	}
	if meta.Seed != 1 || meta.Scale != 0.01 || meta.Version != GeneratorVersion {
		t.Errorf("meta seed/scale/version = %d/%v/%q", meta.Seed, meta.Scale, meta.Version)
	}
	var total, listedRows int64
	for _, p := range meta.Planted {
		total += p.Count
		if !countOnly[p.Quirk] {
			listedRows += p.Count
		}
	}
	if meta.PlantedTotal != total || listedRows != int64(len(entries)) {
		t.Errorf("planted_total %d (sum %d), manifest has %d lines, want %d", meta.PlantedTotal, total, len(entries), listedRows)
	}
	listed := 0
	for _, p := range meta.Planted {
		if !countOnly[p.Quirk] {
			listed++
		}
	}
	if len(meta.Planted) != len(rep.Planted) || listed != len(counts) {
		t.Fatalf("planted counts: meta %d, report %d, manifest %d", len(meta.Planted), len(rep.Planted), len(counts))
	}
	for i, p := range meta.Planted {
		want := p.Count
		if countOnly[p.Quirk] {
			want = 0 // counted in _generator.json, not listed
		}
		if p != rep.Planted[i] || counts[[2]string{p.Table, p.Quirk}] != want {
			t.Errorf("planted %+v: report %+v, manifest %d", p, rep.Planted[i], counts[[2]string{p.Table, p.Quirk}])
		}
	}
	for i, f := range meta.Files {
		if f.Table != rep.Files[i].Table || f.Rows != rep.Files[i].Rows || f.Bytes != rep.Files[i].Bytes {
			t.Errorf("meta file %+v, report %+v", f, rep.Files[i])
		}
	}
}

// TestDefectsOnlyWherePlanted looks for the defects a quality gate checks
// and requires each one found to be in the manifest.
func TestDefectsOnlyWherePlanted(t *testing.T) {
	t.Parallel()
	dir, genRep := generated(t, 0.05, 5)
	fs := readAll(t, dir)
	planted := map[string]bool{}
	for _, e := range readPlanted(t, dir) {
		var ks []string
		for k, v := range e.Key {
			ks = append(ks, fmt.Sprintf("%s=%v", k, v))
		}
		sort.Strings(ks)
		planted[e.Table+"|"+e.Quirk+"|"+strings.Join(ks, ",")] = true
	}
	key := func(table, quirk string, kv ...string) string {
		var ks []string
		for i := 0; i < len(kv); i += 2 {
			ks = append(ks, kv[i]+"="+kv[i+1])
		}
		sort.Strings(ks)
		return table + "|" + quirk + "|" + strings.Join(ks, ",")
	}
	unplanted := map[string]int{}
	found := func(table, quirk string, kv ...string) {
		if !planted[key(table, quirk, kv...)] {
			unplanted[table+"/"+quirk]++
		}
	}

	o := fs["orders"]
	for _, r := range o.rows {
		id := o.get(r, "order_id")
		pu, ap := o.get(r, "order_purchase_timestamp"), o.get(r, "order_approved_at")
		ca, de := o.get(r, "order_delivered_carrier_date"), o.get(r, "order_delivered_customer_date")
		st := o.get(r, "order_status")
		switch {
		case ca != "" && ca < pu:
			found("orders", qCarrierBeforePurchase, "order_id", id)
		case ca != "" && ap != "" && ca < ap:
			found("orders", qCarrierBeforeApproval, "order_id", id)
		}
		switch {
		case de != "" && de < pu:
			found("orders", qDeliveredBeforePurchase, "order_id", id)
		case de != "" && ca != "" && de < ca:
			found("orders", qDeliveredBeforeCarrier, "order_id", id)
		}
		if ap != "" && ap < pu {
			found("orders", "approved_before_purchase", "order_id", id)
		}
		if st == "delivered" && de == "" {
			found("orders", qMissingDelivered, "order_id", id)
		}
		if st == "delivered" && ap == "" {
			found("orders", qMissingApproval, "order_id", id)
		}
		if st != "delivered" && de != "" {
			found("orders", "delivered_date_on_undelivered", "order_id", id)
		}
	}
	cents := func(s string) int64 {
		f, _ := strconv.ParseFloat(s, 64)
		return int64(math.Round(f * 100))
	}
	items := fs["order_items"]
	due := map[string]int64{}
	for _, r := range items.rows {
		due[items.get(r, "order_id")] += cents(items.get(r, "price")) + cents(items.get(r, "freight_value"))
		if items.get(r, "freight_value") == "0.00" {
			found("order_items", qFreightZero, "order_id", items.get(r, "order_id"), "order_item_id", items.get(r, "order_item_id"))
		}
	}
	ords := fs["orders"]
	for _, r := range ords.rows {
		if id := ords.get(r, "order_id"); due[id] == 0 {
			if _, has := due[id]; !has {
				found("orders", qOrderWithoutItems, "order_id", id)
			}
		}
	}
	p := fs["order_payments"]
	paid := map[string]int64{}
	paySeqs := map[string][]string{}
	for _, r := range p.rows {
		id, seq := p.get(r, "order_id"), p.get(r, "payment_sequential")
		paid[id] += cents(p.get(r, "payment_value"))
		paySeqs[id] = append(paySeqs[id], seq)
		if p.get(r, "payment_value") == "0.00" {
			found("order_payments", qPaymentValueZero, "order_id", id, "payment_sequential", seq)
		}
		if p.get(r, "payment_installments") == "0" {
			found("order_payments", qInstallmentsZero, "order_id", id, "payment_sequential", seq)
		}
		if p.get(r, "payment_type") == "not_defined" {
			found("order_payments", qPaymentNotDefined, "order_id", id, "payment_sequential", seq)
		}
	}
	for id, d := range due {
		if _, ok := paid[id]; !ok {
			found("orders", qOrderWithoutPayment, "order_id", id)
		} else if paid[id] != d {
			found("order_payments", qPaymentsMismatch, "order_id", id, "payment_sequential", paySeqs[id][0])
		}
	}
	rv := fs["order_reviews"]
	byOrder := map[string]int{}
	byID := map[string]int{}
	for _, r := range rv.rows {
		byOrder[rv.get(r, "order_id")]++
		byID[rv.get(r, "review_id")]++
	}
	multi, reused := 0, 0
	for _, n := range byOrder {
		multi += n - 1
	}
	for _, n := range byID {
		reused += n - 1
	}
	geo := fs["geolocation"]
	geoDups := int64(0)
	defer func() {
		for _, p := range genRep.Planted {
			if p.Quirk == qGeoDuplicate && p.Count != geoDups {
				t.Errorf("geolocation duplicates: %d in the file, %d planted", geoDups, p.Count)
			}
		}
	}()
	zips := map[string]bool{}
	seen := map[string]bool{}
	for _, r := range geo.rows {
		zips[r[0]] = true
		k := strings.Join(r, ",")
		if seen[k] {
			geoDups++
		}
		seen[k] = true
		lat, _ := strconv.ParseFloat(r[1], 64)
		lng, _ := strconv.ParseFloat(r[2], 64)
		if lat < -34 || lat > 6 || lng < -75 || lng > -33 {
			found("geolocation", qGeoOutsideBrazil, "geolocation_zip_code_prefix", r[0], "geolocation_lat", r[1], "geolocation_lng", r[2])
		}
	}
	c := fs["customers"]
	for _, r := range c.rows {
		if !zips[c.get(r, "customer_zip_code_prefix")] {
			found("customers", qCustomerZipNoGeo, "customer_id", c.get(r, "customer_id"))
		}
	}
	s := fs["sellers"]
	for _, r := range s.rows {
		if !zips[s.get(r, "seller_zip_code_prefix")] {
			found("sellers", qSellerZipNoGeo, "seller_id", s.get(r, "seller_id"))
		}
	}
	pr := fs["products"]
	for _, r := range pr.rows {
		if pr.get(r, "product_weight_g") == "0" {
			found("products", qWeightZero, "product_id", pr.get(r, "product_id"))
		}
		if pr.get(r, "product_category_name") == "" {
			found("products", qProductNoCategory, "product_id", pr.get(r, "product_id"))
		}
		if pr.get(r, "product_length_cm") == "" {
			found("products", qProductNoDimensions, "product_id", pr.get(r, "product_id"))
		}
	}
	for k, n := range unplanted {
		t.Errorf("%d unplanted %s", n, k)
	}
	// Review duplicates: as many extra rows as planted ones.
	pc := map[string]int{}
	for _, e := range readPlanted(t, dir) {
		pc[e.Quirk]++
	}
	if multi != pc[qMultipleReviews] {
		t.Errorf("%d extra reviews per order, %d planted", multi, pc[qMultipleReviews])
	}
	if reused != pc[qReviewIDReused] {
		t.Errorf("%d reused review ids, %d planted", reused, pc[qReviewIDReused])
	}
}

func TestProgressAndCancel(t *testing.T) {
	t.Parallel()
	t.Run("progress", func(t *testing.T) {
		t.Parallel()
		var mu sync.Mutex
		last := map[string][2]int64{}
		calls := 0
		dir := t.TempDir()
		rep, err := Generate(context.Background(), dir, GenOptions{Scale: 0.02, Seed: 4, Progress: func(file string, done, total int64) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if prev, ok := last[file]; ok && done < prev[0] {
				t.Errorf("%s: progress went back from %d to %d", file, prev[0], done)
			}
			last[file] = [2]int64{done, total}
		}})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range rep.Files {
			p, ok := last[filepath.Base(f.Path)]
			if !ok || p[0] != f.Rows || p[1] != f.Rows {
				t.Errorf("%s: last progress %v, rows %d", f.Table, p, f.Rows)
			}
		}
		if calls > 200 {
			t.Errorf("%d progress calls: not periodic", calls)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		_, err := Generate(ctx, dir, GenOptions{Scale: 0.3, Seed: 1, Progress: func(string, int64, int64) { cancel() }})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			t.Errorf("canceled run left %s", e.Name())
		}
	})
	t.Run("bad scale", func(t *testing.T) {
		t.Parallel()
		for _, s := range []float64{-1, math.NaN(), math.Inf(1)} {
			if _, err := Generate(context.Background(), t.TempDir(), GenOptions{Scale: s}); err == nil {
				t.Errorf("scale %v: no error", s)
			}
		}
	})
}

func TestTinyScale(t *testing.T) {
	t.Parallel()
	for _, s := range []float64{0.00001, 0.0003} {
		dir := t.TempDir()
		rep, err := Generate(context.Background(), dir, GenOptions{Scale: s, Seed: 9})
		if err != nil {
			t.Fatalf("scale %v: %v", s, err)
		}
		for _, f := range rep.Files {
			if f.Rows < 1 {
				t.Errorf("scale %v: %s has no rows", s, f.Table)
			}
		}
		readAll(t, dir)
	}
}

func TestPlanterAndPerm(t *testing.T) {
	t.Parallel()
	for _, n := range []int64{1, 2, 3, 10, 994, 4972, 99441} {
		p := newPlanter(1, kOrderCore, n, float64(n)/99441, orderQuirks)
		got := map[string]int64{}
		for i := int64(0); i < n; i++ {
			if q := p.at(i); q != "" {
				got[q]++
			}
		}
		var total int64
		for i, s := range orderQuirks {
			total += got[s.quirk]
			if got[s.quirk] != p.counts[i] {
				t.Errorf("n=%d %s: %d placed, want %d", n, s.quirk, got[s.quirk], p.counts[i])
			}
		}
		if total > n/3 {
			t.Errorf("n=%d: %d planted", n, total)
		}
		pm := newPerm(3, permOrders, n)
		seen := make([]bool, n)
		for r := int64(0); r < n; r++ {
			i := pm.at(r)
			if i < 0 || i >= n || seen[i] {
				t.Fatalf("perm n=%d not a bijection at %d -> %d", n, r, i)
			}
			seen[i] = true
		}
	}
}

func TestIDsUnique(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for i := uint64(0); i < 200000; i++ {
		id := string(appendID(nil, 42, idOrder, i))
		if seen[id] {
			t.Fatalf("duplicate id at %d", i)
		}
		seen[id] = true
	}
}

func BenchmarkGenerate(b *testing.B) {
	dir := b.TempDir()
	for b.Loop() {
		if _, err := Generate(context.Background(), dir, GenOptions{Scale: 0.1, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
