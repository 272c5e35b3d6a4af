// Package config reads nexus.yaml, the optional file of defaults. Nothing
// needs it: every value has a built-in default and every command flag wins
// over it.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/goccy/go-yaml"

	"github.com/keystone/nexus/internal/schedule"
)

// Config holds the defaults a project may set.
type Config struct {
	Lake        string  `yaml:"lake"`
	Source      string  `yaml:"source"`
	Scale       float64 `yaml:"scale"`
	Seed        int64   `yaml:"seed"`
	MemoryLimit string  `yaml:"memory_limit"`
	Threads     int     `yaml:"threads"`
	OnDrift     string  `yaml:"on_drift"`
	// Schedule is the operator's section (nexus scheduler): see
	// schedule.Config for its keys.
	Schedule schedule.Config `yaml:"schedule"`
	// Catalog: the catalogs every commit to a lake on S3 keeps in step.
	Catalog Catalog `yaml:"catalog"`
}

// Catalog is the catalog: section.
type Catalog struct {
	Glue GlueCatalog `yaml:"glue"`
}

// GlueCatalog: with a database, every commit to a lake on S3 creates or
// updates its tables in the AWS Glue Data Catalog (nexus catalog sync).
type GlueCatalog struct {
	Database string `yaml:"database"`
	// Endpoint replaces AWS's Glue API URL (a test endpoint).
	Endpoint string `yaml:"endpoint"`
}

// Default is the configuration with no file.
func Default() Config {
	return Config{
		Lake:        "lake",
		Source:      "data/generated",
		Scale:       0.1,
		Seed:        42,
		MemoryLimit: "4GB",
		OnDrift:     "fail",
		Schedule:    schedule.Default(),
	}
}

// Load reads path over the defaults. A missing file is fine when optional is
// true (the implicit ./nexus.yaml); unknown keys are errors with their line.
func Load(path string, optional bool) (Config, error) {
	c := Default()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && optional {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	if err := yaml.UnmarshalWithOptions(b, &c, yaml.Strict()); err != nil {
		return c, fmt.Errorf("config %s: %s", path, yaml.FormatError(err, false, true))
	}
	return c, nil
}
