package main

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/keystone/nexus/internal/config"
)

// TestREADMEListsS3Commands: the README's list of the commands that take
// --lake s3://… is the one the binary enforces (it said that snapshots,
// rollback, vacuum, docs, the scheduler and runs refused it).
func TestREADMEListsS3Commands(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Lake on S3")
	if !ok {
		t.Fatal("README: no section \"## Lake on S3\"")
	}
	loc := regexp.MustCompile("take\\s+`--lake s3://bucket/prefix`").FindStringIndex(section)
	if loc == nil {
		t.Fatal("README's S3 section: no sentence \"… take `--lake s3://bucket/prefix`\"")
	}
	_, list, _ := strings.Cut(section[:loc[0]], "\n") // past the heading
	var readme []string
	for _, m := range regexp.MustCompile("`([a-z ]+)`").FindAllStringSubmatch(list, -1) {
		readme = append(readme, m[1])
	}
	want := slices.Sorted(slices.Values(s3Commands()))
	slices.Sort(readme)
	if !slices.Equal(readme, want) {
		t.Errorf("README lists %v\nthe binary takes s3:// in %v", readme, want)
	}
}

// TestHelpTexts: what `--help` says is what the command does.
func TestHelpTexts(t *testing.T) {
	var keys []string
	ct := reflect.TypeFor[config.Config]()
	for i := range ct.NumField() {
		if k, _, _ := strings.Cut(ct.Field(i).Tag.Get("yaml"), ","); k != "" && k != "-" {
			keys = append(keys, k)
		}
	}
	for _, tc := range []struct {
		args          []string
		want, notWant []string
	}{
		// Every top-level key of nexus.yaml (catalog was missing).
		{args: []string{"--help"}, want: []string{"keys: " + strings.Join(keys, ", ") + ")"}},
		// Its default is the schedule's ticks in 30 days, not 30.
		{args: []string{"catalog", "cost", "--help"}, want: []string{"the ticks of the schedule's cron in 30 days)\n"},
			notWant: []string{"30 days) (default 30)"}},
		// A user of the demo can meet the refusal of a source switch, or
		// the switch --daily makes.
		{args: []string{"demo", "--help"}, want: []string{"--daily on the lake the plain\ndemo built switches", "'nexus rollback N'",
			"The plain demo refuses\na lake that a landing zone fed", "--switch-source"}},
	} {
		out := nexus(t, t.TempDir(), false, tc.args...)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("nexus %s: no %q in\n%s", strings.Join(tc.args, " "), w, out)
			}
		}
		for _, w := range tc.notWant {
			if strings.Contains(out, w) {
				t.Errorf("nexus %s says %q", strings.Join(tc.args, " "), w)
			}
		}
	}
}

// TestRunsWithNoStore: with no run store, `nexus runs` says so; for a lake
// on S3 it says the store is this machine's, and names it, rather than "no
// runs yet" while the scheduler's machine has run cycles. Nothing is
// created.
func TestRunsWithNoStore(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"s3", []string{"runs", "--lake", "s3://bucket/prefix", "--cache-dir", "cache", "--state-dir", "state"},
			[]string{"no runs recorded on this machine for s3://bucket/prefix", filepath.Join("state", "bucket", "prefix", "_nexus", "runs.db")}},
		{"s3 json", []string{"runs", "--lake", "s3://bucket/prefix", "--cache-dir", "cache", "--state-dir", "state", "--format", "json"}, []string{"[]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := nexus(t, dir, false, tc.args...)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("no %q in:\n%s", w, out)
				}
			}
			for _, d := range []string{"cache", "state"} {
				if _, err := os.Stat(filepath.Join(dir, d)); err == nil {
					t.Errorf("nexus runs created the %s directory", d)
				}
			}
		})
	}
}

// TestWritersNeedALake: a command that changes a lake but cannot make one
// refuses a --lake with no lake there (a typo) and creates nothing; vacuum
// and doctor --repair made an empty lake and said all was well.
func TestWritersNeedALake(t *testing.T) {
	for _, args := range [][]string{
		{"vacuum"},
		{"vacuum", "--keep", "3"},
		{"rollback", "1"},
		{"doctor", "--repair"},
		{"quarantine", "replay", "silver.orders"},
		{"transform"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			dir := t.TempDir()
			out := nexus(t, dir, true, append(args, "--lake", "typo")...)
			if !strings.Contains(out, "no lake at typo") {
				t.Errorf("nexus %s on no lake:\n%s", strings.Join(args, " "), out)
			}
			if _, err := os.Stat(filepath.Join(dir, "typo")); err == nil {
				t.Errorf("nexus %s made a lake at --lake typo", strings.Join(args, " "))
			}
		})
	}
}
