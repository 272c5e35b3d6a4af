package schedule

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/keystone/nexus/internal/ingest"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/olist"
)

// errSensorTimeout: a new folder was still incomplete when the sensor gave
// up. Transient: the next attempt looks again.
var errSensorTimeout = errors.New("landing zone folder still incomplete")

// waitForBatches is the ingestion's sensor: it waits until every batch folder
// up to date (all when date is empty) is complete, so that a half-copied
// folder is never ingested, and returns the folders it saw complete: the
// ingest takes those and no other (one that appears meanwhile waits for the
// next run). In stable mode every folder is looked at (a file added to an
// old folder must settle too; a settled folder costs a few stats); in marker
// mode the folders holding a file Bronze does not have yet need the marker.
// A directory of plain source files has no folders (landing is false).
func waitForBatches(ctx context.Context, env *Env, date string) (note string, ids []string, landing bool, err error) {
	batches, landing, err := ingest.DiscoverBatches(env.Source)
	if err != nil || !landing {
		return "", nil, false, err
	}
	var known map[string]bool
	if env.Sensor.Mode == SensorMarker {
		if known, err = ingestedFiles(ctx, env); err != nil {
			return "", nil, true, err
		}
	}
	var fresh []ingest.Batch
	ids = []string{} // set, even empty: the ingest takes these and no other
	for _, b := range batches {
		if date != "" && b.ID > date {
			continue
		}
		ids = append(ids, b.ID)
		if known == nil || hasNewFile(b, known) {
			fresh = append(fresh, b)
		}
	}
	note, err = waitForFolders(ctx, env, fresh)
	return note, ids, true, err
}

// hasNewFile reports whether a batch folder holds a file (not a marker or a
// hidden file) that Bronze does not hold.
func hasNewFile(b ingest.Batch, known map[string]bool) bool {
	entries, err := os.ReadDir(b.Dir)
	if err != nil {
		return true // looked at again by incomplete, which reports the error
	}
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_") {
			continue
		}
		if !known[ingest.BatchPrefix+b.ID+"/"+n] {
			return true
		}
	}
	return false
}

func waitForFolders(ctx context.Context, env *Env, fresh []ingest.Batch) (string, error) {
	if len(fresh) == 0 {
		return "", nil
	}
	s := env.Sensor
	start := time.Now()
	deadline := start.Add(s.Timeout.D())
	for {
		var waiting []string
		for _, b := range fresh {
			why, err := incomplete(b.Dir, s, time.Now())
			if err != nil {
				return "", err
			}
			if why != "" {
				waiting = append(waiting, ingest.BatchPrefix+b.ID+": "+why)
			}
		}
		if len(waiting) == 0 {
			if waited := time.Since(start); waited >= time.Second {
				return fmt.Sprintf("waited %s for %d new folder(s) to be complete", waited.Round(time.Second), len(fresh)), nil
			}
			return "", nil
		}
		if !time.Now().Before(deadline) {
			return "", fmt.Errorf("%w after %s: %s", errSensorTimeout, s.Timeout.D(), strings.Join(waiting, "; "))
		}
		env.logger().Info("waiting for landing zone folders", "incomplete", strings.Join(waiting, "; "))
		wait := min(s.PokeInterval.D(), time.Until(deadline))
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(wait):
		}
	}
}

// incomplete says why a batch folder is not complete yet ("" when it is).
func incomplete(dir string, s Sensor, now time.Time) (string, error) {
	if s.Mode == SensorMarker {
		_, err := os.Stat(filepath.Join(dir, s.Marker))
		switch {
		case err == nil:
			return "", nil
		case errors.Is(err, os.ErrNotExist):
			return "no " + s.Marker + " marker yet", nil
		default:
			return "", fmt.Errorf("sensor: %w", err)
		}
	}
	// Every entry counts, hidden ones too: a ".orders.csv.tmp" is a copy in
	// progress.
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("sensor: %w", err)
	}
	var young []string
	for _, e := range entries {
		info, err := e.Info()
		if errors.Is(err, os.ErrNotExist) {
			young = append(young, e.Name()) // renamed under us: in motion
			continue
		}
		if err != nil {
			return "", fmt.Errorf("sensor: %w", err)
		}
		if age := now.Sub(info.ModTime()); age < s.StableFor.D() {
			young = append(young, e.Name())
		}
	}
	if len(young) > 0 {
		sort.Strings(young)
		return fmt.Sprintf("%s changed less than %s ago", strings.Join(young, ", "), s.StableFor.D()), nil
	}
	return "", nil
}

// ingestedFiles is the set of landing-zone files ("dt=YYYY-MM-DD/name")
// that Bronze holds now.
func ingestedFiles(ctx context.Context, env *Env) (map[string]bool, error) {
	out := map[string]bool{}
	if !lake.IsRemote(env.Lake) && !lake.Exists(env.Lake) {
		return out, nil // no lake yet: every file is new
	}
	lk, release, err := env.open(ctx, false, true)
	if errors.Is(err, lake.ErrNoLake) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	defer release()
	for _, t := range olist.Tables() {
		m, err := lk.Manifest(lake.Bronze, t.Name)
		if errors.Is(err, lake.ErrNoTable) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, in := range m.Inputs {
			if in.Batch != "" {
				out[in.Name] = true
			}
		}
	}
	return out, nil
}
