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

// InspectOutput says what dir holds compared with the data set Generate
// (opts.DailyFrom empty) or the landing zone GenerateDaily would write there
// with opts. A directory that does not exist is OutputEmpty.
func InspectOutput(dir string, opts GenOptions) (Existing, error) {
	scale := opts.Scale
	if scale == 0 {
		scale = 1
	}
	present, err := olistFilesIn(dir)
	if err != nil {
		return Existing{}, fmt.Errorf("olist: inspect %s: %w", dir, err)
	}
	drops, err := dropDirs(dir)
	if err != nil {
		return Existing{}, fmt.Errorf("olist: inspect %s: %w", dir, err)
	}
	var inDrops []string // Olist files in dt= folders
	for _, d := range drops {
		files, err := olistFilesIn(filepath.Join(dir, d))
		if err != nil {
			return Existing{}, fmt.Errorf("olist: inspect %s: %w", dir, err)
		}
		for _, f := range files {
			inDrops = append(inDrops, d+"/"+f)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, GeneratorManifestFile))
	if errors.Is(err, fs.ErrNotExist) {
		all := append(present, inDrops...)
		if len(all) == 0 {
			return Existing{State: OutputEmpty}, nil
		}
		return Existing{State: OutputForeign, Desc: "Olist files that the generator did not write (" + listNames(all) + ")"}, nil
	}
	if err != nil {
		return Existing{}, fmt.Errorf("olist: inspect %s: %w", dir, err)
	}
	var meta struct {
		metaDoc
		DailyFrom string       `json:"daily_from"`
		Days      []landingDay `json:"days"`
	}
	if err := json.Unmarshal(b, &meta); err != nil || len(meta.Files) == 0 && len(meta.Days) == 0 {
		return Existing{State: OutputForeign, Desc: "an unreadable " + GeneratorManifestFile + " beside " + listNames(append(present, inDrops...))}, nil
	}
	landing := meta.DailyFrom != ""
	what := fmt.Sprintf("generated data set (scale %g, seed %d", meta.Scale, meta.Seed)
	if landing {
		what = fmt.Sprintf("generated landing zone (scale %g, seed %d, daily from %s", meta.Scale, meta.Seed, meta.DailyFrom)
	}
	if meta.Version != GeneratorVersion {
		what += ", generator version " + meta.Version
	}
	what += ")"
	// The size first (an edit or a truncation changes it, for free), then
	// the content's checksum (an edit that keeps the size).
	written := map[string]bool{}
	check := func(rel string, f metaFile) (Existing, bool, error) {
		written[rel] = true
		path := filepath.Join(dir, rel)
		st, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return Existing{State: OutputChanged, Desc: "a " + what + " whose " + rel + " was removed"}, true, nil
		case err != nil:
			return Existing{}, true, fmt.Errorf("olist: inspect %s: %w", dir, err)
		case st.Size() != f.Bytes:
			return Existing{State: OutputChanged, Desc: fmt.Sprintf("a %s whose %s was changed (%d bytes, %d generated)", what, rel, st.Size(), f.Bytes)}, true, nil
		case f.CRC32C == "":
			return Existing{}, false, nil
		}
		crc, err := fileCRC(path)
		if err != nil {
			return Existing{}, true, fmt.Errorf("olist: inspect %s: %w", dir, err)
		}
		if crc != f.CRC32C {
			return Existing{State: OutputChanged, Desc: fmt.Sprintf("a %s whose %s was changed (same size, other content: CRC32C %s, %s generated)", what, rel, crc, f.CRC32C)}, true, nil
		}
		return Existing{}, false, nil
	}
	if landing {
		for _, d := range meta.Days {
			for _, f := range d.Files {
				if ex, stop, err := check(d.Dir+"/"+f.File, f); stop {
					return ex, err
				}
			}
		}
	} else {
		for _, f := range meta.Files {
			if ex, stop, err := check(f.File, f); stop {
				return ex, err
			}
		}
	}
	for _, p := range append(present, inDrops...) {
		if !written[p] {
			return Existing{State: OutputChanged, Desc: "a " + what + " beside " + p + ", which the generator did not write"}, nil
		}
	}
	if meta.Version == GeneratorVersion && meta.Seed == opts.Seed && meta.Scale == scale && meta.DailyFrom == opts.DailyFrom {
		return Existing{State: OutputSame, Desc: "the " + what}, nil
	}
	return Existing{State: OutputOther, Desc: "another " + what}, nil
}

// olistFilesIn lists the Olist files (plain or .gz) in dir.
func olistFilesIn(dir string) ([]string, error) {
	var present []string
	for _, t := range Tables() {
		for _, name := range []string{t.File, t.File + ".gz"} {
			_, err := os.Stat(filepath.Join(dir, name))
			switch {
			case err == nil:
				present = append(present, name)
			case !errors.Is(err, fs.ErrNotExist):
				return nil, err
			}
		}
	}
	return present, nil
}

// dropDirs lists the dt= folders of dir, in name order.
func dropDirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), DropDirPrefix) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// staleSet is what publishing one layout (a flat data set, or a landing
// zone) removes of the other, so that a directory never holds both: the
// ingest reads a directory with dt= folders as a landing zone.
type staleSet struct {
	files []string // flat Olist files and side files
	dirs  []string // dt= folders
}

// findStale lists what publishing into dir removes: every dt= folder, and
// for a landing zone the flat data set's files. It fails, before anything is
// written, when a dt= folder holds something the generator does not write.
func findStale(dir string, landing bool) (staleSet, error) {
	var s staleSet
	if landing {
		present, err := olistFilesIn(dir)
		if err != nil {
			return s, fmt.Errorf("olist: %w", err)
		}
		for _, p := range append(present, PlantedFile) {
			if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
				s.files = append(s.files, filepath.Join(dir, p))
			}
		}
	}
	drops, err := dropDirs(dir)
	if err != nil {
		return s, fmt.Errorf("olist: %w", err)
	}
	generated := map[string]bool{PlantedFile: true}
	for _, t := range Tables() {
		generated[t.File], generated[t.File+".gz"] = true, true
	}
	for _, d := range drops {
		p := filepath.Join(dir, d)
		entries, err := os.ReadDir(p)
		if err != nil {
			return s, fmt.Errorf("olist: %w", err)
		}
		for _, e := range entries {
			if !generated[e.Name()] || e.IsDir() {
				return s, fmt.Errorf("olist: %s holds %s, which the generator does not write: move it away first", p, e.Name())
			}
		}
		s.dirs = append(s.dirs, p)
	}
	return s, nil
}

func (s staleSet) remove() error {
	for _, f := range s.files {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("olist: %w", err)
		}
	}
	for _, d := range s.dirs {
		if err := os.RemoveAll(d); err != nil {
			return fmt.Errorf("olist: %w", err)
		}
	}
	return nil
}

// listNames names the first files of a list and counts the others.
func listNames(names []string) string {
	if len(names) <= 2 {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s, %s and %d more", names[0], names[1], len(names)-2)
}
