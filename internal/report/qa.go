package report

import (
	"fmt"
	"html"
	"html/template"
	"strings"
	"time"
)

// QA is one anticipated question of the executive Q&A with its answer, whose
// figures are computed from the lake. DeckData.QA is the one source of the
// deck's Q&A slide and of docs/qa.md (internal/docgen).
type QA struct {
	Question string
	Answer   []Span
}

// Span is a piece of an answer.
type Span struct {
	Kind SpanKind
	Text string
}

// SpanKind says what a piece of an answer is, so that each medium can show
// it its own way (HTML, Markdown, a slide's text runs).
type SpanKind uint8

const (
	SpanText SpanKind = iota // prose
	SpanNum                  // a figure computed from the lake, emphasized
	SpanCode                 // a command to run
)

func txt(s string) Span                 { return Span{SpanText, s} }
func num(s string) Span                 { return Span{SpanNum, s} }
func txtf(format string, a ...any) Span { return txt(fmt.Sprintf(format, a...)) }

// QA returns the anticipated questions with the answers d's numbers give.
// Provenance (which run, when) is left to each medium: an answer holds only
// what the lake's data decides, so that it is the same for the same data.
func (d *DeckData) QA() []QA {
	k := d.A.KPIs
	var out []QA

	out = append(out, QA{"How much revenue is at risk from late deliveries?", []Span{
		num(FormatBRL(d.Late.LateRevenue)), txtf(" (%s of revenue) sits in ", FormatPct(d.LateShareOfRevenue(), 1)),
		num(FormatInt(d.Late.LateOrders)), txt(" late orders, and "), num(FormatPct(d.LateP.ShareLowScores, 1)),
		txtf(" of those customers left 1–2 stars, %s× the on-time rate.", FormatNumber(d.LowRatio, 1)),
	}})

	out = append(out, QA{"How many customers come back?", []Span{
		num(FormatInt(d.Repeaters)), txt(" of "), num(FormatInt(k.Customers)),
		txtf(" (%s) bought more than once. The top 10%% by lifetime value average %s orders vs %s for the rest.",
			FormatPct(k.RepeatRate, 1), FormatNumber(d.A.CLV.Top.AvgOrders, 2), FormatNumber(d.A.CLV.Rest.AvgOrders, 2)),
	}})

	var trust []Span
	if q := d.Quality; q.Found {
		trust = append(trust, txt("The latest verdicts of the "), num(fmt.Sprint(d.Checks)),
			txtf(" checks, over %s rows: %s; %s rows are in quarantine with their reasons.",
				FormatInt(q.RowsChecked), q.Verdicts(), FormatInt(d.QuarantineRows)))
	} else {
		trust = append(trust, txt("No quality run is recorded yet: run "), Span{SpanCode, "nexus run"}, txt("."))
	}
	if q := d.Quality; q.Reconciles > 0 {
		trust = append(trust, txt(" "), num(fmt.Sprintf("%d of %d", q.ReconPass, q.Reconciles)),
			txt(" reconciliation checks (each layer's counts and totals against its source) passed."))
	}
	out = append(out, QA{"Is the data trustworthy?", trust})

	var grow []Span
	if g := d.Growth; g.Found {
		span := fmt.Sprintf("revenue from %s to %s was ", month(g.From), month(g.To))
		if g.Rate >= 0 {
			grow = append(grow, txt("Yes: "+span), num(FormatBRL(g.Cur)), txt(", up "), num(FormatPct(g.Rate, 1)))
		} else {
			grow = append(grow, txt("No: "+span), num(FormatBRL(g.Cur)), txt(", down "), num(FormatPct(-g.Rate, 1)))
		}
		grow = append(grow, txtf(" on the same months a year before (%s). The best month was %s with ", FormatBRL(g.Prev), month(g.PeakMonth)),
			num(FormatBRL(g.PeakRevenue)))
		if g.Trimmed > 0 {
			grow = append(grow, txtf("; %d partial or thin months at the edges of the data are left out", g.Trimmed))
		}
		grow = append(grow, txt("."))
	} else {
		grow = append(grow, txt("The data does not cover the same months in two years yet."))
	}
	out = append(out, QA{"Is the business growing?", grow})

	where := []Span{txt(d.TopState.State + " alone is "), num(FormatPct(d.TopStateShare, 1)),
		txt(" of revenue and the top 3 states "), num(FormatPct(d.Top3States, 1)), txt(".")}
	if d.WorstState.State != "" {
		where = append(where, txtf(" The highest late share among larger states is %s at ", d.WorstState.State),
			num(FormatPct(d.WorstState.LateShare, 1)), txt("."))
	}
	out = append(out, QA{"Where are the customers?", where})

	rv := d.A.ReviewVsSales
	out = append(out, QA{"Do better reviews sell more?", []Span{
		txtf("%s: across ", corrWord(rv.ProductCorrUnits)), num(FormatInt(rv.Products)),
		txt(" reviewed products the correlation of average review with units sold is "), num(FormatNumber(rv.ProductCorrUnits, 2)),
		txtf(" (with revenue %s). Reviews track delivery experience (finding 2) more than they drive demand.", FormatNumber(rv.ProductCorrRevenue, 2)),
	}})
	return out
}

// QAColumns splits the questions into the slide's two columns.
func (d *DeckData) QAColumns() [][]QA {
	qa := d.QA()
	h := (len(qa) + 1) / 2
	return [][]QA{qa[:h], qa[h:]}
}

// Verdicts is the one-line count of verdicts: "140 pass · 5 warn · 0 fail".
func (q QualitySummary) Verdicts() string {
	return fmt.Sprintf("%d pass · %d warn · %d fail", q.Pass, q.Warn, q.Fail)
}

func month(t time.Time) string { return t.Format("Jan 2006") }

// AnswerHTML renders the answer for the deck: figures in <span class="num">,
// a currency symbol kept on the line of its amount.
func (q QA) AnswerHTML() template.HTML {
	var b strings.Builder
	for _, s := range q.Answer {
		t := strings.ReplaceAll(html.EscapeString(s.Text), "$ ", "$\u00a0")
		switch s.Kind {
		case SpanNum:
			b.WriteString(`<span class="num">` + t + `</span>`)
		case SpanCode:
			b.WriteString("<code>" + t + "</code>")
		default:
			b.WriteString(t)
		}
	}
	return template.HTML(b.String())
}

// AnswerMarkdown renders the answer as Markdown: figures in bold, commands
// as code.
func (q QA) AnswerMarkdown() string {
	var b strings.Builder
	for _, s := range q.Answer {
		switch s.Kind {
		case SpanNum:
			b.WriteString("**" + MarkdownEscape(s.Text) + "**")
		case SpanCode:
			b.WriteString("`" + s.Text + "`")
		default:
			b.WriteString(MarkdownEscape(s.Text))
		}
	}
	return b.String()
}

// MarkdownEscape escapes the characters Markdown would read as markup.
func MarkdownEscape(s string) string { return mdEscaper.Replace(s) }

var mdEscaper = strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`, "<", `&lt;`, "|", `\|`)
