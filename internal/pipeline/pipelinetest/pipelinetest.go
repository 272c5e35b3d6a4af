// Package pipelinetest builds the lakes tests read: a generated Olist data
// set run through the whole pipeline (its own package, so that pipeline's
// tests do not import it).
package pipelinetest

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/olist"
	"github.com/keystone/nexus/internal/pipeline"
)

// Build generates a data set with gen into dir/source, lets edit change
// its files (nil: none), and runs the pipeline on it into a new lake at
// dir/lake, which it returns open. A run with a failed step is an error.
func Build(ctx context.Context, dir string, gen olist.GenOptions, edit func(src string) error) (*lake.Lake, error) {
	src := filepath.Join(dir, "source")
	if _, err := olist.Generate(ctx, src, gen); err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	if edit != nil {
		if err := edit(src); err != nil {
			return nil, fmt.Errorf("edit the generated files: %w", err)
		}
	}
	lk, err := lake.Open(filepath.Join(dir, "lake"))
	if err != nil {
		return nil, err
	}
	sum, err := pipeline.Run(ctx, lk, pipeline.Options{SourceDir: src, Engine: engine.Options{MemoryLimit: "1GB"}})
	if err != nil {
		return nil, err
	}
	if err := sum.Err(); err != nil {
		return nil, fmt.Errorf("pipeline run: %w", err)
	}
	return lk, nil
}
