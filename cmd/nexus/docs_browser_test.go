package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/laketest"
	"github.com/keystone/nexus/internal/olist"
	"github.com/keystone/nexus/internal/pipeline"
	"github.com/keystone/nexus/internal/quality"
)

// checkJSON runs `nexus check --format json` on the lake (with the project's
// suites) and returns its failed checks of table as "check_id=rows_failed",
// sorted.
func checkJSON(t *testing.T, lakeDir, project, table string) []string {
	t.Helper()
	cmd := exec.Command(nexusBin, "--lake", lakeDir, "check", "--project", project, "--format", "json")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) { // 1: a check failed
		t.Fatalf("nexus check: %v\n%s", err, errb.String())
	}
	var run pipeline.CheckRun
	if err := json.Unmarshal(out.Bytes(), &run); err != nil {
		t.Fatalf("nexus check --format json: %v\n%s", err, out.String())
	}
	var fails []string
	for _, r := range run.Results {
		if r.Table == table && r.Verdict == quality.VerdictFail {
			fails = append(fails, fmt.Sprintf("%s=%d", r.CheckID, r.RowsFailed))
		}
	}
	sort.Strings(fails)
	return fails
}

// docsProjectSuite adds to silver.order_items a rule that fails on the
// published rows too (a kept row is still published): an item over R$ 500
// is flagged, with severity error, never blocking.
const docsProjectSuite = `table: silver.order_items
checks:
  - id: price_at_most_500
    kind: between
    column: price
    max: 500
    on_fail: keep
    description: An item costs at most R$ 500 (a test rule that flags the dearer ones).
`

// buildDocsLake is buildRunsLake (one orphan item quarantined) built with a
// project whose suite adds a failing keep rule; it returns the lake and the
// project directory.
func buildDocsLake(t *testing.T) (lakeDir, project string) {
	t.Helper()
	dir := t.TempDir()
	project = filepath.Join(dir, "project")
	if err := os.MkdirAll(filepath.Join(project, "suites"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(project, "suites", "silver.order_items.yaml"), []byte(docsProjectSuite), 0o644); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "source")
	ctx := context.Background()
	if _, err := olist.Generate(ctx, src, olist.GenOptions{Scale: 0.02, Seed: 1}); err != nil {
		t.Fatal(err)
	}
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
	lk, err := lake.Open(filepath.Join(dir, "lake"))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := pipeline.Run(ctx, lk, pipeline.Options{SourceDir: src, ProjectDir: project})
	if err != nil {
		t.Fatal(err)
	}
	if err := sum.Err(); err != nil {
		t.Fatalf("pipeline run: %v", err)
	}
	return lk.Root, project
}

// TestDocsBrowser opens the docs site in Chromium as `nexus serve` serves it
// at /docs/: searches a column and follows the hit, follows the lineage of
// gold.fact_sales link by link down to its Bronze sources (the same as
// `nexus lineage` says), checks that the failing checks a table page shows
// are those of `nexus check --format json`, before and after that check is
// recorded, and follows a failing check to its quarantined row. Then it
// opens the site `nexus docs` wrote, from disk.
func TestDocsBrowser(t *testing.T) {
	chromium := findChromium(t)
	lakeDir, project := buildDocsLake(t)
	siteDir := filepath.Join(t.TempDir(), "site")
	if out := nexus(t, t.TempDir(), false, "--lake", lakeDir, "docs", "--project", project, "--out", siteDir); !strings.Contains(out, "wrote ") {
		t.Errorf("nexus docs says %q", out)
	}
	srv := startServe(t, lakeDir)
	ctx, cancel := browser(t, chromium)
	defer cancel()
	pg := page{t, ctx, &srv.errb}
	run, eval := pg.run, pg.eval
	// open loads a page and waits for its script.
	open := func(url string) {
		t.Helper()
		run("open "+url, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="1"]`)))
	}
	// follow clicks a link and waits for the next page's script.
	follow := func(what, sel string) {
		t.Helper()
		eval("mark the page", `document.body.dataset.old = '1'; ''`)
		run(what, chromedp.Click(chromedp.CSS(sel)), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="1"]:not([data-old])`)))
	}
	screenshot := func(name string) { t.Helper(); takeScreenshot(t, ctx, name) }
	docs := srv.base + "/docs/"

	// Search a column, as a user types it, and follow the hit.
	open(docs)
	screenshot("docs-index.png")
	run("search payment_value", chromedp.SendKeys(chromedp.CSS(`#search`), "payment_value"), chromedp.WaitVisible(chromedp.CSS(`body[data-search] #search-results a`)))
	hits := eval("hits", `Array.from(document.querySelectorAll('#search-results a')).map(a => a.dataset.name).join(',')`)
	for _, want := range []string{"gold.fact_sales.payment_value", "silver.order_payments.payment_value", "bronze.order_payments.payment_value"} {
		if !slices.Contains(strings.Split(hits, ","), want) {
			t.Errorf("searching payment_value finds %s, not %s", hits, want)
		}
	}
	screenshot("docs-search.png")
	follow("follow the hit", `#search-results a[data-name="gold.fact_sales.payment_value"]`)
	if got := eval("target", `location.pathname + location.hash + ' ' + ((document.querySelector(':target') || {dataset: {}}).dataset.column || '')`); got != "/docs/gold.fact_sales.html#col-payment_value payment_value" {
		t.Errorf("the search hit leads to %q", got)
	}
	screenshot("docs-fact_sales.png")

	// Follow the lineage from gold.fact_sales, page by page, to Bronze.
	var lin struct {
		Sources []string `json:"sources"`
	}
	if err := json.Unmarshal([]byte(nexus(t, t.TempDir(), false, "lineage", "gold.fact_sales", "--format", "json")), &lin); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{"gold.fact_sales": true}
	queue := []string{"gold.fact_sales"}
	var bronze []string
	for len(queue) > 0 {
		page := queue[0]
		queue = queue[1:]
		open(docs + page + ".html")
		if h := eval("title", `document.querySelector('h1').textContent`); h != page {
			t.Fatalf("page of %s says %q", page, h)
		}
		ups := eval("upstream", `Array.from(document.querySelectorAll('#upstream a[data-upstream]')).map(a => a.dataset.upstream).join(',')`)
		if strings.HasPrefix(page, "bronze.") {
			bronze = append(bronze, page)
			if ups != "" {
				t.Errorf("%s reads %s", page, ups)
			}
			continue
		}
		if ups == "" {
			t.Errorf("%s reads nothing", page)
		}
		for _, u := range strings.Split(ups, ",") {
			if u != "" && !seen[u] {
				seen[u] = true
				queue = append(queue, u)
			}
		}
	}
	sort.Strings(bronze)
	if !slices.Equal(bronze, lin.Sources) {
		t.Errorf("following the pages from gold.fact_sales reaches %v; nexus lineage says %v", bronze, lin.Sources)
	}
	// And by clicks: fact_sales → silver.order_items → bronze.order_items.
	open(docs + "gold.fact_sales.html")
	follow("click silver.order_items", `#upstream a[data-upstream="silver.order_items"]`)
	follow("click bronze.order_items", `#upstream a[data-upstream="bronze.order_items"]`)
	if h := eval("title", `document.querySelector('h1').textContent`); h != "bronze.order_items" {
		t.Errorf("two clicks upstream of gold.fact_sales land on %q", h)
	}

	// The failing checks of a table page are those of nexus check. The
	// page shows the latest verdicts: first the run's, whose gate failed
	// order_exists on the orphan item it quarantined, as nexus check does
	// (it judges every row the build produced, the quarantined ones too);
	// after nexus check recorded its verdicts, the server's next version
	// shows those.
	shown := func() []string {
		t.Helper()
		open(docs + "silver.order_items.html")
		v := eval("failing checks", `Array.from(document.querySelectorAll('#checks tr[data-verdict="fail"]')).map(r => r.dataset.check + '=' + r.querySelector('td.failed').textContent.replace(/,/g, '')).sort().join('\n')`)
		if v == "" {
			return nil
		}
		return strings.Split(v, "\n")
	}
	fromRun := shown()
	screenshot("docs-checks.png")
	want := checkJSON(t, lakeDir, project, "silver.order_items")
	if len(want) != 2 || want[0] != "order_exists=1" || !strings.HasPrefix(want[1], "price_at_most_500=") || want[1] == "price_at_most_500=0" {
		t.Fatalf("nexus check --format json: the failed checks of silver.order_items are %v, want order_exists=1 (the quarantined orphan) and price_at_most_500 with rows", want)
	}
	if !slices.Equal(fromRun, want) {
		t.Errorf("after the run the page shows the failing checks %v; nexus check --format json says %v", fromRun, want)
	}
	// The server looks for a newer version of the lake every 2 s (its
	// RefreshEvery): the check's verdicts show from the next look on. The
	// wait is for the page to name the check: its failing checks are the
	// run's already.
	after := shown()
	by := eval("from", `document.querySelector('#checks p').textContent`)
	for deadline := time.Now().Add(30 * time.Second); (!slices.Equal(after, want) || !strings.Contains(by, "from check ")) && time.Now().Before(deadline); {
		time.Sleep(500 * time.Millisecond)
		after = shown()
		by = eval("from", `document.querySelector('#checks p').textContent`)
	}
	if !slices.Equal(after, want) {
		t.Errorf("after nexus check the page shows the failing checks %v; nexus check --format json says %v", after, want)
	}
	if !strings.Contains(by, "from check ") {
		t.Errorf("after nexus check, the verdicts are said to come %q", by)
	}
	// The run's verdict of order_exists is on the page nexus docs wrote.
	open("file://" + filepath.Join(siteDir, "silver.order_items.html"))
	follow("follow the quarantine link", `#checks tr[data-check="order_exists"] a[data-quarantine]`)
	if q := eval("quarantined", `(document.querySelector(':target') || {textContent: ''}).textContent`); !strings.Contains(q, "order_exists") || !strings.Contains(q, "ffffffffffffffffffffffffffffffff") {
		t.Errorf("the quarantine link shows %q", q)
	}
	screenshot("docs-quarantine.png")

	// The lineage page: every table of the graph, drawn, each a link.
	open(docs + "lineage.html")
	g, _ := pipeline.LoadGraph("")
	if n := eval("nodes", `String(document.querySelectorAll('svg.lineage [data-node]').length)`); n != fmt.Sprint(len(g.Models)+len(g.Sources)) {
		t.Errorf("the lineage page draws %s tables, the graph has %d", n, len(g.Models)+len(g.Sources))
	}
	screenshot("docs-lineage.png")
	follow("click gold.fact_sales in the graph", `svg.lineage a[data-node="gold.fact_sales"]`)
	if h := eval("title", `document.querySelector('h1').textContent`); h != "gold.fact_sales" {
		t.Errorf("the graph's gold.fact_sales leads to %q", h)
	}

	// The site nexus docs wrote works from disk, search included.
	open("file://" + filepath.Join(siteDir, "index.html"))
	run("search from disk", chromedp.SendKeys(chromedp.CSS(`#search`), "customer_unique_id"), chromedp.WaitVisible(chromedp.CSS(`body[data-search] #search-results a`)))
	follow("open the first hit", `#search-results a`)
	if loc := eval("location", `location.href`); !strings.HasPrefix(loc, "file://") || !strings.Contains(loc, "#col-customer_unique_id") {
		t.Errorf("the first hit for customer_unique_id from disk is %s", loc)
	}
}

// TestDocsReadOnlyLake: nexus docs works on a lake it cannot write and
// changes nothing in it.
func TestDocsReadOnlyLake(t *testing.T) {
	dir := t.TempDir()
	nexus(t, dir, false, "generate", "--out", "src", "--scale", "0.01", "--seed", "3")
	nexus(t, dir, false, "run", "--source", "src", "--no-reports")
	lakeDir := filepath.Join(dir, "lake")
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(out, 0o777); err != nil { // the umask took write access from others
		t.Fatal(err)
	}
	prefix := readOnlyPrefix(t, dir, lakeDir)
	before := laketest.TreeState(t, lakeDir)
	args := append(append([]string{}, prefix...), nexusBin, "--lake", lakeDir, "docs", "--out", filepath.Join(out, "site"))
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "HOME="+os.TempDir())
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nexus docs on a read-only lake: %v\n%s", err, b)
	}
	if after := laketest.TreeState(t, lakeDir); after != before {
		t.Errorf("nexus docs changed the lake:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if _, err := os.Stat(filepath.Join(out, "site", "gold.fact_sales.html")); err != nil {
		t.Errorf("no page written: %v", err)
	}
}
