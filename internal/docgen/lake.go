package docgen

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/olist"
	"github.com/keystone/nexus/internal/pipeline"
)

// Sample is the data set the documents that need a built lake are made
// from: `nexus generate --scale 0.01 --seed 1`, small enough to build in a
// few seconds, and byte-identical on every machine.
var Sample = olist.GenOptions{Scale: 0.01, Seed: 1}

// buildLake generates Sample into a temporary directory and runs the whole
// pipeline over it (ingest, Silver, Gold, quality gates, no reports). The
// caller removes the directory (cleanup).
func buildLake(ctx context.Context, log *slog.Logger) (lk *lake.Lake, cleanup func(), err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, err := os.MkdirTemp("", "nexus-docgen-")
	if err != nil {
		return nil, nil, fmt.Errorf("docgen: sample lake: %w", err)
	}
	cleanup = func() {
		if err := os.RemoveAll(dir); err != nil {
			log.Warn("docgen: removing the sample lake", "dir", dir, "err", err)
		}
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	src := filepath.Join(dir, "data")
	if _, err := olist.Generate(ctx, src, Sample); err != nil {
		return nil, nil, fmt.Errorf("docgen: generate the sample data set: %w", err)
	}
	lk, err = lake.Open(filepath.Join(dir, "lake"))
	if err != nil {
		return nil, nil, fmt.Errorf("docgen: sample lake: %w", err)
	}
	sum, err := pipeline.Run(ctx, lk, pipeline.Options{SourceDir: src, Logger: log, Engine: engine.Options{MemoryLimit: "1GB", Threads: 2}})
	if err != nil {
		return nil, nil, fmt.Errorf("docgen: build the sample lake: %w", err)
	}
	if err := sum.Err(); err != nil {
		return nil, nil, fmt.Errorf("docgen: build the sample lake: %w", err)
	}
	return lk, cleanup, nil
}
