package analytics

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/jsoneq"
)

func TestAnalysesAndTabulate(t *testing.T) {
	t.Parallel()
	db := shop().open(t)
	seen := map[string]bool{}
	for _, a := range Registry() {
		if seen[a.Name] {
			t.Errorf("duplicate analysis %s", a.Name)
		}
		seen[a.Name] = true
		if got, ok := Lookup(a.Name); !ok || got.Name != a.Name {
			t.Errorf("lookup %s", a.Name)
		}
		res, err := a.Run(bg, db, Filter{}, nil)
		if err != nil {
			t.Fatalf("%s: %v", a.Name, err)
		}
		if _, err := json.Marshal(res); err != nil {
			t.Errorf("%s: json: %v", a.Name, err)
		}
		for _, human := range []bool{true, false} {
			tab, err := Tabulate(res, human)
			if err != nil {
				t.Fatalf("%s: %v", a.Name, err)
			}
			if len(tab.Columns) == 0 || len(tab.Rows) == 0 || len(tab.Types) != len(tab.Columns) {
				t.Errorf("%s: empty table %+v", a.Name, tab)
			}
			for i, r := range tab.Rows {
				if len(r) != len(tab.Columns) || len(tab.Raw[i]) != len(tab.Columns) {
					t.Errorf("%s: row %d has %d cells for %d columns", a.Name, i, len(r), len(tab.Columns))
				}
			}
			for _, format := range []string{"table", "csv", "json"} {
				var b bytes.Buffer
				if err := tab.Write(&b, format); err != nil {
					t.Errorf("%s %s: %v", a.Name, format, err)
				}
			}
		}
	}
	for _, name := range []string{"monthly-sales", "top-products", "top-categories", "review-vs-sales", "rfm",
		"geography", "clv", "delivery", "kpis"} {
		if !seen[name] {
			t.Errorf("analysis %s missing", name)
		}
	}
	if _, err := Tabulate(42, true); err == nil {
		t.Error("Tabulate(int) did not fail")
	}
}

func TestTabulateFormatting(t *testing.T) {
	t.Parallel()
	k := KPIs{Revenue: 13114503.5, Orders: 99276, AOV: 160.123, Customers: 1234, RepeatRate: 0.0312}
	cell := func(human bool, row int) string {
		tab, err := Tabulate(k, human)
		if err != nil {
			t.Fatal(err)
		}
		return *tab.Rows[row][1]
	}
	for _, c := range []struct {
		row          int
		human, plain string
	}{
		{0, "13,114,503.50", "13114503.50"},
		{1, "99,276", "99276"},
		{2, "160.12", "160.12"},
		{4, "3.12%", "0.031200"},
	} {
		if got := cell(true, c.row); got != c.human {
			t.Errorf("row %d human = %q, want %q", c.row, got, c.human)
		}
		if got := cell(false, c.row); got != c.plain {
			t.Errorf("row %d plain = %q, want %q", c.row, got, c.plain)
		}
	}
	g := 0.125
	tab, _ := Tabulate([]MonthPoint{{Revenue: 1000, MoM: &g}}, true)
	if got := *tab.Rows[0][4]; got != "+12.5%" {
		t.Errorf("growth %q", got)
	}
	if tab.Rows[0][5] != nil {
		t.Error("nil YoY should be NULL")
	}
	for in, want := range map[string]string{"0": "0", "-1234": "-1,234", "999": "999", "1000000": "1,000,000"} {
		if got := groupThousands(in); got != want {
			t.Errorf("groupThousands(%s) = %s", in, got)
		}
	}
}

func TestParseFilter(t *testing.T) {
	t.Parallel()
	f, err := ParseFilter(" 2017-01-01", "2017-12-31 ", " sp ", " health_beauty ")
	if err != nil {
		t.Fatal(err)
	}
	if f.From != day("2017-01-01") || f.To != day("2017-12-31") || f.State != "SP" || f.Category != "health_beauty" {
		t.Errorf("%+v", f)
	}
	for _, bad := range [][2]string{{"2017-13-01", ""}, {"", "yesterday"}, {"2018-01-02", "2018-01-01"}} {
		if _, err := ParseFilter(bad[0], bad[1], "", ""); err == nil {
			t.Errorf("ParseFilter(%q, %q) did not fail", bad[0], bad[1])
		}
	}
}

// Filter values are parameters: a hostile value matches nothing and breaks nothing.
func TestFilterValuesAreParameters(t *testing.T) {
	t.Parallel()
	db := shop().open(t)
	for _, v := range []string{"SP' OR '1'='1", "'; DROP TABLE gold.fact_sales; --"} {
		k, err := Kpis(bg, db, Filter{State: v, Category: v})
		if err != nil {
			t.Fatal(err)
		}
		if k.Orders != 0 {
			t.Errorf("%q matched %d orders", v, k.Orders)
		}
	}
	k, err := Kpis(bg, db, Filter{})
	if err != nil || k.Orders != 4 {
		t.Errorf("after: %+v %v", k, err)
	}
}

func worksetTables(t *testing.T, db *sql.DB) []string {
	t.Helper()
	names, err := engine.Strings(bg, db, `SELECT table_name FROM duckdb_tables() WHERE schema_name = '`+wsSchema+`' AND table_name <> 'generations' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// With views as sources (as the lake's engine registers them) the working
// set is built once per version of the views and rebuilt when one changes.
func TestWorksetCache(t *testing.T) {
	t.Parallel()
	db := shop().open(t)
	// Base tables: built per call and dropped afterwards.
	if _, err := Kpis(bg, db, Filter{}); err != nil {
		t.Fatal(err)
	}
	if n := worksetTables(t, db); len(n) != 0 {
		t.Errorf("working set left behind for base tables: %v", n)
	}
	for _, s := range sources {
		tbl := s[0] + "." + s[1]
		for _, stmt := range []string{"ALTER TABLE " + tbl + " RENAME TO " + s[1] + "_data",
			"CREATE VIEW " + tbl + " AS SELECT * FROM " + tbl + "_data"} {
			if _, err := db.Exec(stmt); err != nil {
				t.Fatal(err)
			}
		}
	}
	k, err := Kpis(bg, db, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	checkF(t, "revenue", k.Revenue, 360)
	first := worksetTables(t, db)
	if len(first) != 3 {
		t.Fatalf("working set tables %v", first)
	}
	if _, err := MonthlySales(bg, db, Filter{State: "SP"}); err != nil {
		t.Fatal(err)
	}
	if got := worksetTables(t, db); strings.Join(got, ",") != strings.Join(first, ",") {
		t.Errorf("rebuilt without a change: %v → %v", first, got)
	}
	// A new version of fact_sales (the engine re-registers the view).
	if _, err := db.Exec("CREATE OR REPLACE VIEW gold.fact_sales AS SELECT * FROM gold.fact_sales_data WHERE order_id <> 'O1'"); err != nil {
		t.Fatal(err)
	}
	k, err = Kpis(bg, db, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	checkF(t, "revenue after change", k.Revenue, 210)
	if got := worksetTables(t, db); len(got) != 6 {
		t.Errorf("want the new and the previous generation, got %v", got)
	}
	if _, err := db.Exec("CREATE OR REPLACE VIEW gold.fact_sales AS SELECT * FROM gold.fact_sales_data WHERE order_id <> 'O2'"); err != nil {
		t.Fatal(err)
	}
	k, err = Kpis(bg, db, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	checkF(t, "revenue after 2nd change", k.Revenue, 260)
	if got := worksetTables(t, db); len(got) != 6 {
		t.Errorf("generations not dropped: %v", got)
	}
	if err := Warm(bg, db); err != nil {
		t.Fatal(err)
	}
}

func TestMissingTables(t *testing.T) {
	t.Parallel()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := Kpis(bg, db, Filter{}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("err = %v", err)
	}
}

// TestKPIsTableDefinesMetrics: `analyze kpis` says what each number is, in
// the words of KPIDefs (the dashboard and the deck use them too).
func TestKPIsTableDefinesMetrics(t *testing.T) {
	t.Parallel()
	tab, err := Tabulate(KPIs{Revenue: 100, Orders: 2, AOV: 60}, true)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	if err := tab.Write(&sb, "csv"); err != nil {
		t.Fatal(err)
	}
	for _, d := range KPIDefs {
		if !strings.Contains(sb.String(), strings.ToLower(d.Label)+",") || !strings.Contains(sb.String(), d.Def) {
			t.Errorf("kpis lacks %s (%s):\n%s", d.Label, d.Def, sb.String())
		}
	}
}

var analysisName = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// TestRegistryIsTheOneList: every field of Results belongs to exactly one
// registry entry, names are unique and fit a URL path and a command line,
// parameters have their default within bounds, and the registry cannot be
// changed through what Registry returns.
func TestRegistryIsTheOneList(t *testing.T) {
	t.Parallel()
	var r Results
	owner := map[uintptr]string{}
	names := map[string]bool{}
	for _, a := range Registry() {
		if !analysisName.MatchString(a.Name) || names[a.Name] {
			t.Errorf("analysis name %q: not lower-case-with-dashes or not unique", a.Name)
		}
		names[a.Name] = true
		if a.Title == "" || a.Description == "" || a.run == nil || a.store == nil || a.field == nil {
			t.Errorf("%s: incomplete entry", a.Name)
		}
		p := reflect.ValueOf(a.field(&r)).Pointer()
		if o, dup := owner[p]; dup {
			t.Errorf("%s and %s store into the same field of Results", o, a.Name)
		}
		owner[p] = a.Name
		seen := map[string]bool{}
		for _, p := range a.Params {
			if !analysisName.MatchString(p.Name) || seen[p.Name] || p.Min > p.Default || p.Default > p.Max || p.Description == "" {
				t.Errorf("%s: bad parameter %+v", a.Name, p)
			}
			seen[p.Name] = true
		}
	}
	v := reflect.ValueOf(&r).Elem()
	for i := 0; i < v.NumField(); i++ {
		if f := v.Type().Field(i); f.IsExported() && owner[v.Field(i).Addr().Pointer()] == "" {
			t.Errorf("Results.%s belongs to no analysis of the registry", f.Name)
		}
	}
	if got := Names(); len(got) != len(names) {
		t.Errorf("Names() = %v", got)
	}
	// What Registry returns is a copy.
	reg := Registry()
	reg[0].Name = "changed"
	for i := range reg {
		for j := range reg[i].Params {
			reg[i].Params[j].Default = -1
		}
	}
	for _, a := range Registry() {
		if a.Name == "changed" {
			t.Error("the registry changed through a returned slice")
		}
		for _, p := range a.Params {
			if p.Default == -1 {
				t.Errorf("%s: parameter %s changed through a returned slice", a.Name, p.Name)
			}
		}
	}
	for _, o := range []Output{InDashboard, InReport} {
		if len(Select(o)) == 0 {
			t.Errorf("no analysis in output %d", o)
		}
	}
}

// TestParseArgs: parameters come from text with defaults, within bounds,
// with errors naming the parameter; Run refuses a parameter the analysis
// does not take.
func TestParseArgs(t *testing.T) {
	t.Parallel()
	for _, a := range Registry() {
		def, err := ParseArgs(a.Params, func(string) (string, bool) { return "", false })
		if err != nil || len(def) != len(a.Params) {
			t.Fatalf("%s: defaults %v %v", a.Name, def, err)
		}
		for _, p := range a.Params {
			if def[p.Name] != p.Default {
				t.Errorf("%s: default %s = %d, want %d", a.Name, p.Name, def[p.Name], p.Default)
			}
			for _, tc := range []struct {
				in string
				ok bool
			}{
				{strconv.Itoa(p.Min), true}, {" " + strconv.Itoa(p.Max) + " ", true},
				{strconv.Itoa(p.Min - 1), false}, {strconv.Itoa(p.Max + 1), false}, {"abc", false}, {"", false}, {"1.5", false},
			} {
				args, err := ParseArgs(a.Params, func(name string) (string, bool) { return tc.in, name == p.Name })
				var pe *ParamError
				switch {
				case tc.ok && err != nil:
					t.Errorf("%s --%s %q: %v", a.Name, p.Name, tc.in, err)
				case tc.ok && strconv.Itoa(args[p.Name]) != strings.TrimSpace(tc.in):
					t.Errorf("%s --%s %q: got %d", a.Name, p.Name, tc.in, args[p.Name])
				case !tc.ok && (!errors.As(err, &pe) || pe.Param != p.Name || !strings.Contains(pe.Msg, strconv.Itoa(p.Max))):
					t.Errorf("%s --%s %q: err = %v, want a ParamError naming %s and its bounds", a.Name, p.Name, tc.in, err, p.Name)
				}
			}
		}
		if _, err := a.Run(bg, nil, Filter{}, Args{"nope": 1}); err == nil || !strings.Contains(err.Error(), "nope") {
			t.Errorf("%s: Run with an unknown parameter: %v", a.Name, err)
		}
	}
}

// TestRunAll: the results of a product are those of each analysis run on its
// own, and their JSON is keyed by analysis name and reads back the same.
func TestRunAll(t *testing.T) {
	t.Parallel()
	db := shop().open(t)
	for _, o := range []Output{InDashboard, InReport, InDashboard | InReport} {
		res, err := RunAll(bg, db, Filter{}, o)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, a := range Select(o) {
			want = append(want, a.Name)
			one, err := a.Run(bg, db, Filter{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ob, _ := json.Marshal(one)
			if same, err := jsoneq.Approx(m[a.Name], ob); err != nil || !same {
				t.Errorf("output %d: %s differs from its own run:\n%s\n%s", o, a.Name, m[a.Name], ob)
			}
		}
		if len(m) != len(want) || strings.Join(res.Ran(), ",") != strings.Join(want, ",") {
			t.Errorf("output %d: keys %v, ran %v, want %v", o, slices.Sorted(maps.Keys(m)), res.Ran(), want)
		}
		var back Results
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if b2, _ := json.Marshal(&back); string(b2) != string(b) {
			t.Errorf("output %d: JSON does not read back:\n%s\n%s", o, b, b2)
		}
	}
	if err := json.Unmarshal([]byte(`{"monthly":[]}`), &Results{}); err == nil {
		t.Error("an unknown analysis in JSON was accepted")
	}
}
