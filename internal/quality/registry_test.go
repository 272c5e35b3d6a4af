package quality

import (
	"slices"
	"strings"
	"testing"
)

// The reference renders every kind with an example that parses as a check
// of its kind and compiles. (docs/quality_checks.md is compared with it by
// internal/docgen's drift test.)
func TestReferenceExamples(t *testing.T) {
	t.Parallel()
	ref, err := Reference()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Kinds() {
		if !strings.Contains(ref, "\n### "+string(k.Kind)+"\n") {
			t.Errorf("kind %s: no section", k.Kind)
		}
		s, err := ExampleSuite(k.Example)
		if err != nil {
			t.Errorf("kind %s: example: %v", k.Kind, err)
			continue
		}
		if len(s.Checks) != 1 || s.Checks[0].Kind != k.Kind {
			t.Errorf("kind %s: example is %d checks of kind %v", k.Kind, len(s.Checks), s.Checks)
			continue
		}
		rel, built := ExampleRelations(s.Table)
		c, err := Compile(s, s.Checks[0], rel, built)
		if err != nil {
			t.Errorf("kind %s: %v", k.Kind, err)
		}
		if c.Level != k.Level || (c.Level == LevelRow) != (c.Fail != "") || c.Query == "" {
			t.Errorf("kind %s: compiled %+v", k.Kind, c)
		}
	}
}

// Every kind and field is documented, and every field of a suite check is
// either common or belongs to at least one kind: no field the loader would
// accept without saying what it does.
func TestRegistryDocumented(t *testing.T) {
	t.Parallel()
	used := map[string]bool{}
	for _, f := range CommonFields() {
		used[f.Name] = true
		if f.Doc == "" || f.Type == "" {
			t.Errorf("common field %s: no doc or type", f.Name)
		}
	}
	for _, k := range Kinds() {
		if k.Doc == "" {
			t.Errorf("kind %s: no doc", k.Kind)
		}
		if k.Level != LevelRow && k.Level != LevelTable {
			t.Errorf("kind %s: level %q", k.Kind, k.Level)
		}
		seen := map[string]bool{}
		for _, f := range k.Fields {
			if seen[f.Name] {
				t.Errorf("kind %s: field %s listed twice", k.Kind, f.Name)
			}
			seen[f.Name] = true
			used[f.Name] = true
			if f.Doc == "" || f.Type == "" {
				t.Errorf("kind %s: field %s: no doc or type", k.Kind, f.Name)
			}
		}
	}
	for name := range yamlTypes() {
		if !used[name] {
			t.Errorf("Check field %s belongs to no kind", name)
		}
	}
}

// Kinds returns a copy: a caller cannot change the registry.
func TestKindsReadOnly(t *testing.T) {
	t.Parallel()
	a := Kinds()
	a[0].Fields[0].Name = "changed"
	a[0].Kind = "changed"
	b := Kinds()
	if b[0].Kind == "changed" || b[0].Fields[0].Name == "changed" {
		t.Fatal("Kinds exposes the registry")
	}
}

// The parser enforces what the registry says: each kind rejects the fields
// it does not list and requires the ones it marks required.
func TestParseFollowsRegistry(t *testing.T) {
	t.Parallel()
	// A valid value of each field, and, per kind, a minimal valid check.
	values := map[string]string{
		"column": "x", "columns": "[x, y]", "values": "[a]", "min": "0", "max": "1", "exclusive": "true",
		"pattern": "'[a-z]+'", "to": "silver.t", "field": "x", "expr": "x > 0", "message": "bad", "where": "x > 0",
		"on_fail": "keep", "max_failed_ratio": "0.5", "nulls": "[y]", "min_rows": "1", "max_rows": "2",
		"relative_to": "silver.t", "min_ratio": "0.5", "max_ratio": "2", "expect": "{x: INTEGER}", "ignore": "[y]",
		"max_age": "'1 day'", "reference": "now()", "to_expr": "count(*)", "to_where": "x > 0", "tolerance": "0",
		"include_quarantined": "true", "to_distinct": "true",
	}
	minimal := map[Kind]string{
		KindNotNull: "column: x", KindUnique: "column: x", KindAcceptedValues: "column: x\n    values: [a]",
		KindBetween: "column: x\n    min: 0", KindRegex: "column: x\n    pattern: '[a-z]+'",
		KindRelationships: "column: x\n    to: silver.t", KindExpression: "expr: x > 0", KindRowCount: "min_rows: 1",
		KindSchema: "expect: {x: INTEGER}", KindFreshness: "column: x\n    max_age: '1 day'", KindReconcile: "expr: count(*)\n    to: silver.t",
	}
	parse := func(body string) error {
		_, err := ParseSuite("s.yaml", []byte("table: silver.orders\nchecks:\n  - id: a\n    "+body+"\n"))
		return err
	}
	var all []string
	for name := range yamlTypes() {
		all = append(all, name)
	}
	slices.Sort(all)
	for _, k := range Kinds() {
		base, ok := minimal[k.Kind]
		if !ok {
			t.Errorf("kind %s: no minimal check in this test", k.Kind)
			continue
		}
		if err := parse("kind: " + string(k.Kind) + "\n    " + base); err != nil {
			t.Errorf("kind %s: minimal check: %v", k.Kind, err)
		}
		allowed := map[string]bool{}
		for _, f := range k.Fields {
			allowed[f.Name] = true
			if !f.Required {
				continue
			}
			var kept []string
			for _, l := range strings.Split(base, "\n    ") {
				if !strings.HasPrefix(l, f.Name+":") {
					kept = append(kept, l)
				}
			}
			err := parse("kind: " + string(k.Kind) + "\n    " + strings.Join(kept, "\n    "))
			if want := "check a: kind " + string(k.Kind) + " needs " + f.Name; err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("kind %s without %s: error %v, want %q", k.Kind, f.Name, err, want)
			}
		}
		for _, name := range all {
			if allowed[name] || registry.common[name] {
				continue
			}
			v, ok := values[name]
			if !ok {
				t.Errorf("field %s: no value in this test", name)
				continue
			}
			err := parse("kind: " + string(k.Kind) + "\n    " + base + "\n    " + name + ": " + v)
			if want := "check a: " + name + " does not apply to kind " + string(k.Kind); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("kind %s with %s: error %v, want %q", k.Kind, name, err, want)
			}
		}
	}
}

// The gate materializes a model's rows once when a check reads them twice;
// the compilers say which do.
func TestReadsTwice(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		checks string
		want   bool
	}{
		{"  - {id: a, kind: not_null, column: x}\n  - {id: b, kind: expression, expr: x > 0}\n", false},
		{"  - {id: a, kind: relationships, column: x, to: main.u}\n", false},
		{"  - {id: a, kind: not_null, column: x}\n  - {id: b, kind: unique, columns: [x, y]}\n", true},
		{"  - {id: a, kind: row_count, min_rows: 1}\n", false},
	} {
		if got := suiteOf(t, tc.checks).readsTwice(false); got != tc.want {
			t.Errorf("%s: readsTwice = %v, want %v", tc.checks, got, tc.want)
		}
	}
}
