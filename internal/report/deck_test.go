package report

import (
	"bytes"
	"context"
	"encoding/xml"
	stdhtml "html"
	"image"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keystone/nexus/internal/analytics"
	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/olist"
	"github.com/keystone/nexus/internal/pipeline"
	"github.com/keystone/nexus/internal/pipeline/pipelinetest"
)

// buildTestLake generates a small Olist data set and runs the pipeline on it.
func buildTestLake(t *testing.T) (*lake.Lake, *engine.Engine) {
	t.Helper()
	ctx := context.Background()
	lk, err := pipelinetest.Build(ctx, t.TempDir(), olist.GenOptions{Scale: 0.02, Seed: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Open(ctx, lk, engine.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return lk, eng
}

// checksRE finds "147 quality checks", "<b>147</b>quality checks" and the
// architecture's "gate: 90 checks".
var checksRE = regexp.MustCompile(`(gate: )?(\d+)(?:</b>|</span>)? ?(?:quality )?checks\b`)

var sectionRE = regexp.MustCompile(`<section class="slide[^"]*" data-title="([^"]*)"`)

// TestReportsOnGeneratedLake builds one lake and checks the charts, the deck
// HTML and the deck PDF generated from it.
func TestReportsOnGeneratedLake(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a lake")
	}
	lk, eng := buildTestLake(t)
	ctx := context.Background()

	t.Run("charts", func(t *testing.T) {
		dir := t.TempDir()
		files, err := WriteCharts(ctx, eng.DB(), dir)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"monthly_sales", "top_categories", "rfm_segments", "review_punctuality", "delivery_days", "state_revenue_map"}
		if len(files) != len(want) {
			t.Fatalf("%d charts, want %d", len(files), len(want))
		}
		for i, f := range files {
			if f.Name != want[i] {
				t.Errorf("chart %d is %s, want %s", i, f.Name, want[i])
			}
			b, err := os.ReadFile(f.PNG)
			if err != nil {
				t.Fatal(err)
			}
			cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
			if err != nil || format != "png" || cfg.Width != ChartWidth || cfg.Height != ChartHeight {
				t.Errorf("%s: %s %dx%d %v", f.PNG, format, cfg.Width, cfg.Height, err)
			}
			s, err := os.ReadFile(f.SVG)
			if err != nil {
				t.Fatal(err)
			}
			if err := xml.Unmarshal(s, new(struct{})); err != nil {
				t.Errorf("%s does not parse: %v", f.SVG, err)
			}
			if !bytes.Contains(s, []byte(xmlEscape(f.Title))) {
				t.Errorf("%s lacks its title %q", f.SVG, f.Title)
			}
		}
	})

	var files DeckFiles
	deckDir := t.TempDir()
	t.Run("deck_html", func(t *testing.T) {
		dir := deckDir
		d, err := BuildDeck(ctx, eng.DB(), lk)
		if err != nil {
			t.Fatal(err)
		}
		files, err = WriteDeck(ctx, eng.DB(), lk, dir)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(files.HTML)
		if err != nil {
			t.Fatal(err)
		}
		html := string(b)
		titles := sectionRE.FindAllStringSubmatch(html, -1)
		if len(titles) != deckSlides {
			t.Errorf("%d slides, want %d", len(titles), deckSlides)
		}
		for _, want := range []string{"Title", "Executive summary", "Business value", "Technical solution",
			"Finding 1", "Finding 2", "Finding 3", "Recommendations", "Risks and mitigations",
			"Cost: Athena vs Redshift", "Appendix: anticipated questions"} {
			found := false
			for _, m := range titles {
				found = found || strings.HasPrefix(m[1], want)
			}
			if !found {
				t.Errorf("no slide %q", want)
			}
		}
		// the computed numbers appear as formatted
		k := d.A.KPIs
		for _, want := range []string{
			FormatBRL(k.Revenue), FormatInt(k.Orders), FormatInt(k.Customers), FormatPct(k.RepeatRate, 1),
			FormatPct(d.A.TopCategories.Top3Share, 1), FormatPct(k.LateShare, 1), FormatInt(d.Late.LateOrders),
			FormatUSD(d.Cost.Scenarios[0].AthenaUSD), FormatUSD(d.Cost.Scenarios[1].RedshiftUSD),
			FormatDecimalBytes(float64(d.LakeBytes)), d.Quality.RunID,
		} {
			if !strings.Contains(strings.ReplaceAll(html, "$\u00a0", "$ "), template_escape(want)) {
				t.Errorf("deck lacks %q", want)
			}
		}
		if d.Quality.RunID == "" || d.Quality.Checks == 0 {
			t.Errorf("no quality run found: %+v", d.Quality)
		}
		// The headline numbers are labelled and defined as in the CLI and
		// the dashboard.
		for _, def := range analytics.KPIDefs {
			if !strings.Contains(stdhtml.UnescapeString(html), `<div class="l">`+strings.ToLower(def.Label)+`</div><div class="h">`+def.Def+`</div>`) {
				t.Errorf("deck lacks the KPI %s defined as %q", def.Key, def.Def)
			}
		}
		// One number of checks on every slide, the one the run summary
		// prints; the gates of the architecture slide add up to it.
		hist, err := pipeline.History(lk, 1)
		if err != nil || len(hist) != 1 {
			t.Fatalf("history: %v", err)
		}
		ran := len(hist[0].Results)
		gates, mentions := 0, 0
		for _, m := range checksRE.FindAllStringSubmatch(html, -1) {
			n, _ := strconv.Atoi(m[2])
			if m[1] != "" {
				gates += n
				continue
			}
			mentions++
			if n != ran {
				t.Errorf("deck says %q; the run checked %d", m[0], ran)
			}
		}
		if mentions < 3 || gates != ran {
			t.Errorf("%d mentions of the number of checks, gates add up to %d; the run checked %d", mentions, gates, ran)
		}
		for _, bad := range []string{"NaN", "Inf", "n/a", "%!"} {
			if strings.Contains(html, bad) {
				t.Errorf("deck shows %q: a number failed to compute or format", bad)
			}
		}
		// self-contained: nothing loaded from the network
		if m := regexp.MustCompile(`(src|href)="https?://`).FindString(html); m != "" {
			t.Errorf("deck loads from the network: %s", m)
		}
		// every chart inline, the architecture names the layers
		if n := strings.Count(html, "<svg"); n < 7 {
			t.Errorf("%d inline svgs, want >= 7 (6 charts + architecture)", n)
		}
		for _, want := range []string{"gold.fact_sales", "fact_sales", "silver", "gate:", "Quarantine"} {
			if !strings.Contains(html, want) {
				t.Errorf("architecture lacks %q", want)
			}
		}
		if !strings.Contains(html, "@page") || !strings.Contains(html, "page-break-after") || !strings.Contains(html, "ArrowRight") {
			t.Errorf("deck lacks print CSS or keyboard navigation")
		}
	})

	t.Run("deck_layout", func(t *testing.T) {
		if files.HTML == "" {
			t.Skip("deck_html failed")
		}
		checkDeckLayout(t, files.HTML, deckSlides)
	})

	t.Run("deck_pdf", func(t *testing.T) {
		if FindBrowser() == "" {
			if os.Getenv("NEXUS_REQUIRE_BROWSER") == "1" {
				t.Fatal("Chromium is required (NEXUS_REQUIRE_BROWSER=1) but none of chromium, chromium-browser, google-chrome is on PATH")
			}
			t.Skip("Chromium not installed (chromium, chromium-browser or google-chrome on PATH): no PDF to check; set NEXUS_REQUIRE_BROWSER=1 to make this a failure")
		}
		if files.HTML == "" {
			t.Skip("deck_html failed")
		}
		if files.PDF == "" {
			t.Fatalf("Chromium present but no PDF: %s", files.PDFNote)
		}
		b, err := os.ReadFile(files.PDF)
		if err != nil {
			t.Fatal(err)
		}
		if n := pdfPages(b); n != deckSlides {
			t.Errorf("PDF has %d pages, want %d (one per slide)", n, deckSlides)
		}
		if out := os.Getenv("NEXUS_DECK_OUT"); out != "" {
			os.MkdirAll(out, 0o755)
			copyFile(t, files.PDF, filepath.Join(out, "deck.pdf"))
			copyFile(t, files.HTML, filepath.Join(out, "deck.html"))
		}
	})
}

const deckSlides = 14

var pageRE = regexp.MustCompile(`/Type\s*/Page\b[^s]`)

// pdfPages counts page objects (/Type /Page, not /Pages).
func pdfPages(b []byte) int { return len(pageRE.FindAll(b, -1)) }

func copyFile(t *testing.T, from, to string) {
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// template_escape is how html/template writes a string in text context.
func template_escape(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;", "+", "&#43;")
	return r.Replace(s)
}

func TestPDFPageCount(t *testing.T) {
	pdf := []byte("1 0 obj << /Type /Pages /Count 2 >>\n2 0 obj << /Type /Page /Parent 1 0 R >>\n3 0 obj <</Type/Page/Parent 1 0 R>>\n")
	if n := pdfPages(pdf); n != 2 {
		t.Errorf("%d pages, want 2", n)
	}
}

// TestReportsOnLakeDir generates charts and deck from an existing lake
// (NEXUS_REPORT_LAKE, e.g. a scale-1 lake) into NEXUS_REPORT_OUT and logs the
// time taken; skipped otherwise. The lake is only read (the engine may write
// under its _nexus/tmp).
func TestReportsOnLakeDir(t *testing.T) {
	root := os.Getenv("NEXUS_REPORT_LAKE")
	if root == "" {
		t.Skip("set NEXUS_REPORT_LAKE to a lake (and NEXUS_REPORT_OUT) to time the reports at scale")
	}
	out := os.Getenv("NEXUS_REPORT_OUT")
	if out == "" {
		out = t.TempDir()
	}
	ctx := context.Background()
	lk, err := lake.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Open(ctx, lk, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	start := time.Now()
	a, err := LoadAnalyses(ctx, eng.DB(), analytics.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	analyses := time.Since(start)
	start = time.Now()
	files, err := WriteChartFiles(BuildCharts(a), filepath.Join(out, "charts"))
	if err != nil {
		t.Fatal(err)
	}
	charts := time.Since(start)
	start = time.Now()
	d, err := BuildDeckFrom(ctx, eng.DB(), lk, a)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := RenderDeck(&buf, d); err != nil {
		t.Fatal(err)
	}
	deckHTML := time.Since(start)
	start = time.Now()
	df, err := WriteDeckFrom(ctx, eng.DB(), lk, a, filepath.Join(out, "deck"))
	if err != nil {
		t.Fatal(err)
	}
	deckAll := time.Since(start)
	t.Logf("analyses %s · %d charts (png+svg) %s · deck html %s · deck html+pdf %s (%s %s %s)",
		analyses, len(files), charts, deckHTML, deckAll, df.HTML, df.PDF, df.PDFNote)
	t.Logf("kpis: %+v", d.A.KPIs)
}
