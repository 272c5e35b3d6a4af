package report

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/keystone/nexus/internal/analytics"
	"github.com/keystone/nexus/internal/catalog"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/pipeline"
	"github.com/keystone/nexus/internal/quality"
)

// DeckFiles are the files WriteDeck wrote. PDF is empty when no Chromium
// was found; PDFNote then says so.
type DeckFiles struct {
	HTML    string `json:"html"`
	PPTX    string `json:"pptx"`
	PDF     string `json:"pdf,omitempty"`
	PDFNote string `json:"pdf_note,omitempty"`
}

// DeckData is everything the deck shows, computed at generation time.
type DeckData struct {
	Generated time.Time
	LakeRoot  string
	A         *analytics.Results

	// charts, inline SVG
	MonthlySVG, CategorySVG, RFMSVG, PunctualitySVG, DeliverySVG, MapSVG template.HTML
	ArchSVG                                                              template.HTML
	charts                                                               []*Chart // the same drawings, for the .pptx's PNGs

	Layers         []LayerSize
	BronzeRows     int64
	Tables         int
	Models         int
	LakeBytes      int64
	QuarantineRows int64
	Checks         int // checks the gates run (Quality.Checks once a run recorded them)

	Quality QualitySummary
	Late    LateImpact
	Cost    CostModel

	// derived numbers
	Top3Names     []string
	Top10Share    float64
	Repeaters     int64
	ReviewNow     float64 // average review of delivered orders (on time and late)
	ReviewOnTime  float64 // what it would be if late orders scored like on-time ones
	OnTime, LateP analytics.PunctualityRow
	LowRatio      float64 // late 1–2 star share / on-time share
	Champions     analytics.Segment
	AtRisk        analytics.Segment // at risk + hibernating + lost
	TopState      analytics.StateRow
	TopStateShare float64
	Top3States    float64
	WorstState    analytics.StateRow // highest late share among states with >= 1% of orders
	RepeatLiftUSD float64            // revenue of +1 pp repeat rate, R$
	RepeatLiftN   int64
	Growth        Growth
}

// Growth compares the latest year's months with the same months a year
// before, leaving out the thin partial months at the edges of the data.
type Growth struct {
	Found       bool
	From, To    time.Time // months of the latest year compared
	Cur, Prev   float64   // revenue
	Rate        float64
	PeakMonth   time.Time
	PeakRevenue float64
	Trimmed     int // edge months left out: partial or thin (analytics.Comparable)
}

// QualitySummary is the current verdict of every check (the newest run
// that checked each table).
type QualitySummary struct {
	RunID       string // the newest run that contributed verdicts
	Started     time.Time
	Checks      int
	Pass        int
	Warn        int
	Fail        int
	RowsChecked int64
	Reconciles  int // reconcile checks (layer vs layer counts and totals)
	ReconPass   int
	ByLayer     map[string]int // checks per layer (silver, gold)
	Found       bool
}

// LateImpact is revenue tied to late deliveries.
type LateImpact struct {
	LateOrders      int64
	DeliveredOrders int64
	LateRevenue     float64
}

// LateShareOfRevenue is the late orders' share of all revenue.
func (d *DeckData) LateShareOfRevenue() float64 {
	if d.A.KPIs.Revenue == 0 {
		return 0
	}
	return d.Late.LateRevenue / d.A.KPIs.Revenue
}

// WriteDeck generates the executive deck into dir: deck.html (one
// self-contained file), the PowerPoint deck (PPTXName) and, when Chromium
// is installed, deck.pdf.
func WriteDeck(ctx context.Context, db *sql.DB, lk *lake.Lake, dir string) (DeckFiles, error) {
	a, err := LoadAnalyses(ctx, db, analytics.Filter{})
	if err != nil {
		return DeckFiles{}, err
	}
	return WriteDeckFrom(ctx, db, lk, a, dir)
}

// WriteReports writes the charts into chartsDir and the deck into deckDir,
// running the analyses once for both.
func WriteReports(ctx context.Context, db *sql.DB, lk *lake.Lake, chartsDir, deckDir string) ([]ChartFile, DeckFiles, error) {
	a, err := LoadAnalyses(ctx, db, analytics.Filter{})
	if err != nil {
		return nil, DeckFiles{}, err
	}
	charts, err := WriteChartFiles(BuildCharts(a), chartsDir)
	if err != nil {
		return nil, DeckFiles{}, err
	}
	deck, err := WriteDeckFrom(ctx, db, lk, a, deckDir)
	return charts, deck, err
}

// WriteDeckFrom is WriteDeck with the analyses already run.
func WriteDeckFrom(ctx context.Context, db *sql.DB, lk *lake.Lake, a *analytics.Results, dir string) (DeckFiles, error) {
	d, err := BuildDeckFrom(ctx, db, lk, a)
	if err != nil {
		return DeckFiles{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return DeckFiles{}, fmt.Errorf("report directory: %w", err)
	}
	var buf bytes.Buffer
	if err := RenderDeck(&buf, d); err != nil {
		return DeckFiles{}, err
	}
	files := DeckFiles{HTML: filepath.Join(dir, "deck.html")}
	if err := writeFileAtomic(files.HTML, buf.Bytes()); err != nil {
		return files, err
	}
	files.PPTX = filepath.Join(dir, PPTXName(dir))
	if err := writePPTX(buf.Bytes(), d, files.PPTX); err != nil {
		return files, err
	}
	browser := FindBrowser()
	if browser == "" {
		files.PDFNote = "no PDF: Chromium not found on PATH (looked for chromium, chromium-browser, google-chrome); install it to get deck.pdf"
		return files, nil
	}
	pdf := filepath.Join(dir, "deck.pdf")
	if err := PrintPDF(ctx, browser, files.HTML, pdf); err != nil {
		return files, err
	}
	files.PDF = pdf
	return files, nil
}

// BuildDeck runs the analyses and gathers the lake's metadata.
func BuildDeck(ctx context.Context, db *sql.DB, lk *lake.Lake) (*DeckData, error) {
	a, err := LoadAnalyses(ctx, db, analytics.Filter{})
	if err != nil {
		return nil, err
	}
	return BuildDeckFrom(ctx, db, lk, a)
}

// BuildDeckFrom gathers the deck's data around analyses already run.
func BuildDeckFrom(ctx context.Context, db *sql.DB, lk *lake.Lake, a *analytics.Results) (*DeckData, error) {
	d := &DeckData{Generated: time.Now().UTC(), LakeRoot: lk.Root, A: a}
	var err error
	if d.Late, err = lateImpact(ctx, db); err != nil {
		return nil, err
	}
	// manifests: sizes per layer
	ms, err := lk.Manifests()
	if err != nil {
		return nil, err
	}
	byLayer := map[string]*LayerSize{}
	var order []string
	for _, m := range ms {
		l := byLayer[m.Layer]
		if l == nil {
			l = &LayerSize{Layer: m.Layer}
			byLayer[m.Layer] = l
			order = append(order, m.Layer)
		}
		l.Tables++
		l.Rows += m.Rows
		l.Bytes += m.Bytes
		d.Tables++
		d.LakeBytes += m.Bytes
	}
	for _, name := range order {
		d.Layers = append(d.Layers, *byLayer[name])
	}
	if l := byLayer[lake.Bronze]; l != nil {
		d.BronzeRows = l.Rows
	}
	if l := byLayer[lake.Quarantine]; l != nil {
		d.QuarantineRows = l.Rows
	}
	// The cost slide: the lake's bill as `nexus catalog cost` prices it.
	fp, err := catalog.Measure(ctx, db, lk, ms)
	if err != nil {
		return nil, fmt.Errorf("cost slide: %w", err)
	}
	d.Cost = NewCostModel(d.Layers, fp, catalog.DefaultUsage())

	// the pipeline's own graph and gates
	g, err := pipeline.LoadGraph("")
	if err != nil {
		return nil, err
	}
	d.Models = len(g.Models)
	_, suites, err := pipeline.LoadGated("")
	if err != nil {
		return nil, err
	}
	if d.Quality, err = latestQuality(lk); err != nil {
		return nil, err
	}
	// One number of checks on every slide: the verdicts the gates recorded,
	// as the run summary counts them (row accounting included).
	d.Checks = d.Quality.Checks
	if !d.Quality.Found {
		for _, s := range suites {
			d.Checks += len(s.Checks)
		}
	}
	d.ArchSVG = template.HTML(ArchitectureSVG(ArchInput{Graph: g, Suites: suites, Checks: d.Quality.ByLayer, QuarantineRows: d.QuarantineRows}))
	d.derive()
	if err := d.drawCharts(); err != nil {
		return nil, err
	}
	return d, nil
}

// drawCharts draws the deck's charts as inline SVG, in parallel.
func (d *DeckData) drawCharts() error {
	charts := BuildCharts(d.A)
	d.charts = charts
	for _, ch := range charts[1:4] {
		// the findings' charts sit beside text: draw them on a smaller
		// canvas so that their text is larger once scaled
		ch.Width, ch.Height = 960, 540
	}
	targets := []*template.HTML{&d.MonthlySVG, &d.CategorySVG, &d.RFMSVG, &d.PunctualitySVG, &d.DeliverySVG, &d.MapSVG}
	errs := make([]error, len(charts))
	var wg sync.WaitGroup
	for i, ch := range charts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := ch.InlineSVG()
			*targets[i], errs[i] = template.HTML(b), err
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func lateImpact(ctx context.Context, db *sql.DB) (LateImpact, error) {
	var li LateImpact
	var rev sql.NullFloat64
	err := db.QueryRowContext(ctx, `
		SELECT count(DISTINCT order_id) FILTER (WHERE is_late),
		       count(DISTINCT order_id) FILTER (WHERE is_late IS NOT NULL),
		       sum(price) FILTER (WHERE is_late)::DOUBLE
		FROM gold.fact_sales WHERE is_sale`).Scan(&li.LateOrders, &li.DeliveredOrders, &rev)
	if err != nil {
		return li, fmt.Errorf("late revenue: %w", err)
	}
	li.LateRevenue = rev.Float64
	return li, nil
}

// latestQuality summarizes the current verdict of every check: for each
// table, the newest run that checked it (see pipeline.LatestVerdicts).
func latestQuality(lk *lake.Lake) (QualitySummary, error) {
	var q QualitySummary
	hist, err := pipeline.VerdictHistory(lk, 0)
	if err != nil {
		return q, err
	}
	v := pipeline.LatestVerdicts(hist)
	if !v.Found() {
		return q, nil
	}
	n := v.Newest()
	q.Found, q.RunID, q.Started = true, n.RunID, n.Started
	q.ByLayer = map[string]int{}
	for _, r := range v.Results {
		q.Checks++
		layer, _, _ := strings.Cut(r.Table, ".")
		q.ByLayer[layer]++
		q.RowsChecked += r.RowsChecked
		if r.Kind == quality.KindReconcile {
			q.Reconciles++
			if r.Verdict == quality.VerdictPass {
				q.ReconPass++
			}
		}
		switch r.Verdict {
		case quality.VerdictPass:
			q.Pass++
		case quality.VerdictWarn:
			q.Warn++
		default:
			q.Fail++
		}
	}
	return q, nil
}

func (d *DeckData) derive() {
	a := d.A
	for i, r := range a.TopCategories.ByRevenue {
		if i < 3 {
			d.Top3Names = append(d.Top3Names, strings.ReplaceAll(r.Label, "_", " "))
		}
		if i < 10 { // the deck says "the top 10" whatever the registry's default limit
			d.Top10Share += r.Share
		}
	}
	d.Repeaters = int64(math.Round(a.KPIs.RepeatRate * float64(a.KPIs.Customers)))
	on, late, ok := punctuality(a.ReviewVsSales.ByPunctuality)
	if ok {
		d.OnTime, d.LateP = on, late
		if on.ShareLowScores > 0 {
			d.LowRatio = late.ShareLowScores / on.ShareLowScores
		}
		if n := on.Orders + late.Orders; n > 0 {
			d.ReviewOnTime = on.AvgScore
			d.ReviewNow = (on.AvgScore*float64(on.Orders) + late.AvgScore*float64(late.Orders)) / float64(n)
		}
	}
	for _, s := range a.RFM.Segments {
		switch s.Name {
		case "champions":
			d.Champions = s
		case "at risk", "hibernating", "lost":
			d.AtRisk.Customers += s.Customers
			d.AtRisk.Revenue += s.Revenue
			d.AtRisk.Share += s.Share
		}
	}
	states := append([]analytics.StateRow(nil), a.Geography.States...)
	sort.Slice(states, func(i, j int) bool { return states[i].Revenue > states[j].Revenue })
	var total float64
	var orders int64
	for _, s := range states {
		total += s.Revenue
		orders += s.Orders
	}
	if len(states) > 0 && total > 0 {
		d.TopState = states[0]
		d.TopStateShare = states[0].Revenue / total
		for i := 0; i < 3 && i < len(states); i++ {
			d.Top3States += states[i].Revenue / total
		}
	}
	for _, s := range states {
		if orders > 0 && float64(s.Orders) >= 0.01*float64(orders) && s.LateShare > d.WorstState.LateShare {
			d.WorstState = s
		}
	}
	d.Growth = growth(a.MonthlySales)
	d.RepeatLiftN = int64(math.Round(0.01 * float64(a.KPIs.Customers)))
	d.RepeatLiftUSD = float64(d.RepeatLiftN) * a.KPIs.AOV
}

func growth(pts []analytics.MonthPoint) Growth {
	var g Growth
	var maxOrders int64
	for _, p := range pts {
		if p.Orders > maxOrders {
			maxOrders = p.Orders
		}
		if p.Revenue > g.PeakRevenue {
			g.PeakRevenue, g.PeakMonth = p.Revenue, p.Month
		}
	}
	lo, hi := 0, len(pts)
	for lo < hi && !analytics.Comparable(pts[lo], maxOrders) {
		lo++
	}
	for hi > lo && !analytics.Comparable(pts[hi-1], maxOrders) {
		hi--
	}
	g.Trimmed = len(pts) - (hi - lo)
	if hi <= lo {
		return g
	}
	core := pts[lo:hi]
	last := core[len(core)-1].Month
	rev := map[time.Time]float64{}
	for _, p := range core {
		rev[p.Month] = p.Revenue
	}
	for _, p := range core {
		if p.Month.Year() != last.Year() {
			continue
		}
		prev, ok := rev[p.Month.AddDate(-1, 0, 0)]
		if !ok {
			continue
		}
		if !g.Found {
			g.From = p.Month
		}
		g.Found, g.To = true, p.Month
		g.Cur += p.Revenue
		g.Prev += prev
	}
	if g.Found && g.Prev > 0 {
		g.Rate = g.Cur/g.Prev - 1
	} else {
		g.Found = false
	}
	return g
}

// listJoin writes "A, b and c" (first letter capitalized).
func listJoin(items []string) string {
	var s string
	switch len(items) {
	case 0:
		return ""
	case 1:
		s = items[0]
	default:
		s = strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
	}
	return capitalize(s)
}

func corrWord(r float64) string {
	switch a := math.Abs(r); {
	case a < 0.1:
		return "No"
	case a < 0.3:
		return "Weakly"
	case a < 0.5:
		return "Moderately"
	}
	return "Strongly"
}

// nbsp keeps a currency symbol on the line of its amount.
func nbsp(s string) string { return strings.Replace(s, "$ ", "$\u00a0", 1) }

func usdCost(v float64) string {
	if v > 0 && v < 0.01 {
		return "US$ " + FormatNumber(v, 4)
	}
	return FormatUSD(v)
}

// RenderDeck writes the deck's HTML.
func RenderDeck(w io.Writer, d *DeckData) error {
	t, err := template.New("deck.html").Funcs(deckFuncs).ParseFS(templates, "templates/deck.html")
	if err != nil {
		return err
	}
	return t.Execute(w, d)
}

var deckFuncs = template.FuncMap{
	"brl":      func(v float64) string { return nbsp(FormatBRL(v)) },
	"brlShort": func(v float64) string { return nbsp(FormatBRLShort(v)) },
	"brlCents": func(v float64) string { return nbsp(FormatBRLCents(v)) },
	"usd":      func(v float64) string { return nbsp(usdCost(v)) },
	"label":    func(s string) string { return strings.ReplaceAll(s, "_", " ") },
	"list":     listJoin,
	"corrWord": corrWord,
	"int":      FormatInt,
	"pct":      func(v float64) string { return FormatPct(v, 1) },
	"pct0":     func(v float64) string { return FormatPct(v, 0) },
	"num1":     func(v float64) string { return FormatNumber(v, 1) },
	"num2":     func(v float64) string { return FormatNumber(v, 2) },
	"num0":     func(v float64) string { return FormatNumber(v, 0) },
	"bytes":    FormatBytes,
	"dbytes":   FormatDecimalBytes,
	"fbytes":   func(v int64) string { return FormatDecimalBytes(float64(v)) },
	"date":     func(t time.Time) string { return t.Format("2 Jan 2006") },
	"month":    func(t time.Time) string { return t.Format("Jan 2006") },
	"stamp":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"join":     strings.Join,
	"kpi":      analytics.KPIDefOf,
	"lower":    strings.ToLower,
	"title":    capitalize,
	"sub":      func(a, b float64) float64 { return a - b },
	"mul":      func(a, b float64) float64 { return a * b },
	"i2f":      func(n int64) float64 { return float64(n) },
	"neg":      func(v float64) float64 { return -v },
	"verdicts": QualitySummary.Verdicts,
}

// FindBrowser returns the path of a Chromium-family browser on PATH, or "".
func FindBrowser() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// PrintPDF prints an HTML file to PDF with headless Chromium.
func PrintPDF(ctx context.Context, browser, htmlPath, pdfPath string) error {
	abs, err := filepath.Abs(htmlPath)
	if err != nil {
		return err
	}
	profile, err := os.MkdirTemp("", "nexus-chromium-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(profile)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	tmp := pdfPath + ".tmp"
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--disable-dev-shm-usage", "--user-data-dir="+profile, "--print-to-pdf="+tmp, "--no-pdf-header-footer",
		"file://"+filepath.ToSlash(abs))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("chromium print-to-pdf: %w: %s", err, lastLines(out.String(), 5))
	}
	if st, err := os.Stat(tmp); err != nil || st.Size() == 0 {
		return fmt.Errorf("chromium wrote no PDF: %s", lastLines(out.String(), 5))
	}
	return os.Rename(tmp, pdfPath)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
