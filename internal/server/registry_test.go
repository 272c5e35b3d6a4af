package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/keystone/nexus/internal/analytics"
	"github.com/keystone/nexus/internal/jsoneq"
)

// TestEveryAnalysisIsServedByItsName: each analysis of the registry is
// /api/NAME and answers what it computes, its parameters are validated with
// the registry's bounds, the dashboard bundle holds the dashboard's analyses
// under the same names, and the page is told which to ask for. (The routes
// used to be a list of their own with other names: /api/monthly,
// /api/products?n=, /api/geo, /api/reviews.)
func TestEveryAnalysisIsServedByItsName(t *testing.T) {
	ts := newTestServer(t, Options{})
	ctx := context.Background()
	for _, a := range analytics.Registry() {
		t.Run(a.Name, func(t *testing.T) {
			want, err := a.Run(ctx, testEng.DB(), analytics.Filter{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			wb, _ := json.Marshal(want)
			if got := body(t, ts.URL+"/api/"+a.Name, 200); !sameJSON(t, got, wb) {
				t.Errorf("/api/%s:\n%s\nwant (analytics):\n%s", a.Name, got, wb)
			}
			for _, p := range a.Params {
				for _, v := range []int{p.Min, p.Max} {
					args := analytics.Args{p.Name: v}
					want, err := a.Run(ctx, testEng.DB(), analytics.Filter{}, args)
					if err != nil {
						t.Fatal(err)
					}
					wb, _ := json.Marshal(want)
					path := "/api/" + a.Name + "?" + p.Name + "=" + strconv.Itoa(v)
					if got := body(t, ts.URL+path, 200); !sameJSON(t, got, wb) {
						t.Errorf("%s:\n%s\nwant:\n%s", path, got, wb)
					}
				}
				var e apiError
				get(t, ts, "/api/"+a.Name+"?"+p.Name+"="+strconv.Itoa(p.Max+1), 400, &e)
				if e.Param != p.Name || !strings.Contains(e.Error, strconv.Itoa(p.Max)) {
					t.Errorf("%s=%d: %+v", p.Name, p.Max+1, e)
				}
			}
			var e apiError
			get(t, ts, "/api/"+a.Name+"?no_such_param=1", 400, &e)
			if e.Param != "no_such_param" {
				t.Errorf("unknown parameter: %+v", e)
			}
		})
	}

	b := body(t, ts.URL+"/api/dashboard", 200)
	var bundle struct {
		Filter   json.RawMessage            `json:"filter"`
		Analyses map[string]json.RawMessage `json:"analyses"`
	}
	if err := json.Unmarshal(b, &bundle); err != nil {
		t.Fatal(err)
	}
	m := bundle.Analyses
	var want []string
	for _, a := range analytics.Select(analytics.InDashboard) {
		want = append(want, a.Name)
		if got := body(t, ts.URL+"/api/"+a.Name, 200); !sameJSON(t, got, m[a.Name]) {
			t.Errorf("/api/dashboard's %s differs from /api/%s", a.Name, a.Name)
		}
	}
	var got []string
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("/api/dashboard holds %v, want the dashboard's analyses %v", got, want)
	}

	// The page asks for the same names.
	page := string(body(t, ts.URL+"/", 200))
	for _, a := range analytics.Select(analytics.InDashboard) {
		if !strings.Contains(page, `{"name":"`+a.Name+`","title":"`+a.Title+`"}`) {
			t.Errorf("the page's boot data lacks %s", a.Name)
		}
	}

	// The former names are gone (the README says so); the 404 lists the new ones.
	for _, old := range []string{"monthly", "products", "categories", "geo", "reviews"} {
		var e apiError
		get(t, ts, "/api/"+old, 404, &e)
		if !strings.Contains(e.Error, "/api/monthly-sales") {
			t.Errorf("/api/%s: %q does not list the endpoints", old, e.Error)
		}
	}
}

func body(t *testing.T, url string, status int) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != status {
		t.Fatalf("GET %s: status %d, want %d: %s", url, resp.StatusCode, status, b)
	}
	return b
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	same, err := jsoneq.Approx(a, b)
	if err != nil {
		t.Fatal(err)
	}
	return same
}
