package report

import (
	"bytes"
	stdhtml "html"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keystone/nexus/internal/analytics"
	"github.com/keystone/nexus/internal/catalog"
)

func TestQARendering(t *testing.T) {
	for _, tc := range []struct {
		name     string
		answer   []Span
		html, md string
	}{
		{"figure", []Span{txt("sits in "), num("R$ 1,234"), txt(".")},
			"sits in <span class=\"num\">R$\u00a01,234</span>.", "sits in **R$ 1,234**."},
		{"every currency symbol kept with its amount", []Span{txt("from R$ 1 to R$ 2")},
			"from R$\u00a01 to R$\u00a02", "from R$ 1 to R$ 2"},
		{"command", []Span{txt("run "), {SpanCode, "nexus run"}},
			"run <code>nexus run</code>", "run `nexus run`"},
		{"markup escaped", []Span{txt("a <b> & c_d *e* [f] |g|")},
			"a &lt;b&gt; &amp; c_d *e* [f] |g|", `a &lt;b> & c\_d \*e\* \[f\] \|g\|`},
	} {
		q := QA{Question: tc.name, Answer: tc.answer}
		if got := string(q.AnswerHTML()); got != tc.html {
			t.Errorf("%s: HTML %q, want %q", tc.name, got, tc.html)
		}
		if got := q.AnswerMarkdown(); got != tc.md {
			t.Errorf("%s: Markdown %q, want %q", tc.name, got, tc.md)
		}
	}
}

// qaDeck is deck data with the numbers the Q&A uses.
func qaDeck(found bool) *DeckData {
	d := &DeckData{
		A: &analytics.Results{
			KPIs:          analytics.KPIs{Revenue: 1000, Orders: 10, Customers: 8, RepeatRate: 0.25, LateShare: 0.1},
			CLV:           analytics.CLVResult{Top: analytics.Cohort{AvgOrders: 2}, Rest: analytics.Cohort{AvgOrders: 1}},
			ReviewVsSales: analytics.ReviewSales{Products: 7, ProductCorrUnits: 0.05, ProductCorrRevenue: 0.04},
		},
		Late:           LateImpact{LateOrders: 1, DeliveredOrders: 10, LateRevenue: 100},
		Quality:        QualitySummary{Found: found, RunID: "r1", Started: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), Checks: 3, Pass: 2, Warn: 1, RowsChecked: 500, Reconciles: 1, ReconPass: 1},
		Checks:         3,
		QuarantineRows: 4,
		Repeaters:      2,
		OnTime:         analytics.PunctualityRow{Label: "on time", Orders: 9, AvgScore: 4.5, ShareLowScores: 0.1},
		LateP:          analytics.PunctualityRow{Label: "late", Orders: 1, AvgScore: 2, ShareLowScores: 0.5},
		LowRatio:       5,
		TopState:       analytics.StateRow{State: "SP"},
		TopStateShare:  0.4,
		Top3States:     0.7,
		WorstState:     analytics.StateRow{State: "BA", LateShare: 0.2},
		Cost: NewCostModel([]LayerSize{{Layer: "gold", Tables: 1, Rows: 10, Bytes: 1 << 20}},
			&catalog.Footprint{Tables: 1, Files: 1, Bytes: 1 << 20, Queries: []catalog.QueryScan{{Analysis: "kpis", Bytes: 1 << 20, Tables: 1, Files: 1}}},
			catalog.DefaultUsage()),
		Growth: Growth{Found: true, From: time.Date(2018, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2018, 8, 1, 0, 0, 0, 0, time.UTC),
			Cur: 600, Prev: 400, Rate: 0.5, PeakMonth: time.Date(2017, 11, 1, 0, 0, 0, 0, time.UTC), PeakRevenue: 90, Trimmed: 2},
	}
	return d
}

var tagRE = regexp.MustCompile(`<[^>]+>`)

// plain is the text of an HTML fragment, spaces collapsed.
func plain(s string) string {
	return strings.Join(strings.Fields(stdhtml.UnescapeString(tagRE.ReplaceAllString(s, " "))), " ")
}

// TestQASlideIsQA: the deck's Q&A slide shows DeckData.QA, question by
// question (the source docs/qa.md is rendered from too), and the answers
// hold the figures they are about.
func TestQASlideIsQA(t *testing.T) {
	for _, found := range []bool{true, false} {
		d := qaDeck(found)
		var buf bytes.Buffer
		if err := RenderDeck(&buf, d); err != nil {
			t.Fatal(err)
		}
		html := buf.String()
		i := strings.Index(html, `data-title="Appendix: anticipated questions"`)
		if i < 0 {
			t.Fatal("no Q&A slide")
		}
		slide := html[i : i+strings.Index(html[i:], "</section>")]
		qa := d.QA()
		if len(qa) != 6 {
			t.Errorf("%d questions, want 6", len(qa))
		}
		var want []string
		for _, q := range qa {
			want = append(want, q.Question, string(q.AnswerHTML()))
		}
		body := slide[strings.Index(slide, "<h3>"):strings.Index(slide, `<div class="foot">`)]
		if got, w := plain(body), plain(strings.Join(want, " ")); got != w {
			t.Errorf("found=%v: the slide says\n%s\nDeckData.QA says\n%s", found, got, w)
		}
		if found != strings.Contains(slide, "run r1, 2026-01-02 03:04 UTC") {
			t.Errorf("found=%v: the slide's footer does not say which run the verdicts are from:\n%s", found, slide)
		}
	}
	md := map[string]string{}
	for _, q := range qaDeck(true).QA() {
		md[q.Question] = q.AnswerMarkdown()
	}
	for q, want := range map[string][]string{
		"How much revenue is at risk from late deliveries?": {"**R$ 100**", "(10.0% of revenue)", "**1** late orders", "**50.0%**", "5.0× the on-time rate"},
		"How many customers come back?":                     {"**2** of **8** (25.0%)", "average 2.00 orders vs 1.00"},
		"Is the data trustworthy?":                          {"**3** checks, over 500 rows: 2 pass · 1 warn · 0 fail; 4 rows", "**1 of 1** reconciliation"},
		"Is the business growing?":                          {"Yes: revenue from Jan 2018 to Aug 2018 was **R$ 600**, up **50.0%**", "(R$ 400)", "Nov 2017 with **R$ 90**", "2 partial or thin months"},
		"Where are the customers?":                          {"SP alone is **40.0%**", "top 3 states **70.0%**", "BA at **20.0%**"},
		"Do better reviews sell more?":                      {"No: across **7** reviewed products", "is **0.05** (with revenue 0.04)"},
	} {
		for _, w := range want {
			if !strings.Contains(md[q], w) {
				t.Errorf("%s: answer %q lacks %q", q, md[q], w)
			}
		}
	}
}
