package olist

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// OutputState is what a directory holds before Generate writes into it.
type OutputState int

const (
	// OutputEmpty: none of the files Generate writes is there; nothing is lost.
	OutputEmpty OutputState = iota
	// OutputSame: the complete, unchanged data set these options generate.
	OutputSame
	// OutputOther: an unchanged data set of this generator with another
	// seed, scale or generator version; it can be generated again.
	OutputOther
	// OutputChanged: a generated data set whose files were changed, or
	// removed, since it was written.
	OutputChanged
	// OutputForeign: Olist files the generator did not write (real data?).
	OutputForeign
)

// Existing describes what a directory holds, for a command to decide whether
// it may overwrite it.
type Existing struct {
	State OutputState
	Desc  string // what is there, for a message ("another generated data set (scale 0.1, seed 42)")
}

// InspectOutput says what dir holds compared with the data set Generate would
// write there with opts. A directory that does not exist is OutputEmpty.
func InspectOutput(dir string, opts GenOptions) (Existing, error) {
	scale := opts.Scale
	if scale == 0 {
		scale = 1
	}
	var present []string
	for _, t := range Tables() {
		for _, name := range []string{t.File, t.File + ".gz"} {
			_, err := os.Stat(filepath.Join(dir, name))
			switch {
			case err == nil:
				present = append(present, name)
			case !errors.Is(err, fs.ErrNotExist):
				return Existing{}, fmt.Errorf("olist: inspect %s: %w", dir, err)
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, GeneratorManifestFile))
	if errors.Is(err, fs.ErrNotExist) {
		if len(present) == 0 {
			return Existing{State: OutputEmpty}, nil
		}
		return Existing{State: OutputForeign, Desc: "Olist files that the generator did not write (" + listNames(present) + ")"}, nil
	}
	if err != nil {
		return Existing{}, fmt.Errorf("olist: inspect %s: %w", dir, err)
	}
	var meta metaDoc
	if err := json.Unmarshal(b, &meta); err != nil || len(meta.Files) == 0 {
		return Existing{State: OutputForeign, Desc: "an unreadable " + GeneratorManifestFile + " beside " + listNames(present)}, nil
	}
	what := fmt.Sprintf("generated data set (scale %g, seed %d)", meta.Scale, meta.Seed)
	if meta.Version != GeneratorVersion {
		what = fmt.Sprintf("generated data set (scale %g, seed %d, generator version %s)", meta.Scale, meta.Seed, meta.Version)
	}
	// Sizes are a cheap check that the files are the ones generated: an edit
	// or a truncation changes them, and hashing a large data set is not cheap.
	written := map[string]bool{}
	for _, f := range meta.Files {
		written[f.File] = true
		st, err := os.Stat(filepath.Join(dir, f.File))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return Existing{State: OutputChanged, Desc: "a " + what + " whose " + f.File + " was removed"}, nil
		case err != nil:
			return Existing{}, fmt.Errorf("olist: inspect %s: %w", dir, err)
		case st.Size() != f.Bytes:
			return Existing{State: OutputChanged, Desc: fmt.Sprintf("a %s whose %s was changed (%d bytes, %d generated)", what, f.File, st.Size(), f.Bytes)}, nil
		}
	}
	for _, p := range present {
		if !written[p] {
			return Existing{State: OutputChanged, Desc: "a " + what + " beside " + p + ", which the generator did not write"}, nil
		}
	}
	if meta.Version == GeneratorVersion && meta.Seed == opts.Seed && meta.Scale == scale {
		return Existing{State: OutputSame, Desc: "the " + what}, nil
	}
	return Existing{State: OutputOther, Desc: "another " + what}, nil
}

// listNames names the first files of a list and counts the others.
func listNames(names []string) string {
	if len(names) <= 2 {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s, %s and %d more", names[0], names[1], len(names)-2)
}
