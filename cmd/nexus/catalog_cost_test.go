package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keystone/nexus/internal/catalog"
	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/laketest"
	"github.com/keystone/nexus/internal/report"
	"github.com/keystone/nexus/internal/s3test"
)

// costJSON is what `nexus catalog cost --format json` prints.
type costJSON struct {
	Bill    catalog.Bill        `json:"bill"`
	Queries []catalog.QueryScan `json:"queries"`
}

func catalogCost(t *testing.T, dir string, args ...string) costJSON {
	t.Helper()
	var c costJSON
	out := nexus(t, dir, false, append([]string{"catalog", "cost", "--format", "json"}, args...)...)
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("catalog cost --format json: %v\n%s", err, out)
	}
	return c
}

// TestCatalogCost: the binary prices a read-only lake without writing to
// it, with the default schedule's 30 runs, and the deck's cost slide gives
// the same Athena bill, today and at 100×.
func TestCatalogCost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a lake")
	}
	root := buildTestLake(t)
	dir := t.TempDir()
	laketest.MakeReadOnly(t, root)
	before := laketest.TreeState(t, root)

	today := catalogCost(t, dir, "--lake", root)
	big := catalogCost(t, dir, "--lake", root, "--data-factor", "100")
	table := nexus(t, dir, false, "catalog", "cost", "--lake", root, "--dashboard-views-per-day", "10", "--analyst-queries-per-day", "0")
	if after := laketest.TreeState(t, root); after != before {
		t.Errorf("nexus catalog cost wrote to the lake:\nbefore\n%s\nafter\n%s", before, after)
	}

	b := today.Bill
	if b.Usage.RunsPerMonth != 30 || !strings.Contains(b.Usage.RunsFrom, `"0 2 * * *"`) {
		t.Errorf("runs a month: %v from %q, want the default schedule's 30", b.Usage.RunsPerMonth, b.Usage.RunsFrom)
	}
	if len(b.Lines) != 6 || b.USD <= 0 || len(today.Queries) != b.StatementsByView || len(today.Queries) == 0 {
		t.Fatalf("bill: %+v", b)
	}
	for _, l := range b.Lines {
		if l.How == "" || l.Price <= 0 || l.Quantity <= 0 {
			t.Errorf("line %s %s: %+v", l.Service, l.Item, l)
		}
	}
	for _, want := range []string{"total", "How each quantity was obtained:", "S3 storage:", "Athena data scanned:", "monthly-sales", "Assumptions:", "10 dashboard views a day"} {
		if !strings.Contains(table, want) {
			t.Errorf("the table lacks %q:\n%s", want, table)
		}
	}

	// The deck, built from the same lake.
	ctx := context.Background()
	lk := laketest.OpenRead(t, root)
	eng, err := engine.Open(ctx, lk, engine.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	d, err := report.BuildDeck(ctx, eng.DB(), lk)
	if err != nil {
		t.Fatal(err)
	}
	s := d.Cost.Scenarios
	if len(s) != 2 || s[0].AthenaUSD != b.USD || s[1].AthenaUSD != big.Bill.USD {
		t.Errorf("the deck's Athena bill %v today, %v at 100×; nexus catalog cost says %v and %v", s[0].AthenaUSD, s[1].AthenaUSD, b.USD, big.Bill.USD)
	}
	if scans := b.Line("Athena", catalog.ItemScans); s[0].AthenaScanUSD != scans.USD || s[0].ViewBilled != float64(b.ViewBilled) {
		t.Errorf("the deck's Athena scans %v (%v bytes a view), the command's %v (%v)", s[0].AthenaScanUSD, s[0].ViewBilled, scans.USD, b.ViewBilled)
	}
}

// TestCatalogCostOnS3: priced from its mirror, a lake on S3 is left as it
// was in the bucket.
func TestCatalogCostOnS3(t *testing.T) {
	srv := s3test.Start(t)
	dir := t.TempDir()
	nexus(t, dir, false, "generate", "--out", "data", "--scale", "0.02", "--seed", "5")
	s3 := []string{"--lake", "s3://" + srv.Bucket + "/olist", "--s3-endpoint", srv.Endpoint, "--cache-dir", filepath.Join(dir, "cache")}
	nexus(t, dir, false, append([]string{"run", "--source", "data", "--no-reports"}, s3...)...)
	before := laketest.TreeState(t, srv.Dir)
	c := catalogCost(t, dir, s3...)
	if after := laketest.TreeState(t, srv.Dir); after != before {
		t.Errorf("nexus catalog cost wrote to the bucket:\nbefore\n%s\nafter\n%s", before, after)
	}
	storage := c.Bill.Line("S3", catalog.ItemStorage)
	if c.Bill.Lake != "s3://"+srv.Bucket+"/olist" || c.Bill.USD <= 0 || !strings.Contains(storage.How, "older kept snapshots not counted") {
		t.Errorf("the bill of a lake on S3: %s, US$ %v, storage: %s", c.Bill.Lake, c.Bill.USD, storage.How)
	}
}
