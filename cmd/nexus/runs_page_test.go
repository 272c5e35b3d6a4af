package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keystone/nexus/internal/laketest"
	"github.com/keystone/nexus/internal/schedule"
	"github.com/keystone/nexus/internal/schedule/runstore"
	"github.com/keystone/nexus/internal/server"
)

// badOrderItem is an order item of an order that does not exist: the Silver
// gate quarantines it (check order_exists).
const badOrderItem = `"ffffffffffffffffffffffffffffffff",1,cd6dcb61e6b2f1580860e5706281ddc7,"066fe59ec878e6027326b53c9c12af38",2018-07-17 06:40:18,76.90,32.18`

// buildRunsLake is buildTestLake with one quarantined order item; it
// returns the temp directory and the lake in it.
func buildRunsLake(t *testing.T) (dir, lakeDir string) {
	t.Helper()
	lakeDir = buildLake(t, func(src string) {
		f, err := os.OpenFile(filepath.Join(src, "olist_order_items_dataset.csv"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(badOrderItem + "\n"); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	})
	return filepath.Dir(lakeDir), lakeDir
}

// recordRuns writes cycles to the lake's run store through its write API,
// with a run of each status: a day where every job succeeded (the ingestion
// on its second attempt), one where the transform failed its gate (order_exists
// quarantined a row) and the rest was skipped, an abandoned ingestion, a
// cancelled trigger, and an ingestion running now. It returns the ids of the
// runs by status.
func recordRuns(t *testing.T, root string) map[runstore.Status]int64 {
	t.Helper()
	ctx := context.Background()
	st, err := runstore.OpenStore(root)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ids := map[runstore.Status]int64{}
	n := 0
	cycle := func(trig runstore.Trigger) *runstore.Cycle {
		n++
		c := &runstore.Cycle{LogicalDate: time.Date(2026, 3, n, 0, 0, 0, 0, time.UTC).Format(time.DateOnly), Trigger: trig}
		if err := st.StartCycle(ctx, c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	end := func(c *runstore.Cycle, s runstore.Status) {
		c.Status = s
		if err := st.EndCycle(c); err != nil {
			t.Fatal(err)
		}
	}
	// run records a run whose attempts end with the statuses given; the run
	// ends with the last one (running: left running).
	run := func(c *runstore.Cycle, job string, checks []runstore.CheckRow, attempts ...runstore.Status) {
		r := &runstore.Run{CycleID: c.ID, Job: job, Task: "task", LogicalDate: c.LogicalDate}
		if err := st.StartRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		for i, a := range attempts {
			aid, err := st.StartAttempt(ctx, r.ID, i+1)
			if err != nil {
				t.Fatal(err)
			}
			if a == runstore.StatusRunning {
				break
			}
			var errText string
			if a != runstore.StatusSucceeded {
				errText = "attempt " + strconv.Itoa(i+1) + " " + string(a)
			}
			last := i == len(attempts)-1
			var cs []runstore.CheckRow
			if last {
				cs = checks
			}
			steps := []runstore.StepRow{{Name: job + "_step", Kind: "model", Status: "built", RowsIn: 10, RowsOut: 10, Seconds: 0.25}}
			if err := st.EndAttempt(aid, a, errText, !last, steps, cs); err != nil {
				t.Fatal(err)
			}
			r.Attempts, r.Error, r.ChecksFailed = i+1, errText, int64(len(cs))
		}
		final := attempts[len(attempts)-1]
		ids[final] = r.ID
		if final == runstore.StatusRunning {
			return
		}
		r.Status = final
		if err := st.EndRun(r); err != nil {
			t.Fatal(err)
		}
	}
	c := cycle(runstore.TriggerScheduled)
	run(c, schedule.JobIngestion, nil, runstore.StatusFailed, runstore.StatusSucceeded)
	run(c, schedule.JobTransform, nil, runstore.StatusSucceeded)
	run(c, schedule.JobQuality, nil, runstore.StatusSucceeded)
	run(c, schedule.JobAnalytics, nil, runstore.StatusSucceeded)
	end(c, runstore.StatusSucceeded)

	c = cycle(runstore.TriggerScheduled)
	run(c, schedule.JobIngestion, nil, runstore.StatusSucceeded)
	run(c, schedule.JobTransform, []runstore.CheckRow{{Table: "silver.order_items", CheckID: "order_exists", Kind: "relationships",
		Severity: "error", OnFail: "quarantine", RowsFailed: 1, Observed: "1 of 2212 rows"}}, runstore.StatusFailed)
	for _, j := range []string{schedule.JobQuality, schedule.JobAnalytics} {
		r := &runstore.Run{CycleID: c.ID, Job: j, Task: "task", LogicalDate: c.LogicalDate}
		if err := st.StartRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		r.Status = runstore.StatusSkipped
		if err := st.EndRun(r); err != nil {
			t.Fatal(err)
		}
		ids[runstore.StatusSkipped] = r.ID
	}
	end(c, runstore.StatusFailed)

	c = cycle(runstore.TriggerScheduled)
	run(c, schedule.JobIngestion, nil, runstore.StatusAbandoned)
	end(c, runstore.StatusAbandoned)

	c = cycle(runstore.TriggerManual)
	run(c, schedule.JobAnalytics, nil, runstore.StatusCancelled)
	end(c, runstore.StatusCancelled)

	c = cycle(runstore.TriggerScheduled)
	run(c, schedule.JobIngestion, nil, runstore.StatusRunning)
	return ids
}

func httpBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	return string(b)
}

// TestRunsPageOnReadOnlyLake: `nexus serve` on a lake its user cannot write
// answers the Runs page, /api/runs and /metrics, without a run store
// ("no scheduled runs yet") and with one, and changes nothing in the lake.
func TestRunsPageOnReadOnlyLake(t *testing.T) {
	dir, lakeDir := buildRunsLake(t)
	check := func(what string, store bool) {
		t.Helper()
		prefix := readOnlyPrefix(t, dir, lakeDir)
		before := laketest.TreeState(t, lakeDir)
		srv := startServe(t, lakeDir, prefix...)
		if p := httpBody(t, srv.base+"/runs"); !strings.Contains(p, `id="grid"`) {
			t.Errorf("%s: /runs is not the Runs page", what)
		}
		var v server.RunsView
		getJSON(t, srv.base+"/api/runs", &v)
		if v.Store != store || (!store && v.Message != server.NoRunsMessage) || (store && len(v.Cycles) != 5) {
			t.Errorf("%s: /api/runs store %v message %q, %d cycles", what, v.Store, v.Message, len(v.Cycles))
		}
		m := httpBody(t, srv.base+"/metrics")
		if strings.Contains(m, "nexus_runs_total{") != store || !strings.Contains(m, "nexus_lake_snapshot ") || !strings.Contains(m, "nexus_server_query_slots ") {
			t.Errorf("%s: /metrics:\n%s", what, m)
		}
		srv.stop()
		if after := laketest.TreeState(t, lakeDir); after != before {
			t.Errorf("%s: nexus serve changed the lake:\nbefore:\n%s\nafter:\n%s", what, before, after)
		}
		if _, err := os.Stat(filepath.Join(lakeDir, "_nexus", runstore.StoreFile)); os.IsNotExist(err) == store {
			t.Errorf("%s: the run store exists: %v", what, !os.IsNotExist(err))
		}
	}
	check("no run store", false)
	// readOnlyPrefix's cleanup gave write permission back only at the end:
	// the store is written as the scheduler would, then read-only again.
	for _, p := range []string{lakeDir, filepath.Join(lakeDir, "_nexus")} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	recordRuns(t, lakeDir)
	check("with a run store", true)
}

// TestRunsPageBrowser opens the Runs page of the real binary's `nexus serve`
// in Chromium: without a run store it says so; with one, the grid has a cell
// per run coloured by its status, a click shows the run's attempts, and a
// failed check links to its quarantined rows.
func TestRunsPageBrowser(t *testing.T) {
	chromium := findChromium(t)
	_, lakeDir := buildRunsLake(t)
	srv := startServe(t, lakeDir)
	ctx, cancel := browser(t, chromium)
	defer cancel()
	pg := page{t, ctx, &srv.errb}
	run, eval := pg.run, pg.eval
	screenshot := func(name string) { t.Helper(); takeScreenshot(t, ctx, name) }

	run("open the Runs page without a run store", chromedp.Navigate(srv.base+"/runs"), chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="none"]`)))
	if msg := eval("message", `document.querySelector('#none').textContent`); msg != server.NoRunsMessage {
		t.Errorf("without a run store the page says %q, want %q", msg, server.NoRunsMessage)
	}
	if err := eval("error banner", `document.querySelector('#error').hidden ? '' : document.querySelector('#error').textContent`); err != "" {
		t.Errorf("without a run store the page shows an error: %q", err)
	}

	recordRuns(t, lakeDir)
	var v server.RunsView
	getJSON(t, srv.base+"/api/runs", &v)
	want := map[string]string{} // "job/run id" → status, as the API says
	for _, c := range v.Cycles {
		for job, r := range c.Runs {
			want[job+"/"+strconv.FormatInt(r.ID, 10)] = string(r.Status)
		}
	}
	run("open the Runs page", chromedp.Navigate(srv.base+"/runs"), chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="runs"]`)))
	screenshot("runs.png")
	cells := eval("grid", `Array.from(document.querySelectorAll('#grid button.cell')).map(b => b.dataset.job + '/' + b.dataset.run + '=' + b.dataset.status + '=' + getComputedStyle(b).backgroundColor).join('\n')`)
	got, colours := map[string]string{}, map[string]string{}
	for _, line := range strings.Split(cells, "\n") {
		parts := strings.Split(line, "=")
		if len(parts) != 3 {
			t.Fatalf("grid cell %q", line)
		}
		got[parts[0]] = parts[1]
		if c, ok := colours[parts[1]]; ok && c != parts[2] {
			t.Errorf("%s cells in two colours: %s and %s", parts[1], c, parts[2])
		}
		colours[parts[1]] = parts[2]
	}
	if len(got) != len(want) {
		t.Errorf("the grid has %d cells, the API %d runs:\n%v\n%v", len(got), len(want), got, want)
	}
	for k, s := range want {
		if got[k] != s {
			t.Errorf("cell %s is %q, the API says %q", k, got[k], s)
		}
	}
	seen := map[string]string{} // colour → status
	var statuses []string
	for s, c := range colours {
		statuses = append(statuses, s)
		if o, ok := seen[c]; ok {
			t.Errorf("%s and %s cells have the same colour %s", s, o, c)
		}
		seen[c] = s
	}
	sort.Strings(statuses)
	if strings.Join(statuses, ",") != "abandoned,cancelled,failed,running,skipped,succeeded" {
		t.Errorf("the grid shows the statuses %v", statuses)
	}
	rows := eval("rows", `Array.from(document.querySelectorAll('#grid tbody th.job')).map(e => e.textContent).join(',')`)
	if rows != "cycle,"+strings.Join([]string{schedule.JobIngestion, schedule.JobTransform, schedule.JobQuality, schedule.JobAnalytics}, ",") {
		t.Errorf("grid rows %q", rows)
	}
	// Hover: the title has the duration and attempts; click: the attempts.
	first := eval("first run", `(() => { const b = document.querySelector('#grid button.cell[data-job="`+schedule.JobIngestion+`"]'); return b.dataset.run + '\n' + b.title; })()`)
	if !strings.Contains(first, "2 attempts") || !strings.Contains(first, " s ·") {
		t.Errorf("the retried ingestion's cell title: %q", first)
	}
	run("click the retried ingestion", chromedp.Click(chromedp.CSS(`#grid button.cell[data-job="`+schedule.JobIngestion+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#attempts tbody tr`)))
	if n := eval("attempts", `String(document.querySelectorAll('#attempts tbody tr').length)`); n != "2" {
		t.Errorf("the retried run's detail has %s attempts, want 2", n)
	}
	screenshot("runs-detail.png")

	// The failed check links to its quarantined rows.
	link := eval("link", `(document.querySelector('#checks a[data-quarantine]') || {}).textContent || ''`)
	if link != "silver_order_items" {
		t.Fatalf("the failed check's link: %q", link)
	}
	run("follow the quarantine link", chromedp.Click(chromedp.CSS(`#checks a[data-quarantine]`)),
		chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="runs"]`)), chromedp.WaitVisible(chromedp.CSS(`#q-rows tbody tr`)))
	if q := eval("quarantine", `document.querySelector('#q-cap').textContent + '\n' + document.querySelector('#q-rows tbody').textContent`); !strings.Contains(q, "showing 1 of 1 row") ||
		!strings.Contains(q, "ffffffffffffffffffffffffffffffff") {
		t.Errorf("the quarantine panel: %q", q)
	}
	screenshot("runs-quarantine.png")

	// The dashboard links to the Runs page.
	run("open the dashboard", chromedp.Navigate(srv.base+"/"), chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="all"]`)),
		chromedp.Click(chromedp.CSS(`nav a[href="/runs"]`)), chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="runs"]`)))
}
