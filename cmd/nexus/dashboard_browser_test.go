package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/keystone/nexus/internal/analytics"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/olist"
	"github.com/keystone/nexus/internal/pipeline"
)

// findChromium returns the browser to drive, or skips the test (fails it when
// NEXUS_REQUIRE_BROWSER=1, as in CI).
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("NEXUS_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("NEXUS_REQUIRE_BROWSER") == "1" {
		t.Fatal("Chromium not found (looked for /usr/bin/chromium, chromium, chromium-browser, google-chrome) and NEXUS_REQUIRE_BROWSER=1")
	}
	t.Skip("Chromium not found (install Debian's chromium, or set NEXUS_CHROMIUM); skipping the browser test")
	return ""
}

// page drives a browser tab of a test against a served lake: run does the
// steps, eval returns a script's value; a failure stops the test with the
// server's stderr (run) or the script's error (eval).
type page struct {
	t      *testing.T
	ctx    context.Context
	stderr *bytes.Buffer
}

func (p page) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v\nserver stderr:\n%s", what, err, p.stderr.String())
	}
}

func (p page) eval(what, expr string) string {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
	return v
}

func browser(t *testing.T, execPath string) (context.Context, context.CancelFunc) {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(execPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 1000),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	// A JavaScript exception in the page fails the test.
	cancel := func() { cancelT(); cancelC(); cancelA() }
	err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg += " " + d.Exception.Description
			}
			t.Errorf("JavaScript exception at %s:%d:%d: %s", d.URL, d.LineNumber+1, d.ColumnNumber+1, msg)
		}
	})
	if err != nil {
		cancel()
		t.Fatalf("start %s: %v", execPath, err)
	}
	return ctx, cancel
}

// buildTestLake generates a small data set and runs the pipeline on it.
func buildTestLake(t *testing.T) string { return buildLake(t, nil) }

// buildLake generates a data set (scale 0.02), lets edit change its files,
// and runs the pipeline on it into a new lake, whose root it returns.
func buildLake(t *testing.T, edit func(src string)) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "source")
	ctx := context.Background()
	if _, err := olist.Generate(ctx, src, olist.GenOptions{Scale: 0.02, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(src)
	}
	lk, err := lake.Open(filepath.Join(dir, "lake"))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := pipeline.Run(ctx, lk, pipeline.Options{SourceDir: src})
	if err != nil {
		t.Fatal(err)
	}
	if err := sum.Err(); err != nil {
		t.Fatalf("pipeline run: %v", err)
	}
	return lk.Root
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// jsFixed is JavaScript's Number.prototype.toFixed for v >= 0: the exact
// binary value rounded to d decimals, ties up.
func jsFixed(v float64, d int) string {
	x := new(big.Float).SetPrec(256).SetFloat64(v)
	scale := new(big.Float).SetPrec(256).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d)), nil))
	x.Mul(x, scale).Add(x, big.NewFloat(0.5))
	n, _ := x.Int(nil) // truncates toward zero = floor for positives
	s := n.String()
	if d == 0 {
		return s
	}
	for len(s) <= d {
		s = "0" + s
	}
	return s[:len(s)-d] + "." + s[len(s)-d:]
}

// groupThousands puts commas in the integer part of a decimal string.
func groupThousands(s string) string {
	intPart, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if hasFrac {
		return b.String() + "." + frac
	}
	return b.String()
}

// expectedCards formats KPIs as the dashboard's cards must show them.
func expectedCards(k analytics.KPIs) map[string]string {
	return map[string]string{
		"revenue":     "R$ " + groupThousands(jsFixed(k.Revenue, 2)),
		"orders":      groupThousands(jsFixed(float64(k.Orders), 0)),
		"aov":         "R$ " + groupThousands(jsFixed(k.AOV, 2)),
		"customers":   groupThousands(jsFixed(float64(k.Customers), 0)),
		"repeat_rate": jsFixed(k.RepeatRate*100, 1) + "%",
		"avg_review":  jsFixed(k.AvgReview, 2) + " / 5",
		"late_share":  jsFixed(k.LateShare*100, 1) + "%",
	}
}

// fire dispatches a DOM event on the element sel, as the browser does when a
// user changes a field.
func fire(sel, event string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		expr := fmt.Sprintf(`document.querySelector(%q).dispatchEvent(new Event(%q, {bubbles: true}))`, sel, event)
		_, err := chromedp.Evaluate[bool](expr)(ctx, t)
		return chromedp.Void{}, err
	}
}

const readCards = `(() => { const o = {}; document.querySelectorAll('[data-kpi]').forEach(c => { o[c.dataset.kpi] = c.querySelector('.value').textContent; }); return o; })()`

func checkCards(t *testing.T, what string, got map[string]string, k analytics.KPIs) {
	t.Helper()
	want := expectedCards(k)
	if len(got) != len(want) {
		t.Errorf("%s: cards %v, want %v", what, got, want)
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: card %s shows %q, the API says %q", what, name, got[name], w)
		}
	}
}

// takeScreenshot saves a full-page screenshot of the browser's page.
func takeScreenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	saveScreenshot(t, name, png)
}

func saveScreenshot(t *testing.T, name string, png []byte) {
	t.Helper()
	dirs := []string{t.TempDir()}
	if d := os.Getenv("NEXUS_SCREENSHOT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot %s (%d bytes)", p, len(png))
	}
}

// TestDashboardBrowser starts the real binary's `nexus serve`, opens the
// dashboard in Chromium, checks that the KPI cards show what the API returns,
// filters on a state and sees them change; then opens the static export.
func TestDashboardBrowser(t *testing.T) {
	chromium := findChromium(t)
	lakeDir := buildTestLake(t)
	srv := startServe(t, lakeDir)
	base, out, errb, stop := srv.base, &srv.out, &srv.errb, srv.stop

	var all analytics.KPIs
	getJSON(t, base+"/api/kpis", &all)
	// Filter on the state with the second highest revenue: a real, visible change.
	var geo analytics.Geo
	getJSON(t, base+"/api/geography", &geo)
	if len(geo.States) < 2 {
		t.Fatalf("geo: %+v", geo)
	}
	states := append([]analytics.StateRow(nil), geo.States...)
	for i := range states { // by revenue, descending
		for j := i + 1; j < len(states); j++ {
			if states[j].Revenue > states[i].Revenue {
				states[i], states[j] = states[j], states[i]
			}
		}
	}
	state := states[1].State
	var one analytics.KPIs
	getJSON(t, base+"/api/kpis?state="+state, &one)

	ctx, cancel := browser(t, chromium)
	defer cancel()
	run := page{t, ctx, errb}.run
	value := func(what string, a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(ctx, a)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	cardsNow := func(what string) map[string]string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](readCards))
		if err != nil {
			t.Fatalf("%s: read cards: %v", what, err)
		}
		return v
	}
	screenshot := func(name string) { t.Helper(); takeScreenshot(t, ctx, name) }

	run("open the dashboard", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="all"]`)))
	before := cardsNow("unfiltered")
	screenshot("dashboard.png")
	checkCards(t, "unfiltered", before, all)
	if fr := value("freshness", chromedp.Text(chromedp.CSS(`#freshness`))); !strings.Contains(fr, "Last run") || !strings.Contains(fr, "passed") {
		t.Errorf("freshness panel: %q", fr)
	}
	if charts, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.chart svg').length`)); err != nil || charts != 6 {
		t.Errorf("%d charts drawn, want 6 (%v)", charts, err)
	}
	// The tables read their analyses by registry name too.
	tableRows := func(what string) {
		t.Helper()
		for _, c := range []struct {
			sel  string
			want int
		}{{`#t-products tbody tr`, 10}, {`#t-states tbody tr`, 10}} {
			if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('`+c.sel+`').length`)); err != nil || n != c.want {
				t.Errorf("%s: %s has %d rows, want %d (%v)", what, c.sel, n, c.want, err)
			}
		}
	}
	tableRows("live")

	// Pick the state in the select, as a user would.
	run("filter on state "+state,
		chromedp.SetValue(chromedp.CSS(`#f-state`), state),
		fire(`#f-state`, "change"),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`body[data-loaded="state=%s"]`, state))))
	after := cardsNow("state=" + state)
	screenshot("dashboard-" + state + ".png")
	checkCards(t, "state="+state, after, one)
	if after["revenue"] == before["revenue"] || after["orders"] == before["orders"] {
		t.Errorf("cards did not change with state=%s: %v -> %v", state, before, after)
	}
	if loc := value("location", chromedp.Evaluate[string](`location.search`)); loc != "?state="+state {
		t.Errorf("after the filter the address has %q", loc)
	}

	// A bad date range shows the API's error instead of stale numbers.
	run("bad date range",
		chromedp.SetValue(chromedp.CSS(`#f-from`), "2018-06-01"),
		chromedp.SetValue(chromedp.CSS(`#f-to`), "2017-01-01"),
		fire(`#f-to`, "change"),
		chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="error"]`)))
	if e := value("error banner", chromedp.Text(chromedp.CSS(`#error`))); !strings.Contains(e, "to") || !strings.Contains(e, "before") {
		t.Errorf("error banner: %q", e)
	}

	stop()
	if !strings.Contains(out.String(), "stopped") {
		t.Errorf("nexus serve output: %q", out.String())
	}

	// The static export shows the same unfiltered numbers from disk.
	expDir := t.TempDir()
	nexus(t, expDir, false, "--lake", lakeDir, "report", "dashboard", "--out", expDir)
	run("open the static export", chromedp.Navigate("file://"+filepath.Join(expDir, "dashboard.html")),
		chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="all"]`)))
	checkCards(t, "static export", cardsNow("static export"), all)
	tableRows("static export")
	screenshot("dashboard-static.png")
	if disabled, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#filters fieldset').disabled`)); err != nil || !disabled {
		t.Errorf("the static export's filters are not disabled (%v)", err)
	}

	// On a phone (400 px) the page does not scroll sideways: wide tables
	// scroll inside their panels.
	run("open on a phone", chromedp.EmulateViewport(400, 900),
		chromedp.Navigate("file://"+filepath.Join(expDir, "dashboard.html")),
		chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="all"]`)))
	if w := value("page width", chromedp.Evaluate[string](`document.documentElement.scrollWidth + ' / ' + document.documentElement.clientWidth`)); w != "400 / 400" {
		t.Errorf("at 400 px the page is %s px wide (scroll width / viewport): it scrolls sideways", w)
	}
	screenshot("dashboard-phone.png")
}
