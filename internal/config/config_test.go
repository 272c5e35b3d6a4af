package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keystone/nexus/internal/schedule"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "nexus.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The schedule section overrides only what it names; the rest keeps the
// defaults, down to nested keys.
func TestScheduleSection(t *testing.T) {
	c, err := Load(write(t, `
schedule:
  cron: "*/5 * * * *"
  retry_backoff: 5s
  sensor:
    mode: marker
  jobs:
    - name: a
      task: ingest
    - name: b
      task: transform
      retries: 1
      timeout: 10m
`), false)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Schedule
	def := schedule.Default()
	if s.Cron != "*/5 * * * *" || s.RetryBackoff.D() != 5*time.Second || s.Sensor.Mode != schedule.SensorMarker {
		t.Errorf("set keys: %+v", s)
	}
	if s.Timezone != def.Timezone || s.Sensor.StableFor != def.Sensor.StableFor || s.Sensor.Marker != def.Sensor.Marker || s.Retries != def.Retries {
		t.Errorf("defaults lost: %+v", s)
	}
	if len(s.Jobs) != 2 || *s.Jobs[1].Retries != 1 || s.Jobs[1].Timeout.D() != 10*time.Minute || s.Jobs[0].Retries != nil {
		t.Errorf("jobs: %+v", s.Jobs)
	}
	if _, err := s.Compile(); err != nil {
		t.Errorf("compile: %v", err)
	}
}

func TestScheduleSectionErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"schedule:\n  crn: x\n", "crn"},
		{"schedule:\n  retry_backoff: soon\n", "write e.g. 30s"},
	} {
		_, err := Load(write(t, tc.body), false)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.body, err, tc.want)
		}
	}
}

// The README's configuration example is the defaults, so it cannot drift
// from them.
func TestReadmeConfigIsTheDefault(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "## Configuration")
	if !ok {
		t.Fatal("README has no Configuration section")
	}
	_, rest, ok = strings.Cut(rest, "```yaml\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no yaml block in the Configuration section")
	}
	c, err := Load(write(t, block), false)
	if err != nil {
		t.Fatalf("README example: %v", err)
	}
	if got, want := fmt.Sprintf("%+v", c), fmt.Sprintf("%+v", Default()); got != want {
		t.Errorf("README example differs from the defaults:\n got %s\nwant %s", got, want)
	}
}
