// Command ingest runs one ingest into a fresh lake with a chosen chunk size,
// for bench/ingest-par.sh to time the serial and the chunked parse of the
// same files.
//
//	ingest -source DIR -lake DIR [-table geolocation] [-chunk-bytes -1|0|N] [-workers N] [-checksum]
//
// -chunk-bytes -1 parses every file serially; 0 is the default chunk size.
// It prints one line per table (rows, parts, chunks redone) and the
// ingest's wall time; with -checksum, also a checksum of every Bronze and
// quarantine row but its run id and time (to compare a serial and a chunked
// ingest of the same files), computed after the time is taken.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/ingest"
	"github.com/keystone/nexus/internal/lake"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ingest:", err)
		os.Exit(1)
	}
}

func run() error {
	source := flag.String("source", "", "directory with the Olist CSV files")
	lakeDir := flag.String("lake", "", "lake directory (created)")
	tables := flag.String("table", "", "comma-separated tables; empty: all nine")
	chunkBytes := flag.Int64("chunk-bytes", 0, "ingest.Options.ChunkBytes: -1 serial, 0 default")
	workers := flag.Int("workers", 0, "ingest.Options.Workers: 0 = GOMAXPROCS")
	checksum := flag.Bool("checksum", false, "print a checksum of every Bronze and quarantine table")
	flag.Parse()
	if *source == "" || *lakeDir == "" {
		return fmt.Errorf("-source and -lake are required")
	}
	lk, err := lake.Open(*lakeDir)
	if err != nil {
		return err
	}
	var log bytes.Buffer
	opts := ingest.Options{
		SourceDir: *source, Force: true, ChunkBytes: *chunkBytes, Workers: *workers,
		Logger: slog.New(slog.NewJSONHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if *tables != "" {
		opts.Tables = strings.Split(*tables, ",")
	}
	start := time.Now()
	res, err := ingest.Run(context.Background(), lk, opts)
	elapsed := time.Since(start)
	if err != nil {
		return err
	}
	if err := res.Err(); err != nil {
		return err
	}
	redone := chunkLog(log.Bytes())
	for _, t := range res.Tables {
		m, err := lk.Manifest(lake.Bronze, t.Table)
		if err != nil {
			return err
		}
		fmt.Printf("%-22s rows %10d quarantined %6d parts %3d redone %d\n", t.Table, t.RowsWritten, t.RowsQuarantined, len(m.Files), redone[t.File])
	}
	fmt.Printf("ingest_seconds %.3f\n", elapsed.Seconds())
	if *checksum {
		return checksums(lk, res)
	}
	return nil
}

// checksums prints, per table, the row count and an order-independent sum
// of row hashes, lineage but the run's id and time included.
func checksums(lk *lake.Lake, res ingest.Result) error {
	ctx := context.Background()
	eng, err := engine.Open(ctx, lk, engine.Options{MemoryLimit: "4GB"})
	if err != nil {
		return err
	}
	defer eng.Close()
	for _, t := range res.Tables {
		for _, name := range []string{"bronze." + t.Table, "quarantine.bronze_" + t.Table} {
			q := fmt.Sprintf("SELECT count(*), sum(hash(x)::HUGEINT) FROM (SELECT * EXCLUDE (%s, %s) FROM %s) x",
				ingest.ColRunID, ingest.ColIngestedAt, name)
			r, err := eng.Query(ctx, q)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			var cells []string
			for _, v := range r.Rows[0] {
				if v == nil {
					cells = append(cells, "NULL")
				} else {
					cells = append(cells, *v)
				}
			}
			fmt.Printf("checksum %-34s %s\n", name, strings.Join(cells, " "))
		}
	}
	return nil
}

// chunkLog returns the chunks redone per file, from the debug log.
func chunkLog(log []byte) map[string]int {
	out := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e struct {
			Msg    string `json:"msg"`
			File   string `json:"file"`
			Redone int    `json:"redone"`
		}
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Msg == "parsed in chunks" {
			out[e.File] += e.Redone
		}
	}
	return out
}
