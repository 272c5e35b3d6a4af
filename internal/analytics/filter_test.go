package analytics

import (
	"errors"
	"strings"
	"testing"
)

// TestFilterValidation: the CLI and the API validate filters with the same
// functions; a state or category the lake has no sales of is an error naming
// the filter, never a silent table of zeros.
func TestFilterValidation(t *testing.T) {
	t.Parallel()
	db := shop().open(t)
	v, err := LoadFilterValues(bg, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.States) == 0 || len(v.Categories) == 0 {
		t.Fatalf("no filter values: %+v", v)
	}
	for _, tc := range []struct {
		name, from, to, state, category string
		param                           string // "" = accepted
	}{
		{"open", "", "", "", "", ""},
		{"known state, lower case", "", "", strings.ToLower(v.States[0]), "", ""},
		{"known category", "", "", "", v.Categories[0], ""},
		{"unknown state", "", "", "XX", "", "state"},
		{"unknown category", "", "", "", "health", "category"},
		{"bad date", "2017-13-01", "", "", "", "from"},
		{"reversed dates", "2018-01-02", "2018-01-01", "", "", "to"},
		{"long value is clipped", "", "", strings.Repeat("Z", 5000), "", "state"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ParseFilter(tc.from, tc.to, tc.state, tc.category)
			if err == nil {
				err = v.Check(f)
			}
			var fe *ParamError
			switch {
			case tc.param == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tc.param != "" && !errors.As(err, &fe):
				t.Fatalf("err = %v, want a *ParamError for %s", err, tc.param)
			case tc.param != "" && fe.Param != tc.param:
				t.Errorf("error names %q, want %q: %v", fe.Param, tc.param, err)
			case err != nil && len(err.Error()) > 1000 && tc.category == "":
				t.Errorf("error echoes too much (%d bytes)", len(err.Error()))
			}
		})
	}
}
