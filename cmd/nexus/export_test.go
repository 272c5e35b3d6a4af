package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExportCommands: `nexus export` writes its file from the nexus.yaml it
// reads (the tasks get that config back), with absolute paths for Airflow
// and the workspace's own for GitHub Actions, and writes nothing when the
// schedule cannot be exported.
func TestExportCommands(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "nexus.yaml")
	if err := os.WriteFile(cfg, []byte(`
source: landing
schedule:
  cron: "15 4 * * *"
  retries: 2
  jobs:
    - {name: pull, task: ingest}
    - {name: build, task: transform}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	paris := filepath.Join(dir, "paris.yaml")
	if err := os.WriteFile(paris, []byte("schedule:\n  timezone: Europe/Paris\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	out := filepath.Join(dir, "out")
	for _, tc := range []struct {
		name string
		args []string
		file string
		want []string
		err  string
	}{
		{"airflow", []string{"export", "airflow", "--config", cfg, "--lake", "lk", "--out", out, "--nexus-bin", "bin/nexus"}, "olist_resilient_pipeline.py",
			[]string{`dag_id="pull"`, `dag_id="build"`, `schedule="15 4 * * *"`, "retries=2,",
				abs("bin/nexus") + " trigger build --date {{", " --lake " + abs("lk") + " --source " + abs("landing") + " --config " + cfg + " --no-alerts --retries 0"}, ""},
		{"github-actions", []string{"export", "github-actions", "--config", cfg, "--lake", "lk", "--source", "data/drops", "--out", out}, "nexus-daily.yml",
			[]string{"cron: '15 4 * * *'", "NEXUS_LAKE: 'lk'", "NEXUS_SOURCE: 'data/drops'", "NEXUS_CONFIG: '" + cfg + "'", "  pull:\n", "      - pull\n", "RETRIES: '2'"}, ""},
		{"github-actions refuses a zone with daylight saving time", []string{"export", "github-actions", "--config", paris, "--out", filepath.Join(dir, "none")},
			"nexus-daily.yml", nil, "Europe/Paris changes its UTC offset"},
		{"--out is required", []string{"export", "airflow", "--config", cfg}, "", nil, `"out" not set`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := newRoot(&app{})
			root.SetArgs(tc.args)
			err := root.Execute()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one about %q", err, tc.err)
				}
				if _, err := os.Stat(filepath.Join(dir, "none")); !os.IsNotExist(err) {
					t.Errorf("a refused export left %s: %v", filepath.Join(dir, "none"), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(out, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("%s lacks %q", tc.file, w)
				}
			}
		})
	}
	// Nothing but the exports in the output directory (no temporary file).
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "nexus-daily.yml olist_resilient_pipeline.py" {
		t.Errorf("out holds %v", names)
	}
}
