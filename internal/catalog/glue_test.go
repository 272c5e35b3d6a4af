package catalog

import (
	"context"
	"fmt"
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
