package ingest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// Reading a source stops as soon as its context is cancelled, even in the
// middle of a file (a long read must not outlive SIGTERM).
func TestSourceReadCancelled(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "big.csv")
	if err := os.WriteFile(p, bytes.Repeat([]byte("a,b,c\n"), 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var read atomic.Int64
	f, _, err := openRegular(p)
	if err != nil {
		t.Fatal(err)
	}
	closeOK(t, f)
	src, err := readSource(ctx, f, p, &read)
	if err != nil {
		t.Fatal(err)
	}
	closeOK(t, src)
	buf := make([]byte, 4096)
	if _, err := io.ReadFull(src, buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	n, err := io.Copy(io.Discard, src)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: %d bytes, err %v; want context.Canceled", n, err)
	}
	if total := read.Load(); total >= 6<<20 {
		t.Errorf("read the whole file (%d bytes) after cancellation", total)
	}
}

// A cancelled read is reported as the cancellation, not as a broken file.
func TestSourceOpenCancelled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, name := range []string{"plain.csv", "packed.csv.gz"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("\x1f\x8ba,b\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		f, _, err := openRegular(p)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err = readSource(ctx, f, p, nil)
		if cerr := f.Close(); cerr != nil {
			t.Fatal(cerr)
		}
		var fe *FileError
		if !errors.Is(err, context.Canceled) || errors.As(err, &fe) {
			t.Errorf("%s: %v (%T), want the cancellation", name, err, err)
		}
	}
}
