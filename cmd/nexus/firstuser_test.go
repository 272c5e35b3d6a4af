package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestFirstUserPaths walks what a first user tripped on, through the binary:
// each step failed before its fix (issue 8, section 5).
func TestFirstUserPaths(t *testing.T) {
	dir := t.TempDir()
	nexus(t, dir, false, "demo", "--scale", "0.02")
	// Clean generated data quarantines nothing: a project rule sends some
	// geolocation rows to quarantine, so that there are rows to show.
	suites := filepath.Join(dir, "project", "suites")
	if err := os.MkdirAll(suites, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(suites, "silver.geolocation.yaml"), []byte(`table: silver.geolocation
checks:
  - id: test_high_zip
    kind: expression
    expr: "zip_code_prefix < '99'"
    severity: warn
    description: quarantines the zip prefixes 99xxx (test)
`), 0o644); err != nil {
		t.Fatal(err)
	}
	nexus(t, dir, false, "run", "--source", filepath.Join("data", "generated"), "--project", "project")

	t.Run("static dashboard shows the run succeeded", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(dir, "lake", "_nexus", "reports", "dashboard", "dashboard.html"))
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`"last_run":\{[^}]*"status":"([a-z]*)"`).FindSubmatch(b)
		if m == nil || string(m[1]) != "succeeded" {
			t.Errorf("the exported dashboard's last run status = %q, want succeeded", m)
		}
	})
	t.Run("a narrow check keeps the other tables' verdicts", func(t *testing.T) {
		nexus(t, dir, false, "check", "--layer", "gold")
		nexus(t, dir, false, "report", "quality")
		b, err := os.ReadFile(filepath.Join(dir, "reports", "quality.html")) // not in the lake: a report only reads it
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "<h2>silver.geolocation") || !strings.Contains(string(b), "test_high_zip") {
			t.Error("after check --layer gold the quality report lost the Silver verdicts")
		}
	})
	t.Run("quarantine show prints readable failures", func(t *testing.T) {
		for _, format := range []string{"csv", "table"} {
			out := nexus(t, dir, false, "quarantine", "show", "silver_geolocation", "--format", format)
			if strings.Contains(out, "map[") || !strings.Contains(out, `"check_id"`) {
				t.Errorf("%s:\n%s", format, out)
			}
		}
	})
	t.Run("unknown filter values are errors", func(t *testing.T) {
		for _, args := range [][]string{{"--state", "XX"}, {"--category", "health"}} {
			out := nexus(t, dir, true, append([]string{"analyze", "kpis"}, args...)...)
			if !strings.Contains(out, args[0]) {
				t.Errorf("analyze kpis %v: %s", args, out)
			}
		}
	})
	t.Run("check prints a tally and snake_case JSON", func(t *testing.T) {
		out := nexus(t, dir, false, "check", "--table", "silver.sellers")
		if !regexp.MustCompile(`\d+ checks: \d+ passed, \d+ warnings, \d+ failed \(\d+ blocking\)`).MatchString(out) {
			t.Errorf("no tally:\n%s", out)
		}
		js := nexus(t, dir, false, "check", "--table", "silver.sellers", "--format", "json")
		if regexp.MustCompile(`"[A-Z][A-Za-z]*":`).MatchString(js) || !strings.Contains(js, `"check_id"`) {
			t.Errorf("json is not snake_case:\n%.600s", js)
		}
	})
	t.Run("tables hides empty quarantine tables", func(t *testing.T) {
		out := nexus(t, dir, false, "tables")
		all := nexus(t, dir, false, "tables", "--all")
		if strings.Contains(out, "quarantine.gold_dim_date") || !strings.Contains(all, "quarantine.gold_dim_date") ||
			!strings.Contains(out, "--all") {
			t.Errorf("tables:\n%s\ntables --all:\n%s", out, all)
		}
	})
	t.Run("monthly-sales prints no NULL and marks partial months", func(t *testing.T) {
		out := nexus(t, dir, false, "analyze", "monthly-sales")
		if strings.Contains(out, "NULL") || !strings.Contains(out, "partial") {
			t.Errorf("monthly-sales:\n%s", out)
		}
	})
}
