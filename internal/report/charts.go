package report

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sync"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	xfont "golang.org/x/image/font"

	"github.com/keystone/nexus/internal/analytics"
)

// Charts are drawn once with gonum.org/v1/plot's vector canvas and written
// by two backends: vgimg (PNG, rasterized with the Liberation fonts embedded
// in the binary, so no system font is needed) and vgsvg (SVG text that names
// Liberation Sans, metric-compatible with Arial, with fallbacks). The same
// drawing code serves both formats, including the hand-drawn tile map.

// Chart size in pixels: 16:9, readable on a slide.
const (
	ChartWidth  = 1200
	ChartHeight = 675
	chartDPI    = 96
)

// Chart is a rendered-on-demand figure: SVG and PNG come from the same
// drawing.
type Chart struct {
	Name     string // file base name, e.g. "monthly_sales"
	Title    string
	Subtitle string
	Note     string // footnote (source, definitions)
	Width    int    // pixels
	Height   int
	body     func(dc draw.Canvas) error
}

// ChartFile is a chart written to disk.
type ChartFile struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	PNG   string `json:"png"`
	SVG   string `json:"svg"`
}

// palette
var (
	colText    = color.RGBA{0x1f, 0x29, 0x37, 0xff}
	colMuted   = color.RGBA{0x4b, 0x55, 0x63, 0xff}
	colFaint   = color.RGBA{0x9c, 0xa3, 0xaf, 0xff}
	colGrid    = color.RGBA{0xe5, 0xe7, 0xeb, 0xff}
	colAxis    = color.RGBA{0x9c, 0xa3, 0xaf, 0xff}
	colPrimary = color.RGBA{0x25, 0x63, 0xeb, 0xff}
	colAccent  = color.RGBA{0xf9, 0x73, 0x16, 0xff}
	colGood    = color.RGBA{0x16, 0xa3, 0x4a, 0xff}
	colBad     = color.RGBA{0xdc, 0x26, 0x26, 0xff}
	colEmpty   = color.RGBA{0xf3, 0xf4, 0xf6, 0xff}
)

func px(n float64) vg.Length { return vg.Length(n) * vg.Inch / chartDPI }

func sans(size float64, bold bool) font.Font {
	f := font.Font{Typeface: "Liberation", Variant: "Sans", Size: vg.Length(size)}
	if bold {
		f.Weight = xfont.WeightBold
	}
	return f
}

func textStyle(size float64, bold bool, c color.Color) text.Style {
	return text.Style{Color: c, Font: sans(size, bold), Handler: plot.DefaultTextHandler}
}

func aligned(s text.Style, x text.XAlignment, y text.YAlignment) text.Style {
	s.XAlign, s.YAlign = x, y
	return s
}

func newChart(name, title, subtitle string, body func(dc draw.Canvas) error) *Chart {
	return &Chart{Name: name, Title: title, Subtitle: subtitle, Width: ChartWidth, Height: ChartHeight, body: body}
}

// draw paints the frame (background, title, subtitle, note) and the body.
func (ch *Chart) draw(dc draw.Canvas) error {
	r := dc.Rectangle
	dc.FillPolygon(color.White, []vg.Point{r.Min, {X: r.Max.X, Y: r.Min.Y}, r.Max, {X: r.Min.X, Y: r.Max.Y}})
	pad := px(24)
	top := r.Max.Y - pad
	title := aligned(textStyle(20, true, colText), draw.XLeft, draw.YTop)
	dc.FillText(title, vg.Point{X: r.Min.X + pad, Y: top}, ch.Title)
	top -= title.Height(ch.Title) + px(4)
	if ch.Subtitle != "" {
		sub := aligned(textStyle(13, false, colMuted), draw.XLeft, draw.YTop)
		dc.FillText(sub, vg.Point{X: r.Min.X + pad, Y: top}, ch.Subtitle)
		top -= sub.Height(ch.Subtitle)
	}
	bottom := r.Min.Y + pad*0.6
	if ch.Note != "" {
		note := aligned(textStyle(10.5, false, colFaint), draw.XLeft, draw.YBottom)
		dc.FillText(note, vg.Point{X: r.Min.X + pad, Y: bottom}, ch.Note)
		bottom += note.Height(ch.Note) + px(6)
	}
	body := draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{
		Min: vg.Point{X: r.Min.X + pad, Y: bottom},
		Max: vg.Point{X: r.Max.X - pad, Y: top - px(14)},
	}}
	return ch.body(body)
}

func (ch *Chart) size() (vg.Length, vg.Length) {
	w, h := ch.Width, ch.Height
	if w == 0 {
		w, h = ChartWidth, ChartHeight
	}
	return px(float64(w)), px(float64(h))
}

// PNG renders the chart as a PNG image of Width×Height pixels.
func (ch *Chart) PNG() ([]byte, error) { return ch.png(1) }

// png renders the chart at scale times its pixel density (the same drawing,
// sharper).
func (ch *Chart) png(scale float64) ([]byte, error) {
	w, h := ch.size()
	c := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(int(scale*chartDPI)))
	if err := ch.safeDraw(draw.New(c)); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("chart %s: png: %w", ch.Name, err)
	}
	return buf.Bytes(), nil
}

var svgFontFamily = regexp.MustCompile(`font-family:Liberation Sans;`)

// SVG renders the chart as a standalone SVG document (Width×Height pixels).
func (ch *Chart) SVG() ([]byte, error) {
	w, h := ch.size()
	c := vgsvg.NewWith(vgsvg.UseWH(w, h))
	if err := ch.safeDraw(draw.New(c)); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("chart %s: svg: %w", ch.Name, err)
	}
	// Liberation Sans is metric-compatible with Arial: viewers without it
	// keep the layout the text was measured for.
	out := svgFontFamily.ReplaceAll(buf.Bytes(), []byte(`font-family:'Liberation Sans',Arial,Helvetica,sans-serif;`))
	return out, nil
}

// InlineSVG returns the SVG without the XML prolog, scaled to its container's
// width, for embedding in HTML.
func (ch *Chart) InlineSVG() ([]byte, error) {
	b, err := ch.SVG()
	if err != nil {
		return nil, err
	}
	if i := bytes.Index(b, []byte("<svg")); i > 0 {
		b = b[i:]
	}
	b = svgSize.ReplaceAll(b, []byte(`<svg width="100%" height="100%" preserveAspectRatio="xMidYMid meet" viewBox=`))
	return b, nil
}

var svgSize = regexp.MustCompile(`<svg width="[^"]*" height="[^"]*" viewBox=`)

// safeDraw turns a panic of the plotting library (e.g. a degenerate range)
// into an error naming the chart.
func (ch *Chart) safeDraw(dc draw.Canvas) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("chart %s: %v", ch.Name, r)
		}
	}()
	return ch.draw(dc)
}

// LoadAnalyses runs every analysis the charts and the deck are drawn from:
// those of the registry that are part of the report (analytics.InReport).
func LoadAnalyses(ctx context.Context, db *sql.DB, f analytics.Filter) (*analytics.Results, error) {
	return analytics.RunAll(ctx, db, f, analytics.InReport)
}

// BuildCharts returns every chart of the analyses, in presentation order.
func BuildCharts(a *analytics.Results) []*Chart {
	return []*Chart{
		MonthlyChart(a.MonthlySales),
		CategoryChart(a.TopCategories),
		RFMChart(a.RFM),
		PunctualityChart(a.ReviewVsSales),
		DeliveryChart(a.Delivery),
		StateMapChart(a.Geography.States),
	}
}

// WriteCharts runs the analyses and writes <name>.png and <name>.svg of
// every chart into dir.
func WriteCharts(ctx context.Context, db *sql.DB, dir string) ([]ChartFile, error) {
	a, err := LoadAnalyses(ctx, db, analytics.Filter{})
	if err != nil {
		return nil, err
	}
	return WriteChartFiles(BuildCharts(a), dir)
}

// WriteChartFiles renders the charts (in parallel) into dir.
func WriteChartFiles(charts []*Chart, dir string) ([]ChartFile, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("report directory: %w", err)
	}
	out := make([]ChartFile, len(charts))
	errs := make([]error, len(charts))
	var wg sync.WaitGroup
	for i, ch := range charts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := ChartFile{Name: ch.Name, Title: ch.Title,
				PNG: filepath.Join(dir, ch.Name+".png"), SVG: filepath.Join(dir, ch.Name+".svg")}
			b, err := ch.PNG()
			if err == nil {
				err = writeFileAtomic(f.PNG, b)
			}
			if err == nil {
				b, err = ch.SVG()
			}
			if err == nil {
				err = writeFileAtomic(f.SVG, b)
			}
			out[i], errs[i] = f, err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ---- plot styling -------------------------------------------------------

func newPlot() *plot.Plot {
	p := plot.New()
	p.BackgroundColor = color.Transparent
	p.Title.TextStyle = aligned(textStyle(14, true, colText), draw.XCenter, draw.YBottom)
	p.Title.Padding = px(10)
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		ax.Label.TextStyle.Font = sans(13, false)
		ax.Label.TextStyle.Color = colMuted
		ax.Label.TextStyle.Handler = plot.DefaultTextHandler
		ax.Tick.Label.Font = sans(12, false)
		ax.Tick.Label.Color = colMuted
		ax.Tick.Label.Handler = plot.DefaultTextHandler
		ax.LineStyle = draw.LineStyle{Color: colAxis, Width: px(1)}
		ax.Tick.LineStyle = draw.LineStyle{Color: colAxis, Width: px(1)}
		ax.Tick.Length = px(5)
		ax.Padding = px(2)
	}
	p.Legend.TextStyle = textStyle(12, false, colText)
	return p
}

// valueTicks are "nice" ticks from 0 to the data maximum, labelled by
// format; axisMax is the last tick, to be used as the axis maximum.
func valueTicks(hi float64, n int, format func(float64) string) (ticks []plot.Tick, axisMax float64) {
	if hi <= 0 || math.IsNaN(hi) {
		hi = 1
	}
	// of n-1..n+1 intervals, take the step whose last tick wastes least room
	best := math.Inf(1)
	var step float64
	for k := max(n-1, 2); k <= n+1; k++ {
		s := niceStep(hi / float64(k))
		if top := math.Ceil(hi/s-1e-9) * s; top < best {
			best, step = top, s
		}
	}
	for v := 0.0; ; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: format(v)})
		if v >= hi-step*1e-9 {
			return ticks, v
		}
	}
}

func niceStep(raw float64) float64 {
	exp := math.Pow(10, math.Floor(math.Log10(raw)))
	f := raw / exp
	switch {
	case f <= 1:
		return exp
	case f <= 2:
		return 2 * exp
	case f <= 2.5:
		return 2.5 * exp
	case f <= 5:
		return 5 * exp
	}
	return 10 * exp
}

// gridLines draws light lines at the ticks of the value axis.
type gridLines struct {
	ticks      []plot.Tick
	horizontal bool // lines across a vertical value axis
}

func (g gridLines) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	sty := draw.LineStyle{Color: colGrid, Width: px(1)}
	for _, t := range g.ticks {
		if g.horizontal {
			y := trY(t.Value)
			c.StrokeLine2(sty, c.Min.X, y, c.Max.X, y)
		} else {
			x := trX(t.Value)
			c.StrokeLine2(sty, x, c.Min.Y, x, c.Max.Y)
		}
	}
}

// setValueAxis configures a value axis from 0 with formatted ticks and grid.
func setValueAxis(p *plot.Plot, ax *plot.Axis, max float64, n int, headroom float64, format func(float64) string) {
	ticks, top := valueTicks(max*headroom, n, format)
	ax.Min, ax.Max = 0, top
	ax.Tick.Marker = plot.ConstantTicks(ticks)
	p.Add(gridLines{ticks: ticks, horizontal: ax == &p.Y})
}
