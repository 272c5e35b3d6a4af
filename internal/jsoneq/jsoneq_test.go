package jsoneq

import "testing"

func TestApprox(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{`{"a":[1,2,{"b":"x"}]}`, `{"a":[1,2,{"b":"x"}]}`, true},
		{`{"r":-0.2401922307076307}`, `{"r":-0.24019223070763077}`, true},
		{`{"r":13114503.5}`, `{"r":13114503.50000001}`, true},
		{`{"r":1}`, `{"r":1.001}`, false},
		{`{"a":1}`, `{"a":1,"b":2}`, false},
		{`{"a":1}`, `{"b":1}`, false},
		{`[1,2]`, `[2,1]`, false},
		{`[]`, `null`, false},
		{`"1"`, `1`, false},
	} {
		got, err := Approx([]byte(tc.a), []byte(tc.b))
		if err != nil || got != tc.want {
			t.Errorf("Approx(%s, %s) = %v, %v; want %v", tc.a, tc.b, got, err, tc.want)
		}
	}
	if _, err := Approx([]byte(`{`), []byte(`{}`)); err == nil {
		t.Error("bad JSON accepted")
	}
}
