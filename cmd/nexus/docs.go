package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/keystone/nexus/internal/docsite"
)

func newDocsCmd(a *app) *cobra.Command {
	var out, project string
	cmd := &cobra.Command{
		Use:   "docs --out DIR",
		Short: "Write the lake's documentation site: a page per table, lineage, checks, search",
		Long: `Write a static HTML site documenting the lake's current snapshot into DIR: one
page per table of every layer (description, grain, key, columns with types,
descriptions from the model headers and example values, the model's SQL, its
upstream and downstream and the lineage of each column, the checks with their
latest verdicts and links to the quarantined rows, freshness, rows and sizes per
snapshot, the runs that built it), a lineage page of the whole model graph and a
search over tables and columns. Nothing is loaded from the internet; open
DIR/index.html from disk. 'nexus serve' serves the same site at /docs.
It only reads the lake (a read-only lake works) and writes only into DIR.`,
		Example: `  nexus docs --out site
  xdg-open site/index.html`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("--out DIR is required: where to write the site")
			}
			lk, eng, err := a.openLakeEngine(cmd.Context())
			if err != nil {
				return err
			}
			defer eng.Close()
			if err := a.makeOut(out); err != nil {
				return err
			}
			site, err := docsite.Generate(cmd.Context(), lk, eng, docsite.Config{Name: filepath.Base(lk.Location()), Project: project})
			if err != nil {
				return err
			}
			if err := site.Write(out); err != nil {
				return err
			}
			fmt.Printf("wrote %d files of the docs of snapshot %d to %s (open %s)\n", len(site), lk.SnapshotID(), out, filepath.Join(out, "index.html"))
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory to write the site into (created when missing)")
	cmd.Flags().StringVar(&project, "project", "", "project directory with extra models and suites/*.yaml")
	return cmd
}
