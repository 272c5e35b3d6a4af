package docgen

import (
	"strings"
	"testing"

	"github.com/keystone/nexus/internal/engine"
)

func TestMarkdownTable(t *testing.T) {
	s := func(v string) *string { return &v }
	res := &engine.Result{
		Columns: []string{"name", "count", "share"},
		Types:   []string{"VARCHAR", "BIGINT", "DOUBLE"},
		Rows:    [][]*string{{s("bed_bath_table"), s("1,234"), s("10.00%")}, {s("a|b"), nil, s("1.00%")}, {s("c"), s("1"), s("0.50%")}},
	}
	for _, tc := range []struct {
		name string
		n    int
		cols []string
		want string // "" = an error
	}{
		{"all columns, numbers right-aligned, markup escaped", 0, nil,
			"| name | count | share |\n|---|---:|---:|\n| bed\\_bath\\_table | 1,234 | 10.00% |\n| a\\|b |  | 1.00% |\n| c | 1 | 0.50% |\n"},
		{"columns picked and ordered, rows limited", 1, []string{"share", "name"},
			"| share | name |\n|---:|---|\n| 10.00% | bed\\_bath\\_table |\n"},
		{"unknown column", 0, []string{"nope"}, ""},
	} {
		got, err := markdownTable(res, tc.n, tc.cols...)
		switch {
		case tc.want == "" && (err == nil || !strings.Contains(err.Error(), `no column "nope"`)):
			t.Errorf("%s: err %v, want no column", tc.name, err)
		case tc.want != "" && (err != nil || got != tc.want):
			t.Errorf("%s: %v\n%s\nwant\n%s", tc.name, err, got, tc.want)
		}
	}
}
