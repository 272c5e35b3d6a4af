package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keystone/nexus/internal/catalog"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/transform"
)

func newCatalogCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "catalog", Short: "What other query engines (Athena, Glue) need to read the lake"}
	cmd.AddCommand(newCatalogDDLCmd(a))
	return cmd
}

func newCatalogDDLCmd(a *app) *cobra.Command {
	var engine, database, location string
	cmd := &cobra.Command{
		Use:   "ddl",
		Short: "Print CREATE EXTERNAL TABLE statements for every published table (Athena)",
		Long: `Print, for every table of the current snapshot, the Athena statement that
reads it from S3: Parquet SerDe, columns typed from DuckDB's (docs/athena.md),
comments from the model headers, partitions projected (no MSCK REPAIR), and the
files read through symlink manifests, which a commit on s3:// writes under
_nexus/athena/ (a version's files may sit in earlier versions' directories).
It only reads the lake. --location-prefix is where the lake is on S3 (by
default the --lake s3:// URL).`,
		Example: `  nexus catalog ddl --lake s3://my-bucket/olist > olist.sql
  nexus catalog ddl --location-prefix s3://my-bucket/olist --database analytics`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if engine != "athena" {
				return fmt.Errorf("--engine %q: the engine is athena", engine)
			}
			if location == "" {
				if !lake.IsRemote(a.cfg.Lake) {
					return fmt.Errorf("--location-prefix s3://bucket/prefix is required for a local lake: where the lake is on S3")
				}
				location = a.cfg.Lake
			}
			if _, err := lake.ParseS3(location); err != nil {
				return fmt.Errorf("--location-prefix: %w", err)
			}
			lk, err := a.openLake()
			if err != nil {
				return err
			}
			ms, err := lk.Manifests()
			if err != nil {
				return err
			}
			models, err := transform.LoadModels("")
			if err != nil {
				return err
			}
			docs := map[string]*transform.Model{}
			for _, m := range models {
				docs[m.Name] = m
			}
			sort.Slice(ms, func(i, j int) bool { return ms[i].Layer+"."+ms[i].Table < ms[j].Layer+"."+ms[j].Table })
			fmt.Printf("-- Athena DDL of %s (snapshot %d), database %s, at %s\n", lk.Location(), lk.SnapshotID(), database, location)
			fmt.Printf("CREATE DATABASE IF NOT EXISTS `%s`;\n\n", database)
			for _, m := range ms {
				t := catalog.TableDDL{Database: database, Manifest: m, Location: location, Doc: m.Description, ColumnDocs: map[string]string{}}
				if md := docs[m.Layer+"."+m.Table]; md != nil {
					if md.Description != "" {
						t.Doc = md.Description
					}
					for _, c := range md.Columns {
						t.ColumnDocs[c.Name] = c.Description
					}
				}
				if t.Partitions, err = catalog.PartitionValues(m); err != nil {
					return err
				}
				ddl, err := catalog.AthenaDDL(t)
				if err != nil {
					return err
				}
				fmt.Println(strings.TrimSpace(ddl))
				fmt.Println()
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&engine, "engine", "athena", "the engine the statements are for")
	cmd.Flags().StringVar(&database, "database", "nexus", "the Glue database of the tables")
	cmd.Flags().StringVar(&location, "location-prefix", "", "s3://bucket/prefix where the lake is (default: --lake when it is s3://)")
	return cmd
}
