// Command baseline runs the bare-DuckDB equivalents of nexus's steps, for the
// benchmark script to compare against, and times Gold queries.
//
//	baseline csv2parquet SRC_DIR OUT_DIR   # read_csv → COPY parquet, per file
//	baseline models LAKE OUT_DIR           # the Silver+Gold SQL as plain CREATE TABLE + COPY
//	baseline query LAKE N SQL              # median and p95 of N runs of SQL on the lake
//	baseline partitions LAKE OUT_DIR       # gold.fact_sales written by year, month, day: time, files, bytes, queries
//	baseline statements LAKE N FILE...     # each file's SQL run N times, the files in turn: median ms of each
package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/olist"
	"github.com/keystone/nexus/internal/transform"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: baseline csv2parquet|models|query ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "csv2parquet":
		err = csv2parquet(os.Args[2], os.Args[3])
	case "models":
		err = models(os.Args[2], os.Args[3])
	case "partitions":
		err = partitions(os.Args[2], os.Args[3])
	case "statements":
		n, _ := strconv.Atoi(os.Args[3])
		err = statements(os.Args[2], n, os.Args[4:])
	case "query":
		n, _ := strconv.Atoi(os.Args[3])
		err = query(os.Args[2], n, os.Args[4])
	default:
		err = fmt.Errorf("unknown command %s", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}

func lit(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// csv2parquet is what a user would write with DuckDB alone: explicit types,
// header, default parallel CSV reader, Parquet out.
func csv2parquet(src, out string) error {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer db.Close()
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	start := time.Now()
	for _, t := range olist.Tables() {
		var cols []string
		for _, c := range t.Columns {
			cols = append(cols, fmt.Sprintf("%s: '%s'", lit(c.Name), c.Type.SQL()))
		}
		q := fmt.Sprintf("COPY (SELECT * FROM read_csv(%s, header = true, columns = {%s})) TO %s (FORMAT parquet)",
			lit(filepath.Join(src, t.File)), strings.Join(cols, ", "), lit(filepath.Join(out, t.Name+".parquet")))
		if _, err := db.Exec(q); err != nil {
			return fmt.Errorf("%s: %w", t.Name, err)
		}
	}
	fmt.Printf("duckdb_csv2parquet_seconds %.3f\n", time.Since(start).Seconds())
	return nil
}

// models runs every model's SQL as CREATE TABLE in model order on the
// published Bronze, then writes each table to Parquet: the same work as
// `nexus transform` with no manifests, fingerprints or partitions, written
// with the same Parquet settings (transform.ParquetWrite).
func models(lakeDir, out string) error {
	ctx := context.Background()
	eng, err := openEngine(ctx, lakeDir)
	if err != nil {
		return err
	}
	defer eng.Close()
	ms, err := transform.LoadModels("")
	if err != nil {
		return err
	}
	var sources []string
	for _, t := range olist.Tables() {
		sources = append(sources, "bronze."+t.Name)
	}
	g, err := transform.NewGraph(ms, sources)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	start := time.Now()
	db := eng.DB()
	for _, name := range g.Order {
		m := g.Models[name]
		// The model views of the lake are replaced by in-memory tables.
		stmt := fmt.Sprintf("CREATE SCHEMA IF NOT EXISTS %s; DROP VIEW IF EXISTS %s.%s; CREATE OR REPLACE TABLE %s.%s AS %s",
			m.Layer, m.Layer, m.Table, m.Layer, m.Table, m.Compiled())
		t0 := time.Now()
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		t1 := time.Now()
		if _, err := db.ExecContext(ctx, fmt.Sprintf("COPY %s.%s TO %s (%s)", m.Layer, m.Table,
			lit(filepath.Join(out, name+".parquet")), transform.ParquetWrite)); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		// Per model on stderr, to compare with nexus' model phases.
		fmt.Fprintf(os.Stderr, "model %s build_ms %d copy_ms %d\n", name, t1.Sub(t0).Milliseconds(), time.Since(t1).Milliseconds())
	}
	fmt.Printf("duckdb_models_seconds %.3f\n", time.Since(start).Seconds())
	return nil
}

func query(lakeDir string, n int, q string) error {
	ctx := context.Background()
	eng, err := openEngine(ctx, lakeDir)
	if err != nil {
		return err
	}
	defer eng.Close()
	var times []time.Duration
	for i := 0; i < n+1; i++ {
		start := time.Now()
		if _, err := eng.Query(ctx, q); err != nil {
			return err
		}
		if i > 0 { // the first run warms the OS cache and DuckDB's metadata cache
			times = append(times, time.Since(start))
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	fmt.Printf("query_median_ms %.1f\nquery_p95_ms %.1f\n", ms(times[len(times)/2]), ms(times[len(times)*95/100]))
	return nil
}

// statements A/B-tests SQL on one lake and one session: the files run in
// turn (a, b, a, b...) so that a noisy neighbour slows them alike.
func statements(lakeDir string, n int, files []string) error {
	if n < 1 || len(files) == 0 {
		return fmt.Errorf("statements: want N >= 1 and at least one file")
	}
	ctx := context.Background()
	eng, err := openEngine(ctx, lakeDir)
	if err != nil {
		return err
	}
	defer eng.Close()
	sqls := make([]string, len(files))
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		sqls[i] = string(b)
	}
	times := make([][]time.Duration, len(files))
	for r := 0; r < n+1; r++ {
		for i, q := range sqls {
			start := time.Now()
			if _, err := eng.DB().ExecContext(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", files[i], err)
			}
			if r > 0 { // the first round warms the caches
				times[i] = append(times[i], time.Since(start))
			}
		}
	}
	for i, t := range times {
		sort.Slice(t, func(a, b int) bool { return t[a] < t[b] })
		fmt.Printf("%s median_ms %.1f min_ms %.1f\n", files[i], ms(t[len(t)/2]), ms(t[0]))
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// partitions measures the partition granularity of a dated table: write time,
// file count and size, and the median time of a one-month query and of a full
// aggregation, for year, month and day partitions of gold.fact_sales.
func partitions(lakeDir, out string) error {
	ctx := context.Background()
	eng, err := openEngine(ctx, lakeDir)
	if err != nil {
		return err
	}
	defer eng.Close()
	db := eng.DB()
	if _, err := db.ExecContext(ctx, "CREATE TABLE fs AS SELECT * EXCLUDE (year, month) FROM gold.fact_sales"); err != nil {
		return err
	}
	fmt.Println("| granularity | write | files | bytes | one-month query (median) | full aggregation (median) |")
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	for _, gr := range []struct{ name, cols, exprs string }{
		{"none", "", ""},
		{"year", "year", "year(purchase_date) AS year"},
		{"month", "year, month", "year(purchase_date) AS year, month(purchase_date) AS month"},
		{"day", "year, month, day", "year(purchase_date) AS year, month(purchase_date) AS month, day(purchase_date) AS day"},
	} {
		dir := filepath.Join(out, "fact_sales-"+gr.name)
		os.RemoveAll(dir)
		start := time.Now()
		var stmt string
		if gr.cols == "" {
			os.MkdirAll(dir, 0o755)
			stmt = fmt.Sprintf("COPY fs TO %s (FORMAT parquet, COMPRESSION zstd)", lit(filepath.Join(dir, "part-0.parquet")))
		} else {
			stmt = fmt.Sprintf("COPY (SELECT *, %s FROM fs) TO %s (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (%s))", gr.exprs, lit(dir), gr.cols)
		}
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return err
		}
		write := time.Since(start)
		var files int
		var bytes int64
		filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				files++
				bytes += info.Size()
			}
			return err
		})
		src := fmt.Sprintf("read_parquet(%s, hive_partitioning = %t)", lit(dir+"/**/*.parquet"), gr.cols != "")
		monthFilter := "purchase_date >= DATE '2018-03-01' AND purchase_date < DATE '2018-04-01'"
		if gr.cols != "" {
			monthFilter = "year = 2018 AND month = 3"
			if gr.name == "year" {
				monthFilter = "year = 2018 AND purchase_date >= DATE '2018-03-01' AND purchase_date < DATE '2018-04-01'"
			}
		}
		one := medianOf(ctx, db, fmt.Sprintf("SELECT count(*), sum(price) FROM %s WHERE %s", src, monthFilter))
		full := medianOf(ctx, db, fmt.Sprintf("SELECT date_trunc('month', purchase_date), sum(price) FROM %s GROUP BY 1", src))
		fmt.Printf("| %s | %.0f ms | %d | %d | %.1f ms | %.1f ms |\n", gr.name, ms(write), files, bytes, one, full)
	}
	return nil
}

func medianOf(ctx context.Context, db *sql.DB, q string) float64 {
	var times []time.Duration
	for i := 0; i < 12; i++ {
		start := time.Now()
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return -1
		}
		for rows.Next() {
		}
		rows.Close()
		if i > 1 {
			times = append(times, time.Since(start))
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	return ms(times[len(times)/2])
}

// openEngine opens a DuckDB session over the lake's published tables.
func openEngine(ctx context.Context, lakeDir string) (*engine.Engine, error) {
	lk, err := lake.OpenRead(lakeDir)
	if err != nil {
		return nil, err
	}
	return engine.Open(ctx, lk, engine.Options{MemoryLimit: "2GB"})
}
