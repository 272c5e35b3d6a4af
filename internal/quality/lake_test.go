package quality_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/quality"
)

// TestDefaultSuitesOnLake runs every default suite against a built lake
// (NEXUS_QUALITY_LAKE=DIR, e.g. after `nexus run --scale 1`), printing the
// time per table and the failing checks. It is skipped without the variable;
// it is the benchmark behind the "under 2 s at scale 1" figure.
func TestDefaultSuitesOnLake(t *testing.T) {
	dir := os.Getenv("NEXUS_QUALITY_LAKE")
	if dir == "" {
		t.Skip("NEXUS_QUALITY_LAKE not set")
	}
	ctx := context.Background()
	lk, err := lake.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Open(ctx, lk, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	db := eng.DB()
	suites, err := quality.LoadSuites("")
	if err != nil {
		t.Fatal(err)
	}
	schemas := map[string][]string{}
	for _, m := range eng.Tables() {
		rows, err := db.QueryContext(ctx, fmt.Sprintf("SELECT column_name FROM (DESCRIBE %s)", quality.TableRef(m.Name())))
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				t.Fatal(err)
			}
			schemas[m.Name()] = append(schemas[m.Name()], c)
		}
		rows.Close()
	}
	if err := quality.Validate(suites, schemas); err != nil {
		t.Fatal(err)
	}
	// Each table is first copied to a temporary table, as the executor's
	// stage would be; the copy is not timed.
	total := time.Duration(0)
	var perCheck time.Duration
	var checks int
	var report []string
	for _, s := range suites {
		if _, err := db.ExecContext(ctx, "CREATE OR REPLACE TEMP TABLE _stage AS SELECT * FROM "+quality.TableRef(s.Table)); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		annotated := ""
		var annot time.Duration
		if s.HasRowLevel() {
			annotated = "_annotated"
			if err := quality.Annotate(ctx, db, s, "_stage", annotated); err != nil {
				t.Fatal(err)
			}
			annot = time.Since(start)
		}
		res, err := quality.Evaluate(ctx, db, s, annotated, "_stage", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		el := time.Since(start)
		total += el
		checks += len(res)
		report = append(report, fmt.Sprintf("%-30s %3d checks %8s (annotate %s)", s.Table, len(res), el.Round(time.Millisecond), annot.Round(time.Millisecond)))
		for _, r := range res {
			if r.Verdict != quality.VerdictPass {
				ex := ""
				if len(r.Examples) > 0 {
					ex = " e.g. " + r.Examples[0].Reason
				}
				report = append(report, fmt.Sprintf("    %-5s %-28s failed %6d blocking=%v %s%s", r.Verdict, r.CheckID, r.RowsFailed, r.Blocking, r.Observed, ex))
			}
		}
		// The alternative: each row-level check as its own query (one pass
		// per check, counting its failures).
		start = time.Now()
		for _, c := range s.RowLevelChecks() {
			one := &quality.Suite{Table: s.Table, File: s.File, Line: s.Line, Checks: []quality.Check{c}}
			q, err := quality.AnnotateSQL(one, "_stage")
			if err != nil {
				t.Fatal(err)
			}
			var n int64
			if err := db.QueryRowContext(ctx, "SELECT count(*) FROM ("+q+") WHERE len(_nexus_failures) > 0").Scan(&n); err != nil {
				t.Fatal(err)
			}
		}
		perCheck += time.Since(start)
	}
	t.Logf("\n%s\n%d checks in %s (%.0f checks/s); row-level checks as one query each: %s (counts only)",
		strings.Join(report, "\n"), checks, total.Round(time.Millisecond), float64(checks)/total.Seconds(), perCheck.Round(time.Millisecond))
}
