package catalog

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/glue"

	"github.com/keystone/nexus/internal/gluetest"
	"github.com/keystone/nexus/internal/lake"
)

// Sync against a Glue endpoint that checks the requests: the database and
// tables are created, a second sync changes nothing, a new version of one
// table moves its location and nothing else.
func TestGlueSync(t *testing.T) {
	fake, url := gluetest.Start(t)
	client := glue.New(glue.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")})
	fact := &lake.Manifest{Layer: "gold", Table: "fact_sales", Version: 12, Dir: "gold/fact_sales/v000012-r", PartitionBy: []string{"year", "month"},
		Schema: []lake.Column{{Name: "order_id", Type: "VARCHAR"}, {Name: "price", Type: "DECIMAL(12,2)"}, {Name: "month", Type: "BIGINT"}, {Name: "year", Type: "BIGINT"}},
		Files:  []lake.File{{Path: "gold/fact_sales/v000012-r/year=2017/month=1/part-0.parquet"}}}
	dim := &lake.Manifest{Layer: "silver", Table: "orders", Version: 3, Dir: "silver/orders/v000003-r", Schema: []lake.Column{{Name: "order_id", Type: "VARCHAR"}},
		Files: []lake.File{{Path: "silver/orders/v000003-r/part-0.parquet"}}}
	tables := func(ms ...*lake.Manifest) []TableDDL {
		var out []TableDDL
		for _, m := range ms {
			parts, err := PartitionValues(m)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, TableDDL{Database: "nexus", Manifest: m, Location: "s3://bucket/olist", Doc: "A table.",
				ColumnDocs: map[string]string{"order_id": "Order id."}, Partitions: parts})
		}
		return out
	}
	ctx := context.Background()
	for i, want := range []string{"created created", "unchanged unchanged"} {
		res, err := Sync(ctx, client, "nexus", "the lake", tables(fact, dim))
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(res[0].Action, " ", res[1].Action); got != want {
			t.Errorf("sync %d: %s, want %s", i+1, got, want)
		}
	}
	next := *fact
	next.Version, next.Dir = 13, "gold/fact_sales/v000013-r2"
	res, err := Sync(ctx, client, "nexus", "the lake", tables(&next, dim))
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Action != SyncUpdated || res[0].From != 12 || res[0].To != 13 || res[1].Action != SyncUnchanged {
		t.Errorf("after a new version: %+v", res)
	}
	ti := fake.Tables["nexus.gold_fact_sales"]
	sd := ti["StorageDescriptor"].(map[string]any)
	if sd["Location"] != "s3://bucket/olist/_nexus/athena/gold.fact_sales/v000013-r2/" || len(ti["PartitionKeys"].([]any)) != 2 {
		t.Errorf("the table in Glue: %v", ti)
	}
	params := ti["Parameters"].(map[string]any)
	if params["storage.location.template"] != "s3://bucket/olist/_nexus/athena/gold.fact_sales/v000013-r2/year=${year}/month=${month}/" || params["projection.enabled"] != "true" {
		t.Errorf("parameters: %v", params)
	}
	if fmt.Sprint(fake.Calls[:3]) != "[GetDatabase CreateDatabase GetTable]" {
		t.Errorf("calls: %v", fake.Calls)
	}
}

// Rows a local lake marked deleted are refused for Athena, which would read
// them: every such table is named, with the command that rewrites them on
// this very lake (not the default one).
func TestRefuseDeletedRows(t *testing.T) {
	t.Parallel()
	lk, err := lake.Open(filepath.Join(t.TempDir(), "my lake"))
	if err != nil {
		t.Fatal(err)
	}
	clean := &lake.Manifest{Layer: "silver", Table: "orders", Files: []lake.File{{Path: "a.parquet", Rows: 10}}}
	fact := &lake.Manifest{Layer: "gold", Table: "fact_sales", Files: []lake.File{
		{Path: "b.parquet", Rows: 8, Deleted: []int64{1, 4}}, {Path: "c.parquet", Rows: 5}, {Path: "d.parquet", Rows: 9, Deleted: []int64{0}}}}
	dim := &lake.Manifest{Layer: "gold", Table: "dim_product", Files: []lake.File{{Path: "e.parquet", Rows: 3, Deleted: []int64{2}}}}
	for _, tc := range []struct {
		name   string
		tables []*lake.Manifest
		want   []string // in the error; none: no error
	}{
		{"no deleted rows", []*lake.Manifest{clean}, nil},
		{"two tables with deleted rows", []*lake.Manifest{clean, fact, dim}, []string{
			"catalog: 2 table(s) have rows marked deleted, which Athena would read: gold.fact_sales (3 row(s) in 2 file(s)), gold.dim_product (1 row(s) in 1 file(s)).",
			"Athena reads the files whole",
			"nexus transform --lake '" + lk.Root + "' --full-refresh (then run this command again"}},
	} {
		err := refuseDeletedRows(lk, tc.tables)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrDeletedRows) {
			t.Fatalf("%s: %v, want ErrDeletedRows", tc.name, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", tc.name, err, w)
			}
		}
		if strings.Contains(err.Error(), "silver.orders") {
			t.Errorf("%s: names a table without deleted rows: %v", tc.name, err)
		}
	}
}
