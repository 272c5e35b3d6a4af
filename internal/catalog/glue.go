package catalog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/glue/types"

	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/transform"
)

// Glue's names of the formats the DDL names.
const (
	parquetSerDe     = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
	symlinkInput     = "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"
	ignoreKeyOutput  = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
	versionParameter = "nexus.version"
)

// GlueTable is the Glue table input of a lake table: the same table as
// AthenaDDL writes, through the API.
func GlueTable(t TableDDL) (*types.TableInput, error) {
	props, cols, parts, loc, err := athenaParts(t)
	if err != nil {
		return nil, err
	}
	glueCols := func(cs []column) []types.Column {
		out := make([]types.Column, 0, len(cs))
		for _, c := range cs {
			gc := types.Column{Name: aws.String(c.name), Type: aws.String(c.typ)}
			if c.doc != "" {
				gc.Comment = aws.String(clip(c.doc, 255))
			}
			out = append(out, gc)
		}
		return out
	}
	params := map[string]string{"classification": "parquet", "EXTERNAL": "TRUE"}
	for _, p := range props {
		params[p[0]] = p[1]
	}
	in := &types.TableInput{
		Name:      aws.String(AthenaName(t.Manifest)),
		TableType: aws.String("EXTERNAL_TABLE"),
		StorageDescriptor: &types.StorageDescriptor{
			Columns:      glueCols(cols),
			Location:     aws.String(loc),
			InputFormat:  aws.String(symlinkInput),
			OutputFormat: aws.String(ignoreKeyOutput),
			SerdeInfo:    &types.SerDeInfo{SerializationLibrary: aws.String(parquetSerDe)},
		},
		PartitionKeys: glueCols(parts),
		Parameters:    params,
	}
	if t.Doc != "" {
		in.Description = aws.String(clip(t.Doc, 2048))
	}
	return in, nil
}

// clip shortens s to Glue's limit of n characters.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// GlueClient is what Sync needs of the Glue API (the SDK's client has it).
type GlueClient interface {
	GetDatabase(context.Context, *glue.GetDatabaseInput, ...func(*glue.Options)) (*glue.GetDatabaseOutput, error)
	CreateDatabase(context.Context, *glue.CreateDatabaseInput, ...func(*glue.Options)) (*glue.CreateDatabaseOutput, error)
	GetTable(context.Context, *glue.GetTableInput, ...func(*glue.Options)) (*glue.GetTableOutput, error)
	CreateTable(context.Context, *glue.CreateTableInput, ...func(*glue.Options)) (*glue.CreateTableOutput, error)
	UpdateTable(context.Context, *glue.UpdateTableInput, ...func(*glue.Options)) (*glue.UpdateTableOutput, error)
}

// SyncAction is what Sync did to a table.
type SyncAction string

const (
	SyncCreated   SyncAction = "created"
	SyncUpdated   SyncAction = "updated"
	SyncUnchanged SyncAction = "unchanged"
)

// SyncResult is one table's outcome.
type SyncResult struct {
	Table  string // the Glue table
	Action SyncAction
	From   int64 // the version Glue had (updated)
	To     int64
}

// Sync creates the database when missing, then creates every table Glue
// lacks and updates every table whose version moved: after it, Athena
// reads the snapshot the tables come from (their locations are its
// versions' manifest directories).
func Sync(ctx context.Context, c GlueClient, database, description string, tables []TableDDL) ([]SyncResult, error) {
	_, err := c.GetDatabase(ctx, &glue.GetDatabaseInput{Name: aws.String(database)})
	var nf *types.EntityNotFoundException
	switch {
	case errors.As(err, &nf):
		if _, err := c.CreateDatabase(ctx, &glue.CreateDatabaseInput{DatabaseInput: &types.DatabaseInput{
			Name: aws.String(database), Description: aws.String(description)}}); err != nil {
			return nil, fmt.Errorf("glue: create database %s: %w", database, err)
		}
	case err != nil:
		return nil, fmt.Errorf("glue: database %s: %w", database, err)
	}
	var out []SyncResult
	for _, t := range tables {
		in, err := GlueTable(t)
		if err != nil {
			return out, err
		}
		r := SyncResult{Table: aws.ToString(in.Name), To: t.Manifest.Version}
		got, err := c.GetTable(ctx, &glue.GetTableInput{DatabaseName: aws.String(database), Name: in.Name})
		switch {
		case errors.As(err, &nf):
			if _, err := c.CreateTable(ctx, &glue.CreateTableInput{DatabaseName: aws.String(database), TableInput: in}); err != nil {
				return out, fmt.Errorf("glue: create table %s.%s: %w", database, r.Table, err)
			}
			r.Action = SyncCreated
		case err != nil:
			return out, fmt.Errorf("glue: table %s.%s: %w", database, r.Table, err)
		default:
			had, _ := strconv.ParseInt(got.Table.Parameters[versionParameter], 10, 64) // none: 0, updated below
			r.From = had
			if had == t.Manifest.Version && aws.ToString(got.Table.StorageDescriptor.Location) == aws.ToString(in.StorageDescriptor.Location) {
				r.Action = SyncUnchanged
				break
			}
			if _, err := c.UpdateTable(ctx, &glue.UpdateTableInput{DatabaseName: aws.String(database), TableInput: in}); err != nil {
				return out, fmt.Errorf("glue: update table %s.%s: %w", database, r.Table, err)
			}
			r.Action = SyncUpdated
		}
		out = append(out, r)
	}
	return out, nil
}

// ErrDeletedRows: tables of the lake have files with rows marked deleted
// (File.Deleted), which Athena cannot skip.
var ErrDeletedRows = errors.New("rows marked deleted, which Athena would read")

// TablesOf are the DDL inputs of a lake's published tables.
func TablesOf(lk *lake.Lake, database, location string, docs map[string]ModelDoc) ([]TableDDL, error) {
	ms, err := lk.Manifests()
	if err != nil {
		return nil, err
	}
	if err := refuseDeletedRows(lk, ms); err != nil {
		return nil, err
	}
	var out []TableDDL
	for _, m := range ms {
		t := TableDDL{Database: database, Manifest: m, Location: location, Doc: m.Description, ColumnDocs: map[string]string{}}
		if d, ok := docs[m.Layer+"."+m.Table]; ok {
			if d.Description != "" {
				t.Doc = d.Description
			}
			t.ColumnDocs = d.Columns
		}
		if t.Partitions, err = PartitionValues(m); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// refuseDeletedRows fails when a table has rows marked deleted: an
// incremental build on a local lake marks the rows it replaces in a big
// file instead of writing the file again (merge on read; a lake on s3://
// never does). Athena reads the files the symlink manifests list whole,
// with no way to skip rows by position, so it would count each replaced
// row beside its new version. A full build writes the tables without any;
// the error names every such table and the command to run, on this lake.
func refuseDeletedRows(lk *lake.Lake, ms []*lake.Manifest) error {
	var held []string
	for _, m := range ms {
		var files, rows int
		for _, f := range m.Files {
			if len(f.Deleted) > 0 {
				files++
				rows += len(f.Deleted)
			}
		}
		if files > 0 {
			held = append(held, fmt.Sprintf("%s (%d row(s) in %d file(s))", m.Name(), rows, files))
		}
	}
	if len(held) == 0 {
		return nil
	}
	return fmt.Errorf("catalog: %d table(s) have %w: %s. Incremental builds on a local lake mark the rows they replace "+
		"instead of writing the files again, and Athena reads the files whole: it would count each replaced row beside its new version. "+
		"Rebuild the models in full first, which writes them without: nexus transform %s --full-refresh (then run this command again; "+
		"a later incremental run may mark rows again)", len(held), ErrDeletedRows, strings.Join(held, ", "), lk.Flag())
}

// ModelDocs are the model headers' descriptions of every model (the
// project's models over the embedded ones when projectDir is set).
func ModelDocs(projectDir string) (map[string]ModelDoc, error) {
	models, err := transform.LoadModels(projectDir)
	if err != nil {
		return nil, err
	}
	docs := map[string]ModelDoc{}
	for _, m := range models {
		d := ModelDoc{Description: m.Description, Columns: map[string]string{}}
		for _, c := range m.Columns {
			d.Columns[c.Name] = c.Description
		}
		docs[m.Name] = d
	}
	return docs, nil
}

// SyncLake brings the Glue tables of database in step with the snapshot
// lk is pinned to (its s3:// location): Sync of every published table.
func SyncLake(ctx context.Context, c GlueClient, lk *lake.Lake, database, projectDir string) ([]SyncResult, error) {
	docs, err := ModelDocs(projectDir)
	if err != nil {
		return nil, err
	}
	tables, err := TablesOf(lk, database, lk.Location(), docs)
	if err != nil {
		return nil, err
	}
	return Sync(ctx, c, database, "The Olist lakehouse at "+lk.Location(), tables)
}

// ModelDoc is what a model header says of a table.
type ModelDoc struct {
	Description string
	Columns     map[string]string
}

// NewGlueClient is a Glue client from the standard AWS chain; endpoint,
// when set, replaces AWS's.
func NewGlueClient(ctx context.Context, region, profile, endpoint string) (*glue.Client, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	if profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("glue: AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("glue: no AWS region (set --s3-region or AWS_REGION)")
	}
	return glue.NewFromConfig(cfg, func(o *glue.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}
