package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keystone/nexus/internal/catalog"
	"github.com/keystone/nexus/internal/lake"
)

func newCatalogCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "catalog", Short: "What other query engines (Athena, Glue) need to read the lake",
		// A subcommand it does not have is an error (exit 1), not its help.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return fmt.Errorf("nexus catalog: which? ddl, sync or cost (see --help)")
		}}
	cmd.AddCommand(newCatalogDDLCmd(a), newCatalogSyncCmd(a), newCatalogCostCmd(a))
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
default the --lake s3:// URL). A local lake whose incremental builds marked
rows deleted (instead of rewriting big files) is refused, naming the tables:
Athena reads files whole and would count those rows; 'nexus transform
--full-refresh' rewrites them without.`,
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
			lk, tables, err := a.catalogTables(database, location)
			if err != nil {
				return err
			}
			fmt.Printf("-- Athena DDL of %s (snapshot %d), database %s, at %s\n", lk.Location(), lk.SnapshotID(), database, location)
			fmt.Printf("CREATE DATABASE IF NOT EXISTS `%s`;\n\n", database)
			for _, t := range tables {
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

// catalogTables opens the lake and gives the DDL inputs of its tables,
// sorted, with the model headers' documentation.
func (a *app) catalogTables(database, location string) (*lake.Lake, []catalog.TableDDL, error) {
	if location == "" {
		if !lake.IsRemote(a.cfg.Lake) {
			return nil, nil, fmt.Errorf("--location-prefix s3://bucket/prefix is required for a local lake: where the lake is on S3")
		}
		location = a.cfg.Lake
	}
	if _, err := lake.ParseS3(location); err != nil {
		return nil, nil, fmt.Errorf("--location-prefix: %w", err)
	}
	lk, err := a.openLake()
	if err != nil {
		return nil, nil, err
	}
	docs, err := catalog.ModelDocs("")
	if err != nil {
		return nil, nil, err
	}
	tables, err := catalog.TablesOf(lk, database, location, docs)
	if err != nil {
		return nil, nil, err
	}
	sort.Slice(tables, func(i, j int) bool {
		return catalog.AthenaName(tables[i].Manifest) < catalog.AthenaName(tables[j].Manifest)
	})
	return lk, tables, nil
}

func newCatalogSyncCmd(a *app) *cobra.Command {
	var database, location, endpoint string
	var useGlue bool
	cmd := &cobra.Command{
		Use:   "sync --glue",
		Short: "Create or update the Glue tables of the current snapshot (Athena reads them)",
		Long: `Create the Glue database when missing, then every table Glue lacks, and update
every table whose version moved (its location is the new version's symlink
manifests): after it, Athena reads the snapshot the lake had when it ran. Run it
after each commit (the scheduler's flows can). Credentials and region: the
standard AWS chain (--s3-region, --s3-profile apply). It only reads the lake.
Tested against a local endpoint that checks the requests against the shapes
AWS documents; not run against AWS itself.`,
		Example: `  nexus catalog sync --glue --lake s3://my-bucket/olist --database analytics`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !useGlue {
				return fmt.Errorf("say which catalog: --glue")
			}
			lk, tables, err := a.catalogTables(database, location)
			if err != nil {
				return err
			}
			client, err := catalog.NewGlueClient(a.context(), a.remote.S3.Region, a.remote.S3.Profile, endpoint)
			if err != nil {
				return err
			}
			res, err := catalog.Sync(a.context(), client, database, "The Olist lakehouse at "+lk.Location(), tables)
			for _, r := range res {
				switch r.Action {
				case catalog.SyncUpdated:
					fmt.Printf("%-40s updated: version %d -> %d\n", database+"."+r.Table, r.From, r.To)
				default:
					fmt.Printf("%-40s %s (version %d)\n", database+"."+r.Table, r.Action, r.To)
				}
			}
			if err != nil {
				return err
			}
			fmt.Printf("glue database %s: %d table(s) of snapshot %d of %s\n", database, len(res), lk.SnapshotID(), lk.Location())
			return nil
		},
	}
	cmd.Flags().BoolVar(&useGlue, "glue", false, "the AWS Glue Data Catalog")
	cmd.Flags().StringVar(&database, "database", "nexus", "the Glue database of the tables")
	cmd.Flags().StringVar(&location, "location-prefix", "", "s3://bucket/prefix where the lake is (default: --lake when it is s3://)")
	cmd.Flags().StringVar(&endpoint, "glue-endpoint", "", "the URL of the Glue API (default AWS's for the region)")
	return cmd
}
