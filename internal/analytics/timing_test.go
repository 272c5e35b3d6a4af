package analytics

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
)

// TestTimingsOnLake measures every analysis on an existing lake, read only:
// NEXUS_ANALYTICS_LAKE=bench/out/scale-1/lake go test -run TestTimingsOnLake -v ./internal/analytics
func TestTimingsOnLake(t *testing.T) {
	root := os.Getenv("NEXUS_ANALYTICS_LAKE")
	if root == "" {
		t.Skip("NEXUS_ANALYTICS_LAKE not set")
	}
	ctx := context.Background()
	lk, err := lake.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Open(ctx, lk, engine.Options{TempDir: t.TempDir(), MemoryLimit: "2GB"})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	db := eng.DB()
	t0 := time.Now()
	if err := Warm(ctx, db); err != nil {
		t.Fatal(err)
	}
	t.Logf("working set built in %v", time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	if err := Warm(ctx, db); err != nil {
		t.Fatal(err)
	}
	t.Logf("cached working set checked in %v", time.Since(t0).Round(time.Microsecond))
	filters := map[string]Filter{
		"none":     {},
		"state SP": {State: "SP"},
		"2018H1":   {From: time.Date(2018, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2018, 6, 30, 0, 0, 0, 0, time.UTC)},
		"category": {Category: "health_beauty"},
		"all":      {From: time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC), State: "RJ", Category: "bed_bath_table"},
	}
	names := []string{"none", "state SP", "2018H1", "category", "all"}
	type timed struct {
		Name string
		Run  func(ctx context.Context, db *sql.DB, f Filter) (any, error)
	}
	runs := []timed{
		{"states", func(ctx context.Context, db *sql.DB, _ Filter) (any, error) { return States(ctx, db) }},
		{"categories", func(ctx context.Context, db *sql.DB, _ Filter) (any, error) { return Categories(ctx, db) }},
	}
	for _, a := range Registry() {
		runs = append(runs, timed{a.Name, func(ctx context.Context, db *sql.DB, f Filter) (any, error) { return a.Run(ctx, db, f, nil) }})
	}
	for _, a := range runs {
		for _, fn := range names {
			f := filters[fn]
			var ds []time.Duration
			var res any
			for i := 0; i < 22; i++ {
				t0 := time.Now()
				res, err = a.Run(ctx, db, f)
				ds = append(ds, time.Since(t0))
				if err != nil {
					t.Fatalf("%s %s: %v", a.Name, fn, err)
				}
			}
			ds = ds[2:]
			sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
			t.Logf("%-16s %-9s median %6.1f ms  p90 %6.1f ms  max %6.1f ms", a.Name, fn, ms(ds[len(ds)/2]), ms(ds[len(ds)*9/10]), ms(ds[len(ds)-1]))
			if fn == "none" && os.Getenv("NEXUS_ANALYTICS_DUMP") != "" {
				b, _ := json.MarshalIndent(res, "", " ")
				t.Logf("%s", b)
			}
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
