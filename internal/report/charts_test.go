package report

import (
	"bytes"
	"encoding/xml"
	"image"
	_ "image/png"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keystone/nexus/internal/analytics"
)

func TestFormatters(t *testing.T) {
	cases := []struct {
		got, want string
	}{
		{FormatInt(0), "0"},
		{FormatInt(999), "999"},
		{FormatInt(1000), "1,000"},
		{FormatInt(1234567), "1,234,567"},
		{FormatInt(-1234567), "-1,234,567"},
		{FormatInt(100000), "100,000"},
		{FormatBRL(0), "R$ 0"},
		{FormatBRL(1234567.4), "R$ 1,234,567"},
		{FormatBRL(1234567.5), "R$ 1,234,568"},
		{FormatBRL(999.49), "R$ 999"},
		{FormatBRL(-1500), "-R$ 1,500"},
		{FormatBRL(-0.2), "R$ 0"},
		{FormatBRLCents(1234.5), "R$ 1,234.50"},
		{FormatBRLCents(0.456), "R$ 0.46"},
		{FormatUSD(12345.678), "US$ 12,345.68"},
		{FormatNumber(1234.567, 1), "1,234.6"},
		{FormatNumber(-0.04, 1), "0.0"},
		{FormatBRLShort(950), "R$ 950"},
		{FormatBRLShort(12500), "R$ 12.5k"},
		{FormatBRLShort(1234567), "R$ 1.23M"},
		{FormatBRLShort(15_000_000), "R$ 15M"},
		{FormatBRLShort(250_000), "R$ 250k"},
		{FormatBRLShort(2.1e9), "R$ 2.1B"},
		{FormatPct(0.1234, 1), "12.3%"},
		{FormatPct(1, 0), "100%"},
		{FormatBytes(512), "512 B"},
		{FormatBytes(1536), "1.5 KiB"},
		{FormatBytes(3 << 30), "3.0 GiB"},
	}
	for i, c := range cases {
		if c.got != c.want {
			t.Errorf("case %d: got %q, want %q", i, c.got, c.want)
		}
	}
}

func fp(v float64) *float64 { return &v }

// sampleAnalyses are hand-built results shaped like the scale-1 data.
func sampleAnalyses() *analytics.Results {
	r := rand.New(rand.NewPCG(1, 2))
	a := &analytics.Results{}
	start := time.Date(2016, 9, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 26; i++ {
		o := int64(200 + i*280 + r.IntN(600))
		if i == 14 {
			o += 3000 // Black Friday
		}
		a.MonthlySales = append(a.MonthlySales, analytics.MonthPoint{Month: start.AddDate(0, i, 0), Orders: o, Revenue: float64(o) * (120 + r.Float64()*20), MoM: fp(0.1)})
	}
	cats := []string{"health_beauty", "watches_gifts", "bed_bath_table", "sports_leisure", "computers_accessories",
		"furniture_decor", "cool_stuff", "housewares", "auto", "garden_tools"}
	for i, c := range cats {
		rev := 1_260_000 - float64(i)*95_000
		a.TopCategories.ByRevenue = append(a.TopCategories.ByRevenue, analytics.Ranked{Key: c, Label: c, Revenue: rev, Orders: int64(rev / 130), Share: rev / 13_591_643})
	}
	a.TopCategories.Top3Share = 0.258
	a.ReviewVsSales = analytics.ReviewSales{ByPunctuality: []analytics.PunctualityRow{
		{Label: "on time", Orders: 88_644, AvgScore: 4.29, ShareLowScores: 0.096},
		{Label: "late", Orders: 7_826, AvgScore: 2.57, ShareLowScores: 0.542},
	}}
	a.RFM.ReferenceDate = time.Date(2018, 10, 18, 0, 0, 0, 0, time.UTC)
	for i, n := range []string{"champions", "loyal", "potential", "new", "at risk", "hibernating", "lost"} {
		c := int64(20000 - i*2300 + r.IntN(1000))
		a.RFM.Segments = append(a.RFM.Segments, analytics.Segment{Name: n, Customers: c, Revenue: float64(c) * (250 - float64(i)*25), Share: 0.3 - float64(i)*0.04})
	}
	ufs := []string{"SP", "RJ", "MG", "RS", "PR", "SC", "BA", "DF", "GO", "ES", "PE", "CE", "PA", "MT", "MA", "MS", "PB", "PI", "RN", "AL", "SE", "TO", "RO", "AM", "AC", "AP", "RR"}
	rev := 5_200_000.0
	for _, uf := range ufs {
		a.Geography.States = append(a.Geography.States, analytics.StateRow{State: uf, Orders: int64(rev / 140), Revenue: rev, LateShare: 0.05 + r.Float64()*0.2, AvgDeliveryDays: 8 + r.Float64()*20})
		rev *= 0.72
	}
	var bins []analytics.Bin
	for d := 0; d < 60; d += 2 {
		x := float64(d) + 1
		c := int64(12000 * x / 10 * (1 / (1 + (x/9)*(x/9)*(x/9))))
		bins = append(bins, analytics.Bin{Lo: float64(d), Hi: float64(d + 2), Count: c})
	}
	bins = append(bins, analytics.Bin{Lo: 200, Hi: 202, Count: 3})
	a.Delivery = analytics.DeliveryResult{AvgDays: 12.5, P50: 10.2, P90: 23.1, P95: 29.4, LateShare: 0.081, Histogram: bins}
	a.KPIs = analytics.KPIs{Revenue: 13_591_643, Orders: 98_666, AOV: 160.99, Customers: 95_420, RepeatRate: 0.031, AvgReview: 4.09, LateShare: 0.081}
	return a
}

func checkChart(t *testing.T, ch *Chart) {
	t.Helper()
	pngb, err := ch.PNG()
	if err != nil {
		t.Fatalf("%s: png: %v", ch.Name, err)
	}
	img, format, err := image.Decode(bytes.NewReader(pngb))
	if err != nil || format != "png" {
		t.Fatalf("%s: decode png: %v (%s)", ch.Name, err, format)
	}
	if b := img.Bounds(); b.Dx() != ChartWidth || b.Dy() != ChartHeight {
		t.Errorf("%s: png is %dx%d, want %dx%d", ch.Name, b.Dx(), b.Dy(), ChartWidth, ChartHeight)
	}
	svg, err := ch.SVG()
	if err != nil {
		t.Fatalf("%s: svg: %v", ch.Name, err)
	}
	dec := xml.NewDecoder(bytes.NewReader(svg))
	var texts []string
	root := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: svg does not parse: %v", ch.Name, err)
		}
		switch v := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = v.Name.Local
			}
		case xml.CharData:
			texts = append(texts, string(v))
		}
	}
	if root != "svg" {
		t.Errorf("%s: svg root element is %q", ch.Name, root)
	}
	all := strings.Join(texts, "\n")
	if !strings.Contains(all, ch.Title) {
		t.Errorf("%s: svg lacks its title %q", ch.Name, ch.Title)
	}
	if dir := os.Getenv("NEXUS_CHART_DIR"); dir != "" {
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, ch.Name+".png"), pngb, 0o644)
		os.WriteFile(filepath.Join(dir, ch.Name+".svg"), svg, 0o644)
	}
}

func TestChartsRenderHandBuilt(t *testing.T) {
	charts := BuildCharts(sampleAnalyses())
	if len(charts) != 6 {
		t.Fatalf("%d charts", len(charts))
	}
	for _, ch := range charts {
		t.Run(ch.Name, func(t *testing.T) { checkChart(t, ch) })
	}
	// written in parallel, each as a PNG and an SVG
	files, err := WriteChartFiles(BuildCharts(sampleAnalyses()), t.TempDir())
	if err != nil || len(files) != 6 {
		t.Fatalf("write charts: %v (%d files)", err, len(files))
	}
	for _, f := range files {
		for _, p := range []string{f.PNG, f.SVG} {
			if st, err := os.Stat(p); err != nil || st.Size() == 0 {
				t.Errorf("%s: %v", p, err)
			}
		}
	}
	// expected values in the drawing
	svg, _ := StateMapChart(sampleAnalyses().Geography.States).SVG()
	for _, want := range []string{"SP", "RR", "R$ 5.2M", "Top states"} {
		if !bytes.Contains(svg, []byte(want)) {
			t.Errorf("state map lacks %q", want)
		}
	}
	svg, _ = CategoryChart(sampleAnalyses().TopCategories).SVG()
	if !bytes.Contains(svg, []byte("R$ 1,260,000")) || !bytes.Contains(svg, []byte("25.8%")) {
		t.Errorf("category chart lacks the formatted revenue or top-3 share")
	}
}

func TestChartsEmptyData(t *testing.T) {
	// no data is an error naming the chart, not a panic
	ch := MonthlyChart(nil)
	if _, err := ch.PNG(); err == nil || !strings.Contains(err.Error(), "monthly_sales") {
		t.Errorf("empty monthly chart: %v", err)
	}
}
