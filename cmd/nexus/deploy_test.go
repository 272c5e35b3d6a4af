package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The systemd unit in deploy/ passes systemd's own check, and its ExecStart
// is a command line this nexus accepts.
func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile(filepath.Join("..", "..", "deploy", "nexus-scheduler.service"))
	if err != nil {
		t.Fatal(err)
	}
	var exec0 string
	for _, line := range strings.Split(string(unit), "\n") {
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			exec0 = v
		}
	}
	args := strings.Fields(exec0)
	if len(args) < 2 || args[1] != "scheduler" {
		t.Fatalf("ExecStart = %q", exec0)
	}
	// The flags are this binary's: --help parses them first.
	cmd := exec.Command(nexusBin, append(args[1:], "--help")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nexus %s --help: %v\n%s", strings.Join(args[1:], " "), err, out)
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("NEXUS_REQUIRE_TOOLS") != "" {
			t.Fatal("systemd-analyze (Debian package systemd) is required (NEXUS_REQUIRE_TOOLS is set)")
		}
		t.Skip("systemd-analyze not installed (Debian package systemd): the unit file is not verified")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "nexus-scheduler.service")
	body := strings.Replace(string(unit), "ExecStart="+args[0], "ExecStart="+nexusBin, 1)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", p).CombinedOutput()
	if err != nil || strings.Contains(string(out), "nexus-scheduler.service") {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
