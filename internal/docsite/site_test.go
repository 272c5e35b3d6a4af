package docsite

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/laketest"
	"github.com/keystone/nexus/internal/olist"
	"github.com/keystone/nexus/internal/pipeline/pipelinetest"
)

// badOrderItem is an item of an order that does not exist: the Silver gate
// quarantines it (order_exists), so the lake has a failing check and a
// quarantined row to link to.
const badOrderItem = `"ffffffffffffffffffffffffffffffff",1,cd6dcb61e6b2f1580860e5706281ddc7,"066fe59ec878e6027326b53c9c12af38",2018-07-17 06:40:18,76.90,32.18`

var testLake string // a lake built once from a generated data set

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "setup:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "nexus-docsite-test")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	lk, err := pipelinetest.Build(context.Background(), dir, olist.GenOptions{Scale: 0.02, Seed: 1}, func(src string) error {
		f, err := os.OpenFile(filepath.Join(src, "olist_order_items_dataset.csv"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		if _, err := f.WriteString(badOrderItem + "\n"); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
	if err != nil {
		return 0, err
	}
	testLake = lk.Root
	return m.Run(), nil
}

// generate documents the test lake's current snapshot, opened read-only.
func generate(t *testing.T, now time.Time) (Files, *lake.Lake) {
	t.Helper()
	ctx := context.Background()
	lk, err := lake.OpenRead(testLake)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Open(ctx, lk, engine.Options{MemoryLimit: "1GB", Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	files, err := Generate(ctx, lk, eng, Config{Name: "test", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return files, lk
}

var (
	attrRef = regexp.MustCompile(`\b(href|src)="([^"]*)"`)
	attrID  = regexp.MustCompile(`\bid="([^"]*)"`)
)

// crawl checks every link and asset reference of every page of dir: each
// names a file of the site, and an anchor an id on that page. Nothing is
// loaded from elsewhere. It returns the pages linked from index.html.
func crawl(t *testing.T, dir string) (fromIndex []string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]map[string]bool{}
	pages := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		ids[e.Name()] = map[string]bool{}
		if strings.HasSuffix(e.Name(), ".html") {
			pages[e.Name()] = string(b)
			for _, m := range attrID.FindAllStringSubmatch(string(b), -1) {
				ids[e.Name()][m[1]] = true
			}
		}
	}
	links := 0
	for name, body := range pages {
		for _, m := range attrRef.FindAllStringSubmatch(body, -1) {
			ref := strings.ReplaceAll(m[2], "&amp;", "&")
			u, err := url.Parse(ref)
			if err != nil || u.Scheme != "" || u.Host != "" || strings.HasPrefix(ref, "/") {
				t.Errorf("%s: %s=%q does not stay in the site", name, m[1], ref)
				continue
			}
			links++
			target := u.Path
			if target == "" {
				target = name
			}
			if _, ok := ids[target]; !ok {
				t.Errorf("%s: link %q: no file %s", name, ref, target)
				continue
			}
			if u.Fragment != "" && !ids[target][u.Fragment] {
				t.Errorf("%s: link %q: no id %q on %s", name, ref, u.Fragment, target)
			}
			if name == "index.html" && strings.HasSuffix(target, ".html") && !slices.Contains(fromIndex, target) {
				fromIndex = append(fromIndex, target)
			}
		}
	}
	if links == 0 {
		t.Fatal("no link found")
	}
	return fromIndex
}

// TestEveryTableHasAPageAndEveryLinkResolves generates the site of a real
// lake into a directory and crawls it.
func TestEveryTableHasAPageAndEveryLinkResolves(t *testing.T) {
	before := laketest.TreeState(t, testLake)
	files, lk := generate(t, time.Now())
	if after := laketest.TreeState(t, testLake); after != before {
		t.Errorf("generating the docs changed the lake:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	dir := t.TempDir()
	if err := files.Write(dir); err != nil {
		t.Fatal(err)
	}
	fromIndex := crawl(t, dir)
	tables := lk.Tables()
	if len(tables) < 40 {
		t.Fatalf("the test lake has %d tables", len(tables))
	}
	for _, ts := range tables {
		page := PageOf(ts.Name)
		if _, ok := files[page]; !ok {
			t.Errorf("no page for %s", ts.Name)
		}
		if !slices.Contains(fromIndex, page) {
			t.Errorf("index.html does not link %s", page)
		}
	}
	// Every column of every table is searchable and has its row.
	idx := string(files["search-index.js"])
	for _, ts := range tables {
		for _, c := range ts.Manifest.Schema {
			entry := fmt.Sprintf(`"n":"%s.%s"`, ts.Name, c.Name)
			if !strings.Contains(idx, entry) {
				t.Errorf("the search index has no %s", entry)
			}
			if !strings.Contains(string(files[PageOf(ts.Name)]), `id="`+ColumnAnchor(c.Name)+`"`) {
				t.Errorf("%s has no row for column %s", PageOf(ts.Name), c.Name)
			}
		}
	}
	// The failing check links to its quarantined row.
	oi := string(files["silver.order_items.html"])
	if !strings.Contains(oi, `data-check="order_exists" data-verdict="fail" data-failed="1"`) ||
		!strings.Contains(oi, `href="quarantine.silver_order_items.html#check-order_exists"`) {
		t.Errorf("silver.order_items.html does not show order_exists failing with a link to its row")
	}
	if q := string(files["quarantine.silver_order_items.html"]); !strings.Contains(q, "ffffffffffffffffffffffffffffffff") {
		t.Errorf("the quarantine page does not show the quarantined item")
	}
	// Documentation from the sources of truth: a model header's column
	// description, the contract's, the lineage columns'.
	for page, want := range map[string]string{
		"gold.fact_sales.html":     "Share of the order&#39;s payments allocated to this item",
		"bronze.orders.html":       "One row per order, with its status and lifecycle timestamps",
		"bronze.order_items.html":  "Physical line of the source file where the record starts",
		"silver.order_items.html":  "Ids of the keep rules of the quality suite the row fails",
		"gold.fact_sales.html#sql": "ref(&#39;silver.order_items&#39;)",
	} {
		p, _, _ := strings.Cut(page, "#")
		if !strings.Contains(string(files[p]), want) {
			t.Errorf("%s does not say %q", page, want)
		}
	}
}

// TestDeterministic: the same snapshot at the same time gives the same site.
func TestDeterministic(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	a, _ := generate(t, now)
	b, _ := generate(t, now)
	if !slices.Equal(a.Names(), b.Names()) {
		t.Fatalf("files differ: %v vs %v", a.Names(), b.Names())
	}
	for _, n := range a.Names() {
		if string(a[n]) != string(b[n]) {
			t.Errorf("%s differs between two generations of the same snapshot", n)
		}
	}
}
