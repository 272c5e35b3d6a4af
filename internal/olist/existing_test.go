package olist

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// copyDir copies the files of src into a fresh directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// InspectOutput tells generate and demo whether they may write into a
// directory: only an empty one or the same data set is safe without --force.
func TestInspectOutput(t *testing.T) {
	t.Parallel()
	gen, _ := generated(t, 0.01, 1)
	orders := "olist_orders_dataset.csv"
	tests := []struct {
		name    string
		prepare func(t *testing.T) string
		opts    GenOptions
		want    OutputState
		descHas string
	}{
		{name: "missing directory", prepare: func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") },
			want: OutputEmpty},
		{name: "unrelated files only", prepare: func(t *testing.T) string {
			d := t.TempDir()
			os.WriteFile(filepath.Join(d, "notes.txt"), []byte("x"), 0o644)
			return d
		}, want: OutputEmpty},
		{name: "same seed and scale", prepare: func(t *testing.T) string { return copyDir(t, gen) },
			opts: GenOptions{Scale: 0.01, Seed: 1}, want: OutputSame},
		{name: "other seed", prepare: func(t *testing.T) string { return copyDir(t, gen) },
			opts: GenOptions{Scale: 0.01, Seed: 2}, want: OutputOther, descHas: "another generated data set (scale 0.01, seed 1)"},
		{name: "other scale", prepare: func(t *testing.T) string { return copyDir(t, gen) },
			opts: GenOptions{Scale: 0.1, Seed: 1}, want: OutputOther},
		{name: "edited file", prepare: func(t *testing.T) string {
			d := copyDir(t, gen)
			f, _ := os.OpenFile(filepath.Join(d, orders), os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString("x\n")
			f.Close()
			return d
		}, opts: GenOptions{Scale: 0.01, Seed: 1}, want: OutputChanged, descHas: orders + " was changed"},
		{name: "file edited in place, same size", prepare: func(t *testing.T) string {
			d := copyDir(t, gen)
			sameSizeEdit(t, filepath.Join(d, orders))
			return d
		}, opts: GenOptions{Scale: 0.01, Seed: 1}, want: OutputChanged, descHas: orders + " was changed (same size, other content"},
		{name: "a manifest of an older version, without checksums", prepare: func(t *testing.T) string {
			d := copyDir(t, gen)
			m := filepath.Join(d, GeneratorManifestFile)
			b, err := os.ReadFile(m)
			if err != nil {
				t.Fatal(err)
			}
			old := regexp.MustCompile(`,\s*"crc32c": "[0-9a-f]{8}"`).ReplaceAll(b, nil)
			if bytes.Equal(old, b) {
				t.Fatal("no checksum in the manifest")
			}
			if err := os.WriteFile(m, old, 0o644); err != nil {
				t.Fatal(err)
			}
			return d
		}, opts: GenOptions{Scale: 0.01, Seed: 1}, want: OutputSame},
		{name: "removed file", prepare: func(t *testing.T) string {
			d := copyDir(t, gen)
			os.Remove(filepath.Join(d, orders))
			return d
		}, opts: GenOptions{Scale: 0.01, Seed: 1}, want: OutputChanged, descHas: orders + " was removed"},
		{name: "compressed file beside", prepare: func(t *testing.T) string {
			d := copyDir(t, gen)
			os.WriteFile(filepath.Join(d, orders+".gz"), []byte("x"), 0o644)
			return d
		}, opts: GenOptions{Scale: 0.01, Seed: 1}, want: OutputChanged, descHas: orders + ".gz"},
		{name: "real Olist files", prepare: func(t *testing.T) string {
			d := copyDir(t, gen)
			os.Remove(filepath.Join(d, GeneratorManifestFile))
			return d
		}, opts: GenOptions{Scale: 0.01, Seed: 1}, want: OutputForeign, descHas: "not write"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := InspectOutput(tc.prepare(t), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != tc.want || !strings.Contains(got.Desc, tc.descHas) {
				t.Errorf("got %+v, want state %d with %q", got, tc.want, tc.descHas)
			}
		})
	}
}

// sameSizeEdit changes one digit of the last line of the file at path: its
// size stays, its content does not (a typical hand edit of a value).
func sameSizeEdit(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.LastIndexAny(b, "0123456789")
	if i < 0 {
		t.Fatalf("no digit in %s", path)
	}
	b[i] = '0' + (b[i]-'0'+1)%10
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
