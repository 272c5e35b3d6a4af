package report

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keystone/nexus/internal/analytics"
)

// deckLayoutJS checks the active slide as laid out by the browser and
// returns one line per problem:
//   - the key hint and the page counter must not cover the slide;
//   - an edge of the architecture diagram must not run through a table's box
//     (points of each path, away from its ends, outside every box);
//   - no two texts of a chart may overlap (axis labels colliding).
const deckLayoutJS = `(function () {
  var out = [];
  var slide = document.querySelector('.slide.active');
  var sr = slide.getBoundingClientRect();
  ['#help', '#counter'].forEach(function (sel) {
    var r = document.querySelector(sel).getBoundingClientRect();
    if (r.width && r.right > sr.left && r.left < sr.right && r.bottom > sr.top && r.top < sr.bottom) {
      out.push(sel + ' covers the slide');
    }
  });
  slide.querySelectorAll('svg.arch').forEach(function (svg) {
    var boxes = Array.prototype.filter.call(svg.querySelectorAll('rect'), function (r) { return r.getAttribute('fill') === '#fff'; })
      .map(function (r) { return { x: +r.getAttribute('x'), y: +r.getAttribute('y'), w: +r.getAttribute('width'), h: +r.getAttribute('height') }; });
    svg.querySelectorAll('path[marker-end]').forEach(function (p, k) {
      var len = p.getTotalLength();
      for (var d = 8; d < len - 8; d += 2) {
        var pt = p.getPointAtLength(d);
        boxes.forEach(function (b) {
          if (pt.x > b.x + 1 && pt.x < b.x + b.w - 1 && pt.y > b.y + 1 && pt.y < b.y + b.h - 1) {
            out.push('edge ' + k + ' (' + p.getAttribute('d').slice(0, 40) + ') crosses a box at ' + Math.round(pt.x) + ',' + Math.round(pt.y));
            d = len;
          }
        });
      }
    });
  });
  out = out.concat(textOverlaps(slide, 0));
  return out.join('\n');
})()`

// textOverlapsJS defines textOverlaps(root, gapEm): texts of the charts
// (SVG, not the architecture) under root on the same line that overlap or
// come closer than gapEm times their height. Two lines of one label
// (stacked) touch by their font boxes: texts are on the same line when they
// share half the height of the smaller one.
const textOverlapsJS = `function textOverlaps(root, gapEm) {
  var out = [];
  root.querySelectorAll('svg').forEach(function (svg) {
    if (svg.classList.contains('arch')) { return; }
    var texts = Array.prototype.map.call(svg.querySelectorAll('text'), function (t) { return { t: t.textContent, r: t.getBoundingClientRect() }; })
      .filter(function (x) { return x.t.trim() !== '' && x.r.width > 0; });
    for (var i = 0; i < texts.length; i++) {
      for (var j = i + 1; j < texts.length; j++) {
        var a = texts[i].r, b = texts[j].r;
        var ox = Math.min(a.right, b.right) - Math.max(a.left, b.left), oy = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        var h = Math.min(a.height, b.height);
        if (ox > -gapEm * h && oy > 0.5 * h) {
          out.push((svg.getAttribute('aria-label') || svg.id || 'chart') + ': texts collide: "' + texts[i].t + '" and "' + texts[j].t + '"');
        }
      }
    }
  });
  return out;
}`

// deckBrowser starts headless Chromium for the test, or skips it (fails it
// when NEXUS_REQUIRE_BROWSER=1).
func deckBrowser(t *testing.T) context.Context {
	t.Helper()
	browser := FindBrowser()
	if browser == "" {
		if os.Getenv("NEXUS_REQUIRE_BROWSER") == "1" {
			t.Fatal("Chromium is required (NEXUS_REQUIRE_BROWSER=1)")
		}
		t.Skip("Chromium not installed: the deck's layout is not checked")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 720),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("hide-scrollbars", true),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(cancelC)
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelT)
	return ctx
}

// checkDeckLayout opens the deck at 1280×720 (a laptop screen in full
// screen) and checks every slide with deckLayoutJS.
func checkDeckLayout(t *testing.T, deckHTML string, slides int) {
	ctx := deckBrowser(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 720), chromedp.Navigate("file://"+deckHTML)); err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= slides; n++ {
		if n > 1 { // the deck's own keyboard navigation
			if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowRight', cancelable: true}))`)); err != nil {
				t.Fatal(err)
			}
		}
		title, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('.slide.active').dataset.title`))
		if err != nil {
			t.Fatal(err)
		}
		problems, err := chromedp.Run(ctx, chromedp.Evaluate[string]("(function () {"+textOverlapsJS+"; return "+deckLayoutJS+"; })()"))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range strings.Split(problems, "\n") {
			if p != "" {
				t.Errorf("slide %d (%s): %s", n, title, p)
			}
		}
	}
}

// TestChartTextsDoNotCollide draws the RFM chart at the deck's and the
// files' sizes, with the numbers of a demo lake (the panels' end ticks
// "3,000" and "R$ 0" ran together), and checks in the browser that texts on
// one line stay at least one text height apart.
func TestChartTextsDoNotCollide(t *testing.T) {
	a := sampleAnalyses()
	a.RFM.Segments = nil
	for _, s := range []struct {
		name string
		n    int64
		rev  float64
	}{{"champions", 94, 31_700}, {"loyal", 100, 24_000}, {"potential", 1385, 381_000}, {"new", 2252, 116_000},
		{"need attention", 1801, 254_000}, {"at risk", 784, 292_000}, {"hibernating", 1488, 117_000}, {"lost", 1506, 119_000}} {
		a.RFM.Segments = append(a.RFM.Segments, analytics.Segment{Name: s.name, Customers: s.n, Revenue: s.rev, Share: s.rev / 1_334_000})
	}
	var page strings.Builder
	page.WriteString(`<!doctype html><html><body style="margin:0">`)
	for _, size := range [][2]int{{ChartWidth, ChartHeight}, {960, 540}} {
		for _, ch := range []*Chart{RFMChart(a.RFM)} {
			ch.Width, ch.Height = size[0], size[1]
			svg, err := ch.InlineSVG()
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&page, `<div style="width:%dpx">%s</div>`, size[0], svg)
		}
	}
	page.WriteString(`</body></html>`)
	file := filepath.Join(t.TempDir(), "charts.html")
	if err := os.WriteFile(file, []byte(page.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := deckBrowser(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1400, 900), chromedp.Navigate("file://"+file)); err != nil {
		t.Fatal(err)
	}
	problems, err := chromedp.Run(ctx, chromedp.Evaluate[string]("(function () {"+textOverlapsJS+"; return textOverlaps(document, 1).join('\\n'); })()"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Split(problems, "\n") {
		if p != "" {
			t.Error(p)
		}
	}
}
