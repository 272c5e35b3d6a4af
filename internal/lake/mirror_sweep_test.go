package lake

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A mirror left by a killed command goes once past the grace; one a live
// handle holds, or one just made, stays.
func TestSweepMirrors(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-mirrorGrace - time.Minute)
	mk := func(name string, mod time.Time) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Join(p, "_nexus"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mod, mod); err != nil {
			t.Fatal(err)
		}
		return p
	}
	left := mk("lake-left", old)
	held := mk("lake-held", old)
	fresh := mk("lake-fresh", time.Now())
	lock, err := os.OpenFile(held+mirrorLockSuffix, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	sweepMirrors(dir, mirrorGrace)
	for p, want := range map[string]bool{left: false, held: true, fresh: true} {
		_, err := os.Stat(p)
		if got := err == nil; got != want {
			t.Errorf("%s kept = %v, want %v", filepath.Base(p), got, want)
		}
	}
	if _, err := os.Stat(left + mirrorLockSuffix); err == nil {
		t.Error("the removed mirror's lock file is left")
	}
}
