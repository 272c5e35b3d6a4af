package quality

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/keystone/nexus/internal/ingest"
	"github.com/keystone/nexus/internal/olist"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestParseSuiteErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src, want string
	}{
		{"bad yaml", "table: silver.orders\nchecks:\n  - id: a\n    kind: [not_null\n", "bad.yaml:4: "},
		{"tab indentation", "table: silver.orders\nchecks:\n\t- id: a\n", "bad.yaml:3: "},
		{"not a mapping", "- a\n- b\n", "bad.yaml:1: a suite is a mapping with table: and checks:"},
		{"unknown top key", "table: silver.orders\ntests: []\nchecks: []\n", `bad.yaml:2: unknown key "tests"`},
		{"missing table", "checks:\n  - {id: a, kind: not_null, column: x}\n", "bad.yaml:1: missing table:"},
		{"table not layer.table", "table: orders\nchecks: []\n", `bad.yaml:1: table "orders" is not layer.table`},
		{"unknown kind", "table: silver.orders\nchecks:\n  - id: a\n    kind: not_nul\n    column: x\n", `bad.yaml:4: check a: unknown kind "not_nul" (want one of accepted_values, between, expression, freshness, not_null,`},
		{"missing id", "table: silver.orders\nchecks:\n  - kind: not_null\n    column: x\n", "bad.yaml:3: check without id"},
		{"missing kind", "table: silver.orders\nchecks:\n  - id: a\n    column: x\n", "bad.yaml:3: check a: missing kind"},
		{"missing column", "table: silver.orders\nchecks:\n  - id: ok\n    kind: not_null\n    column: x\n  - id: a\n    kind: not_null\n", "bad.yaml:6: check a: kind not_null needs column"},
		{"missing pattern", "table: silver.orders\nchecks:\n  - {id: a, kind: regex, column: x}\n", "bad.yaml:3: check a: kind regex needs pattern"},
		{"bad pattern", "table: silver.orders\nchecks:\n  - id: a\n    kind: regex\n    column: x\n    pattern: '[0-9'\n", "bad.yaml:6: check a: pattern: error parsing regexp"},
		{"duplicate id", "table: silver.orders\nchecks:\n  - {id: a, kind: not_null, column: x}\n  - {id: b, kind: not_null, column: y}\n  - {id: a, kind: not_null, column: z}\n", `bad.yaml:5: duplicate check id "a" (first defined at line 3)`},
		{"bad severity", "table: silver.orders\nchecks:\n  - id: a\n    kind: not_null\n    column: x\n    severity: fatal\n", `bad.yaml:6: check a: severity "fatal": want error or warn`},
		{"bad on_fail", "table: silver.orders\nchecks:\n  - id: a\n    kind: not_null\n    column: x\n    on_fail: drop\n", `bad.yaml:6: check a: on_fail "drop": want quarantine or keep`},
		{"on_fail on a table-level check", "table: silver.orders\nchecks:\n  - id: a\n    kind: row_count\n    min_rows: 1\n    on_fail: keep\n", "bad.yaml:6: check a: on_fail does not apply to kind row_count"},
		{"unknown field", "table: silver.orders\nchecks:\n  - id: a\n    kind: not_null\n    colum: x\n", `bad.yaml:5: unknown field "colum"`},
		{"wrong type", "table: silver.orders\nchecks:\n  - id: a\n    kind: row_count\n    min_rows: many\n", "bad.yaml:5: min_rows: want an integer, got string"},
		{"list for a string", "table: silver.orders\nchecks:\n  - id: a\n    kind: not_null\n    column: x\n    severity: [error]\n", "bad.yaml:6: severity: want a string, got a list"},
		{"between without bounds", "table: silver.orders\nchecks:\n  - {id: a, kind: between, column: x}\n", "bad.yaml:3: check a: between needs min, max or both"},
		{"unique without columns", "table: silver.orders\nchecks:\n  - {id: a, kind: unique}\n", "bad.yaml:3: check a: unique needs column or columns"},
		{"relationships to", "table: silver.orders\nchecks:\n  - {id: a, kind: relationships, column: x, to: orders}\n", `bad.yaml:3: check a: to "orders" is not layer.table`},
		{"ratio without relative_to", "table: silver.orders\nchecks:\n  - {id: a, kind: row_count, min_rows: 1, min_ratio: 1}\n", "bad.yaml:3: check a: min_ratio/max_ratio need relative_to"},
		{"checks not a list", "table: silver.orders\nchecks:\n  a: b\n", "bad.yaml:3: checks: must be a list"},
		{"nulls on a quarantine rule", "table: silver.orders\nchecks:\n  - id: a\n    kind: not_null\n    column: x\n    nulls: [y]\n", "bad.yaml:6: check a: nulls applies to on_fail: keep"},
		{"nulls on a table-level check", "table: silver.orders\nchecks:\n  - {id: a, kind: row_count, min_rows: 1, nulls: [y]}\n", "bad.yaml:3: check a: nulls does not apply to kind row_count"},
		{"include_quarantined on a row check", "table: silver.orders\nchecks:\n  - {id: a, kind: not_null, column: x, include_quarantined: true}\n", "bad.yaml:3: check a: include_quarantined does not apply to kind not_null"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseSuite("bad.yaml", []byte(tc.src))
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error\n%v\nwant prefix\n%s", err, tc.want)
			}
		})
	}
}

func TestValidateErrors(t *testing.T) {
	t.Parallel()
	schemas := map[string][]string{
		"silver.orders":    {"order_id", "customer_id", "status"},
		"silver.customers": {"customer_id", "state", "quality_flags"},
	}
	tests := []struct {
		name, src, want string
	}{
		{"ok", "table: silver.orders\nchecks:\n  - {id: a, kind: not_null, column: order_id}\n  - {id: b, kind: schema, expect: {whatever: INTEGER}}\n", ""},
		{"unknown table", "table: silver.order\nchecks: []\n", "s.yaml:1: unknown table silver.order (did you mean silver.orders?)"},
		{"unknown column", "table: silver.orders\nchecks:\n  - {id: a, kind: not_null, column: order_id}\n  - id: b\n    kind: not_null\n    column: customer\n",
			`s.yaml:4: check b: column: unknown column "customer" in silver.orders (did you mean customer_id?)`},
		{"unknown unique column", "table: silver.orders\nchecks:\n  - {id: a, kind: unique, columns: [order_id, nope]}\n", `s.yaml:3: check a: columns: unknown column "nope" in silver.orders`},
		{"unknown referenced table", "table: silver.orders\nchecks:\n  - {id: a, kind: relationships, column: customer_id, to: silver.customer}\n", "s.yaml:3: check a: to: unknown table silver.customer (did you mean silver.customers?)"},
		{"unknown referenced field", "table: silver.orders\nchecks:\n  - {id: a, kind: relationships, column: customer_id, to: silver.customers, field: id}\n", `s.yaml:3: check a: field: unknown column "id" in silver.customers`},
		{"unknown message column", "table: silver.orders\nchecks:\n  - {id: a, kind: expression, expr: status <> 'x', message: '{state} is x'}\n", `s.yaml:3: check a: message: unknown column "state" in silver.orders`},
		{"unknown relative table", "table: silver.orders\nchecks:\n  - {id: a, kind: row_count, relative_to: silver.items, min_ratio: 1}\n", "s.yaml:3: check a: relative_to: unknown table silver.items"},
		{"unknown nulls column", "table: silver.orders\nchecks:\n  - {id: a, kind: not_null, column: status, on_fail: keep, nulls: [stat]}\n", `s.yaml:3: check a: nulls: unknown column "stat" in silver.orders (did you mean status?)`},
		{"model outputs the flags column", "table: silver.customers\nchecks:\n  - {id: a, kind: not_null, column: state, on_fail: keep}\n", "s.yaml:1: silver.customers has a column quality_flags, the column the quality gate adds for keep rules; rename it in the model"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := ParseSuite("s.yaml", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			err = Validate([]*Suite{s}, schemas)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Errorf("error\n%v\nwant\n%s", err, tc.want)
			}
		})
	}
}

func TestLoadSuitesProjectOverride(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "suites"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, "suites", name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("orders.yaml", `table: silver.orders
checks:
  - id: purchases_fresh        # switch off
    disabled: true
  - id: order_id_not_null      # replace
    kind: not_null
    column: order_id
    severity: warn
    on_fail: keep
  - id: my_check               # add
    kind: not_null
    column: customer_id
`)
	write("extra.yaml", "table: silver.extra\nchecks:\n  - {id: a, kind: row_count, min_rows: 1}\n")
	suites, err := LoadSuites(dir)
	if err != nil {
		t.Fatal(err)
	}
	var orders, extra *Suite
	for _, s := range suites {
		switch s.Table {
		case "silver.orders":
			orders = s
		case "silver.extra":
			extra = s
		}
	}
	if orders == nil || extra == nil {
		t.Fatal("missing suites")
	}
	if _, ok := orders.Check("purchases_fresh"); ok {
		t.Error("disabled check still there")
	}
	c, _ := orders.Check("order_id_not_null")
	if c.Severity != "warn" || !strings.HasSuffix(c.File, "suites/orders.yaml") || c.Line != 5 {
		t.Errorf("override: %+v", c)
	}
	if c, ok := orders.Check("my_check"); !ok || c.Line != 10 {
		t.Errorf("added check: %+v", c)
	}
	if c, _ := orders.Check("order_id_unique"); c.File != "suites/silver.orders.yaml" {
		t.Errorf("embedded check file %q", c.File)
	}
	write("broken.yaml", "table: silver.x\nchecks:\n  - {id: a, kind: nope}\n")
	if _, err := LoadSuites(dir); err == nil || !strings.Contains(err.Error(), "suites/broken.yaml:3: check a: unknown kind") {
		t.Errorf("err = %v", err)
	}
}

// modelColumns reads the "-- column NAME:" headers of the shipped models.
func modelColumns(t *testing.T) map[string][]string {
	t.Helper()
	files, err := filepath.Glob("../transform/models/*/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("models: %v", err)
	}
	re := regexp.MustCompile(`(?m)^-- column ([A-Za-z0-9_]+):`)
	out := map[string][]string{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(filepath.Dir(f)) + "." + strings.TrimSuffix(filepath.Base(f), ".sql")
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			out[name] = append(out[name], m[1])
		}
	}
	return out
}

// bronzeColumns returns the Bronze tables' columns (the source contract plus
// the lineage columns ingest adds) and their DDL.
func bronzeColumns() (map[string][]string, []string) {
	out := map[string][]string{}
	ddl := []string{"CREATE SCHEMA bronze"}
	lineage := []string{ingest.ColSourceFile + " VARCHAR", ingest.ColSourceLine + " BIGINT", ingest.ColRunID + " VARCHAR", ingest.ColIngestedAt + " TIMESTAMPTZ"}
	for _, tb := range olist.Tables() {
		name := "bronze." + tb.Name
		var cols []string
		for _, c := range tb.Columns {
			out[name] = append(out[name], c.Name)
			cols = append(cols, Ident(c.Name)+" "+c.Type.SQL())
		}
		out[name] = append(out[name], ingest.ColSourceFile, ingest.ColSourceLine, ingest.ColRunID, ingest.ColIngestedAt)
		ddl = append(ddl, fmt.Sprintf("CREATE TABLE %s (%s)", TableRef(name), strings.Join(append(cols, lineage...), ", ")))
	}
	return out, ddl
}

// knownColumns is what a pipeline validates the suites against: the models'
// documented columns and Bronze.
func knownColumns(t *testing.T) map[string][]string {
	out := modelColumns(t)
	bronze, _ := bronzeColumns()
	for k, v := range bronze {
		out[k] = v
	}
	return out
}

// The default suites load, validate against the models' documented columns,
// have a schema check that matches those columns exactly, carry a "why"
// comment per check, and compile and run on empty tables of the contract's
// types (so every expression binds in DuckDB).
func TestDefaultSuites(t *testing.T) {
	t.Parallel()
	suites, err := LoadSuites("")
	if err != nil {
		t.Fatal(err)
	}
	schemas := modelColumns(t)
	if err := Validate(suites, knownColumns(t)); err != nil {
		t.Fatal(err)
	}
	if len(suites) != len(schemas) {
		t.Errorf("%d suites for %d models", len(suites), len(schemas))
	}
	_, ddl := bronzeColumns()
	for _, layer := range []string{"silver", "gold"} {
		ddl = append(ddl, "CREATE SCHEMA "+layer)
	}
	for _, s := range suites {
		sc, ok := s.Check("schema")
		if !ok || sc.Kind != KindSchema {
			t.Errorf("%s: no schema check", s.Table)
			continue
		}
		var want, got []string
		want = append(want, schemas[s.Table]...)
		var cols []string
		for c, typ := range sc.Expect {
			got = append(got, c)
			cols = append(cols, Ident(c)+" "+typ)
		}
		sort.Strings(want)
		sort.Strings(got)
		sort.Strings(cols)
		if strings.Join(want, ",") != strings.Join(got, ",") {
			t.Errorf("%s: schema check columns\n%v\nmodel columns\n%v", s.Table, got, want)
		}
		ddl = append(ddl, fmt.Sprintf("CREATE TABLE %s (%s)", TableRef(s.Table), strings.Join(cols, ", ")))
		for _, c := range s.Checks {
			if c.Description == "" {
				t.Errorf("%s: check %s has no description", c.Pos(), c.ID)
			}
		}
	}
	// Every check has a "# why" comment on its line or in the lines above.
	files, _ := filepath.Glob("suites/*.yaml")
	for _, f := range files {
		src, _ := os.ReadFile(f)
		lines := strings.Split(string(src), "\n")
		for i, l := range lines {
			if !strings.HasPrefix(strings.TrimSpace(l), "- id:") {
				continue
			}
			found := strings.Contains(l, "# why")
			for j := i - 1; j >= 0 && !found && strings.HasPrefix(strings.TrimSpace(lines[j]), "#"); j-- {
				found = strings.Contains(lines[j], "# why")
			}
			if !found {
				t.Errorf("%s:%d: check without a '# why' comment", f, i+1)
			}
		}
	}
	db := openDB(t, ddl...)
	ctx := context.Background()
	for _, s := range suites {
		rel := TableRef(s.Table)
		res, err := func() ([]Result, error) {
			if err := Annotate(ctx, db, s, rel, "_a"); err != nil {
				return nil, err
			}
			return Evaluate(ctx, db, s, "_a", rel, "", nil)
		}()
		if err != nil {
			t.Errorf("%s: %v", s.Table, err)
			continue
		}
		for _, r := range res {
			if r.Kind == KindSchema && r.Verdict != VerdictPass {
				t.Errorf("%s: %s", s.Table, r.Observed)
			}
		}
	}
}

// The compiled annotation of the default silver.orders suite.
func TestAnnotateGolden(t *testing.T) {
	t.Parallel()
	suites, err := LoadSuites("")
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(suites, knownColumns(t)); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"silver.orders", "silver.order_items"} {
		var s *Suite
		for _, x := range suites {
			if x.Table == table {
				s = x
			}
		}
		got, err := AnnotateSQL(s, "_stage")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", table+".annotate.sql")
		if *update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got != string(want) {
			t.Errorf("%s: compiled SQL differs from %s (go test -run TestAnnotateGolden -update):\n%s", table, path, got)
		}
	}
}

// The gates' extra dependencies (FK targets, reconcile and row_count tables)
// form no cycle, so an executor can order them.
func TestDefaultSuiteDependenciesAcyclic(t *testing.T) {
	t.Parallel()
	suites, err := LoadSuites("")
	if err != nil {
		t.Fatal(err)
	}
	deps := map[string][]string{}
	for _, s := range suites {
		deps[s.Table] = s.Dependencies()
	}
	if got := strings.Join(deps["silver.order_items"], ","); got != "silver.orders,silver.products,silver.sellers,bronze.order_items" {
		t.Errorf("silver.order_items depends on %s", got)
	}
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(string, []string)
	visit = func(n string, path []string) {
		switch state[n] {
		case 1:
			t.Fatalf("cycle: %s -> %s", strings.Join(path, " -> "), n)
		case 2:
			return
		}
		state[n] = 1
		for _, d := range deps[n] {
			visit(d, append(path, n))
		}
		state[n] = 2
	}
	for n := range deps {
		visit(n, nil)
	}
}

// whyOf returns the "# why" comment of the check defined at line (1-based) of
// lines: on the line itself or in the comment block right above it.
func whyOf(lines []string, line int) string {
	if i := strings.Index(lines[line-1], "# why"); i >= 0 {
		return lines[line-1][i:]
	}
	var block []string
	for j := line - 2; j >= 0 && strings.HasPrefix(strings.TrimSpace(lines[j]), "#"); j-- {
		block = append([]string{strings.TrimSpace(lines[j])}, block...)
	}
	for i, l := range block {
		if strings.HasPrefix(l, "# why") {
			return strings.Join(block[i:], " ")
		}
	}
	return ""
}

// Every rule that takes rows out of the flow says which of the DESIGN.md
// reasons it applies: no key, duplicate key, orphan, unparseable, impossible
// amount. "(guard)" is accepted only for a rule that can never quarantine: an
// error with max_failed_ratio 0 blocks the publish on its first failing row.
func TestQuarantineRulesSayWhy(t *testing.T) {
	t.Parallel()
	suites, err := LoadSuites("")
	if err != nil {
		t.Fatal(err)
	}
	why := regexp.MustCompile(`^# why \((no key|duplicate key|orphan|unparseable|impossible amount|guard)\): `)
	files := map[string][]string{}
	quarantining := 0
	for _, s := range suites {
		for _, c := range s.Checks {
			lines, ok := files[c.File]
			if !ok {
				src, err := os.ReadFile(c.File)
				if err != nil {
					t.Fatal(err)
				}
				lines = strings.Split(string(src), "\n")
				files[c.File] = lines
			}
			w := whyOf(lines, c.Line)
			m := why.FindStringSubmatch(w)
			if !c.Quarantine() {
				if m != nil {
					t.Errorf("%s: check %s keeps its rows but its why names a reason to quarantine: %s", c.Pos(), c.ID, w)
				}
				continue
			}
			quarantining++
			switch {
			case m == nil:
				t.Errorf("%s: quarantining check %s: its why must start with the reason, e.g. \"# why (orphan): \"; got %q", c.Pos(), c.ID, w)
			case m[1] == "guard" && (c.Severity != SeverityError || c.MaxFailedRatio == nil || *c.MaxFailedRatio != 0):
				t.Errorf("%s: check %s is a (guard) but can quarantine rows: it needs severity error and max_failed_ratio 0", c.Pos(), c.ID)
			}
		}
	}
	if quarantining < 50 {
		t.Errorf("only %d quarantining checks found: is the why lookup broken?", quarantining)
	}
}
