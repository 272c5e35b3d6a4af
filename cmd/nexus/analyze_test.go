package main

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/keystone/nexus/internal/analytics"
	"github.com/keystone/nexus/internal/jsoneq"
)

// TestAnalysesOneNameCLIAndAPI: every analysis of the registry is
// `nexus analyze NAME` and /api/NAME of `nexus serve` (both the real binary),
// with the same answer, the same parameters and the same bounds. (The CLI
// and the server used to keep lists of their own, with other names and
// other defaults: monthly-sales was /api/monthly, top-products?n=...)
func TestAnalysesOneNameCLIAndAPI(t *testing.T) {
	lakeDir := buildTestLake(t)
	srv := startServe(t, lakeDir)
	dir := t.TempDir()
	analyze := func(wantFail bool, args ...string) string {
		t.Helper()
		return nexus(t, dir, wantFail, append([]string{"--lake", lakeDir, "analyze"}, args...)...)
	}
	api := func(path string) (int, []byte) {
		t.Helper()
		resp, err := http.Get(srv.base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b
	}
	same := func(what string, cli string, status int, body []byte) {
		t.Helper()
		if status != 200 {
			t.Fatalf("%s: API status %d: %s", what, status, body)
		}
		if ok, err := jsoneq.Approx([]byte(cli), body); err != nil || !ok {
			t.Errorf("%s: the CLI and the API differ (%v)\nCLI:\n%.2000s\nAPI:\n%.2000s", what, err, cli, body)
		}
	}

	list := analyze(false)
	help := analyze(false, "--help")
	flagsOf := map[string]bool{}
	for _, a := range analytics.Registry() {
		if !strings.Contains(list, "  "+a.Name+" ") || !strings.Contains(help, "  "+a.Name+" ") {
			t.Errorf("%s is not listed by 'nexus analyze' or its help", a.Name)
		}
		for _, p := range a.Params {
			flagsOf[p.Name] = true
		}
	}
	for _, a := range analytics.Registry() {
		t.Run(a.Name, func(t *testing.T) {
			code, body := api("/api/" + a.Name)
			same(a.Name, analyze(false, a.Name, "--format", "json"), code, body)
			code, body = api("/api/" + a.Name + "?state=SP&from=2017-03-01&to=2018-02-28")
			same(a.Name+" filtered", analyze(false, a.Name, "--format", "json", "--state", "SP", "--from", "2017-03-01", "--to", "2018-02-28"), code, body)
			takes := map[string]bool{}
			for _, p := range a.Params {
				takes[p.Name] = true
				v := strconv.Itoa(p.Min)
				code, body := api("/api/" + a.Name + "?" + p.Name + "=" + v)
				same(a.Name+" "+p.Name+"="+v, analyze(false, a.Name, "--format", "json", "--"+p.Name, v), code, body)
				over := strconv.Itoa(p.Max + 1)
				out := analyze(true, a.Name, "--"+p.Name, over)
				if code, body := api("/api/" + a.Name + "?" + p.Name + "=" + over); code != 400 ||
					!strings.Contains(out, "--"+p.Name+": ") || !strings.Contains(out, strconv.Itoa(p.Max)) {
					t.Errorf("%s=%s: CLI %q, API %d %s", p.Name, over, out, code, body)
				}
			}
			// A parameter of another analysis is refused by both.
			for name := range flagsOf {
				if takes[name] {
					continue
				}
				out := analyze(true, a.Name, "--"+name, "1")
				if code, body := api("/api/" + a.Name + "?" + name + "=1"); code != 400 || !strings.Contains(out, "--"+name+": not a parameter of "+a.Name) {
					t.Errorf("--%s on %s: CLI %q, API %d %s", name, a.Name, out, code, body)
				}
			}
		})
	}
	if out := analyze(true, "monthly"); !strings.Contains(out, "monthly-sales") {
		t.Errorf("an unknown name does not list the analyses: %q", out)
	}
}
