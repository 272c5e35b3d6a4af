package report

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"

	xfont "golang.org/x/image/font"
)

// The slides of the HTML deck laid out again as PowerPoint shapes. The HTML
// gives the content and its structure (kicker, title, lead, columns, cards,
// KPIs, charts, tables, notes); the deck's stylesheet is translated here
// into sizes and colours, and the text is measured with the Liberation
// fonts the charts already embed (Arial's metrics), so that boxes are as
// tall as their wrapped text.

// The deck's colours (templates/deck.html, :root).
const (
	hexInk    = "0f172a"
	hexMuted  = "475569"
	hexFaint  = "94a3b8"
	hexBlue   = "2563eb"
	hexOrange = "f97316"
	hexRed    = "dc2626"
	hexGreen  = "16a34a"
	hexRule   = "e2e8f0"
)

// Slide geometry of the HTML deck: padding 44px 56px 40px.
const (
	padX      = 56.0
	padTop    = 44.0
	bodyW     = slideWPx - 2*padX
	bodyBot   = slideHPx - 40.0
	footY     = slideHPx - 14 - 15
	wrapSlack = 0.97 // wrap a little early: LibreOffice and PowerPoint kern slightly differently
)

// ChartPNG renders the deck's chart called name as a PNG.
type ChartPNG func(name string) ([]byte, error)

// PPTXName is the PowerPoint deck's file name in dir: the plan's deliverable
// name, keystone_nexus_executive_summary.pptx, when dir is a presentation/
// directory, deck.pptx beside deck.html otherwise.
func PPTXName(dir string) string {
	if filepath.Base(filepath.Clean(dir)) == "presentation" {
		return "keystone_nexus_executive_summary.pptx"
	}
	return "deck.pptx"
}

// writePPTX writes the PowerPoint deck from the rendered HTML deck, with
// the deck's charts as pictures.
func writePPTX(html []byte, d *DeckData, path string) error {
	pngs := make([][]byte, len(d.charts))
	errs := make([]error, len(d.charts))
	var wg sync.WaitGroup
	for i, ch := range d.charts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pngs[i], errs[i] = ch.slidePNG()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	byName := map[string][]byte{}
	for i, ch := range d.charts {
		byName[ch.Name] = pngs[i]
	}
	deck, err := buildPPTX(html, func(name string) ([]byte, error) {
		b, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("the deck shows a chart %q that is not drawn (charts: %s)", name, strings.Join(slices.Sorted(maps.Keys(byName)), ", "))
		}
		return b, nil
	}, d.Generated)
	if err != nil {
		return fmt.Errorf("pptx: %w", err)
	}
	var buf bytes.Buffer
	if err := deck.WritePPTX(&buf); err != nil {
		return err
	}
	return writeFileAtomic(path, buf.Bytes())
}

// slidePNG renders the chart at 1.5 times its pixel size, the same layout:
// on a 1920-pixel-wide projector a chart beside text is then about one
// image pixel per screen pixel. Drawing the six charts takes about twice
// as long as at 1× (2×: about three times).
func (ch *Chart) slidePNG() ([]byte, error) { return ch.png(1.5) }

// buildPPTX reads the rendered deck and lays out its slides.
func buildPPTX(html []byte, charts ChartPNG, modified time.Time) (*pptxDeck, error) {
	root, err := parseHTML(html)
	if err != nil {
		return nil, err
	}
	deck := &pptxDeck{Modified: modified}
	if t := root.childTag("title"); t != nil {
		deck.Title = t.textContent()
	}
	media := map[string]int{}
	pic := func(name string) (int, error) {
		if i, ok := media[name]; ok {
			return i, nil
		}
		png, err := charts(name)
		if err != nil {
			return 0, err
		}
		deck.Media = append(deck.Media, pptxMedia{Name: name, PNG: png})
		media[name] = len(deck.Media) - 1
		return media[name], nil
	}
	sections := root.find(byClass("slide"))
	if len(sections) == 0 {
		return nil, fmt.Errorf("deck html: no slide (<section class=\"slide\">)")
	}
	var clock float64 // minutes into the talk
	for i, sec := range sections {
		sb := &slideBuilder{name: sec.attrs["data-title"], dark: sec.hasClass("title-slide"), qa: sec.hasClass("qa"), pic: pic, y: padTop}
		if sb.name == "" {
			return nil, fmt.Errorf("slide %d %s: no data-title", i+1, sec.where())
		}
		if err := sb.build(sec); err != nil {
			return nil, fmt.Errorf("slide %d (%s): %w", i+1, sb.name, err)
		}
		if sb.title == "" {
			return nil, fmt.Errorf("slide %d (%s): no title", i+1, sb.name)
		}
		s := pptxSlide{Name: sb.name, Title: sb.title, Shapes: sb.shapes}
		if sb.dark {
			s.Background = &pptxGradient{From: "0f172a", To: "1e3a8a"}
		}
		notes, minutes, err := slideNotes(sec, clock)
		if err != nil {
			return nil, fmt.Errorf("slide %d (%s): %w", i+1, sb.name, err)
		}
		clock += minutes
		s.Notes = notes
		deck.Slides = append(deck.Slides, s)
	}
	return deck, nil
}

// slideNotes are the speaker notes of a slide: its slot in the talk (the
// aside's data-minutes, counted from start) and its talking points.
func slideNotes(sec *hnode, start float64) ([]pptxPara, float64, error) {
	aside := sec.first(func(n *hnode) bool { return n.tag == "aside" && n.hasClass("notes") })
	if aside == nil {
		return nil, 0, fmt.Errorf("no speaker notes (<aside class=\"notes\" data-minutes=…>)")
	}
	minutes, err := strconv.ParseFloat(aside.attrs["data-minutes"], 64)
	if err != nil || minutes < 0 {
		return nil, 0, fmt.Errorf("%s: data-minutes %q is not a number of minutes", aside.where(), aside.attrs["data-minutes"])
	}
	head := pptxPara{Size: 16, Bold: true, After: 8}
	if minutes == 0 {
		head.Runs = []pptxRun{{Text: "Backup slide: for questions, after the 10 minutes"}}
	} else {
		head.Runs = []pptxRun{{Text: fmt.Sprintf("%s–%s · %s min", clockText(start), clockText(start+minutes), strconv.FormatFloat(minutes, 'f', -1, 64))}}
	}
	paras := []pptxPara{head}
	for _, n := range aside.find(func(n *hnode) bool { return n.tag == "p" || n.tag == "li" }) {
		p := pptxPara{Size: 16, After: 6, Runs: inlineRuns(n, runStyle{}), Bullet: n.tag == "li", Indent: 18}
		paras = append(paras, p)
	}
	if len(paras) == 1 {
		return nil, 0, fmt.Errorf("%s: no talking points (<p> or <li>)", aside.where())
	}
	return paras, minutes, nil
}

func clockText(min float64) string {
	s := int(math.Round(min * 60))
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

type slideBuilder struct {
	name   string
	title  string
	dark   bool // the title slide: light text on the dark gradient
	qa     bool
	shapes []pptxShape
	y      float64
	pic    func(name string) (int, error)
}

func (sb *slideBuilder) add(s ...pptxShape) { sb.shapes = append(sb.shapes, s...) }

func (sb *slideBuilder) build(sec *hnode) error {
	var kicker string
	for _, n := range sec.elems() {
		switch {
		case n.tag == "aside":
			// speaker notes: slideNotes
		case n.hasClass("kicker"):
			kicker = n.textContent()
			c := hexBlue
			if sb.dark {
				c = "93c5fd"
			}
			sb.textBlock(n, pptxPara{Size: 15, Bold: true, Color: c, Upper: true, Spc: 2}, 6)
		case n.tag == "h1" || n.tag == "h2":
			sb.title = n.textContent()
			p := pptxPara{Size: 34, Bold: true, Color: hexInk}
			after := 6.0
			if n.tag == "h1" {
				p.Size, p.LineH, after = 52, 1.1, 18
			}
			if sb.dark {
				p.Color = "ffffff"
			}
			sb.textBlock(n, p, after).Title = true
		case n.tag == "p" && n.hasClass("lead"):
			p := pptxPara{Size: 20, Color: hexMuted, LineH: 1.38}
			if sb.dark {
				p.Size, p.Color = 24, "cbd5e1"
			}
			after := 18.0
			if v, ok := pxValue(n.styleValue("margin-bottom")); ok {
				after = v
			}
			sb.textBlock(n, p, after)
		case n.hasClass("facts"):
			sb.facts(n)
		case n.hasClass("foot"):
			sb.foot(n)
		case n.hasClass("kpis"):
			sb.kpis(n)
		case n.hasClass("cols"):
			if err := sb.cols(n); err != nil {
				return err
			}
		case n.hasClass("chartcol"):
			if err := sb.chartcol(n); err != nil {
				return err
			}
		case n.hasClass("fullchart"):
			if err := sb.fullchart(n, kicker); err != nil {
				return err
			}
		case n.hasClass("archbox"):
			svg := n.childTag("svg")
			if svg == nil {
				return fmt.Errorf("%s: no svg", n.where())
			}
			g, err := svgShapes(svg, padX, sb.y, bodyW, bodyBot-sb.y)
			if err != nil {
				return fmt.Errorf("%s: %w", n.where(), err)
			}
			sb.add(g)
			sb.y = bodyBot
		case n.hasClass("rec"):
			sb.rec(n)
		case n.tag == "table":
			top := 0.0
			if v, ok := pxValue(n.styleValue("margin-top")); ok {
				top = v
			}
			t := tableOf(n, padX, sb.y+top, bodyW)
			sb.add(t)
			sb.y += top + t.height()
		default:
			return fmt.Errorf("%s: no PowerPoint layout for this block", n.where())
		}
	}
	if sb.dark {
		sb.centerVertically()
	}
	return nil
}

// textBlock adds the element's text as a box of the whole body width and
// moves down by its height and the margin after it.
func (sb *slideBuilder) textBlock(n *hnode, p pptxPara, after float64) *pptxText {
	p.Runs = inlineRuns(n, runStyle{})
	h := p.height(lineCount(p, bodyW))
	t := &pptxText{X: padX, Y: sb.y, W: bodyW, H: h, Paras: []pptxPara{p}}
	sb.add(t)
	sb.y += h + after
	return t
}

// centerVertically: the title slide's content is centred (justify-content:
// center), its footer stays at the bottom.
func (sb *slideBuilder) centerVertically() {
	var top, bot = math.Inf(1), math.Inf(-1)
	for _, s := range sb.shapes {
		if t, ok := s.(*pptxText); ok && t.Y < footY {
			top, bot = math.Min(top, t.Y), math.Max(bot, t.Y+t.H)
		}
	}
	dy := padTop + (bodyBot-padTop-(bot-top))/2 - top
	for _, s := range sb.shapes {
		if t, ok := s.(*pptxText); ok && t.Y < footY {
			t.Y += dy
		}
	}
}

func (sb *slideBuilder) facts(n *hnode) {
	sb.y += 34
	x := padX
	var h float64
	for _, f := range n.elems() {
		b := f.childTag("b")
		var value string
		if b != nil {
			value = b.textContent()
		}
		label := collapseSpace(strings.TrimPrefix(f.textContent(), value))
		v := pptxPara{Size: 32, Bold: true, Color: "ffffff", Runs: []pptxRun{{Text: value}}}
		l := pptxPara{Size: 17, Color: "cbd5e1", Runs: []pptxRun{{Text: label}}}
		w := math.Max(runsWidth(v), runsWidth(l)) + 4
		th := v.height(1) + l.height(1)
		sb.add(&pptxText{X: x, Y: sb.y, W: w, H: th, Paras: []pptxPara{v, l}, NoWrap: true})
		x += w + 36
		h = math.Max(h, th)
	}
	sb.y += h
}

func (sb *slideBuilder) foot(n *hnode) {
	c := hexFaint
	spans := n.find(byTag("span"))
	for i, s := range spans {
		text := s.textContent()
		if text == "" {
			continue
		}
		p := pptxPara{Size: 12, Color: c, Runs: []pptxRun{{Text: text}}}
		w := math.Min(runsWidth(p)+4, bodyW)
		x := padX
		if i == len(spans)-1 && i > 0 { // justify-content: space-between
			p.Align, x = "r", padX+bodyW-w
		}
		sb.add(&pptxText{X: x, Y: footY, W: w, H: 15, Paras: []pptxPara{p}, NoWrap: true})
	}
}

func (sb *slideBuilder) kpis(n *hnode) {
	items := n.find(byClass("kpi"))
	if len(items) == 0 {
		return
	}
	const gap, pad = 12.0, 12.0
	w := (bodyW - gap*float64(len(items)-1)) / float64(len(items))
	sb.y += 4
	var boxes []*pptxText
	var h float64
	for i, k := range items {
		var paras []pptxPara
		for _, part := range []struct {
			class string
			p     pptxPara
		}{
			{"v", pptxPara{Size: 26, Bold: true, Color: hexInk, After: 2}},
			{"l", pptxPara{Size: 13, Color: hexMuted, After: 2}},
			{"h", pptxPara{Size: 11, Color: hexFaint, LineH: 1.25}},
		} {
			if c := k.child(part.class); c != nil {
				p := part.p
				p.Runs = inlineRuns(c, runStyle{})
				paras = append(paras, p)
			}
		}
		t := &pptxText{X: padX + float64(i)*(w+gap), Y: sb.y, W: w, Paras: paras, Fill: "f1f5f9", Geom: "roundRect", Radius: 10, Inset: [4]float64{pad, pad, pad, pad}}
		h = math.Max(h, boxHeight(t))
		boxes = append(boxes, t)
	}
	for _, b := range boxes {
		b.H = h
		sb.add(b)
	}
	sb.y += h + 20
}

// cols lays out a CSS grid of columns (c2, c3 or grid-template-columns).
func (sb *slideBuilder) cols(n *hnode) error {
	gap := 24.0
	if v, ok := pxValue(n.styleValue("gap")); ok {
		gap = v
	}
	if v, ok := pxValue(n.styleValue("margin-top")); ok {
		sb.y += v
	}
	kids := n.elems()
	widths := gridWidths(n.styleValue("grid-template-columns"), len(kids), bodyW, gap)
	x := padX
	var h float64
	var cards []*pptxText
	for i, k := range kids {
		w := widths[i]
		if k.hasClass("card") {
			c, err := sb.card(k, x, w)
			if err != nil {
				return err
			}
			cards = append(cards, c)
			h = math.Max(h, c.H)
		} else {
			shapes, ch, err := flow(k.kids, x, sb.y, w, flowCtx{qa: sb.qa})
			if err != nil {
				return err
			}
			sb.add(shapes...)
			h = math.Max(h, ch)
		}
		x += w + gap
	}
	for _, c := range cards { // grid rows stretch their cards to one height
		c.H = h
		sb.add(c)
	}
	for _, c := range cards { // a coloured top border: a bar over the card's top edge
		for _, accent := range cardAccents {
			if strings.Contains(c.Name, accent.class) {
				sb.add(&pptxText{X: c.X, Y: c.Y, W: c.W, H: 5, Fill: accent.color})
			}
		}
	}
	sb.y += h
	return nil
}

// cardAccents are the cards' coloured top borders (.card.problem …).
var cardAccents = []struct{ class, color string }{{"problem", hexRed}, {"solution", hexBlue}, {"impact", hexGreen}}

func (sb *slideBuilder) card(n *hnode, x, w float64) (*pptxText, error) {
	const padV, padH = 20.0, 24.0
	top := padV
	for _, a := range cardAccents {
		if n.hasClass(a.class) {
			top += 5
		}
	}
	paras, err := flowParas(n.kids, flowCtx{card: true})
	if err != nil {
		return nil, err
	}
	t := &pptxText{X: x, Y: sb.y, W: w, Paras: paras, Fill: "f8fafc", Line: hexRule, LineW: 1, Inset: [4]float64{padH, top, padH, padV}, Name: "Card " + n.attrs["class"]}
	t.H = boxHeight(t)
	return t, nil
}

func (sb *slideBuilder) chartcol(n *hnode) error {
	kids := n.elems()
	if len(kids) != 2 || !kids[0].hasClass("chart") {
		return fmt.Errorf("%s: want a chart and a column of text", n.where())
	}
	sb.y += 8
	const cw, ch, gap = 880.0, 495.0, 24.0
	if err := sb.chart(kids[0], padX, sb.y, cw, ch); err != nil {
		return err
	}
	shapes, _, err := flow(kids[1].kids, padX+cw+gap, sb.y, bodyW-cw-gap, flowCtx{})
	if err != nil {
		return err
	}
	sb.add(shapes...)
	sb.y += ch
	return nil
}

// fullchart: an appendix chart. The HTML shows the chart under a kicker; the
// slide gets the deck's name of the slide as a title (outline, search and
// the PDF's text find it), the chart below it.
func (sb *slideBuilder) fullchart(n *hnode, kicker string) error {
	if sb.title == "" {
		title := sb.name
		if k := strings.TrimSpace(kicker); k != "" && strings.HasPrefix(strings.ToLower(title), strings.ToLower(k)+":") {
			title = capitalize(strings.TrimSpace(title[len(k)+1:]))
		}
		sb.title = title
		p := pptxPara{Size: 34, Bold: true, Color: hexInk, Runs: []pptxRun{{Text: title}}}
		h := p.height(lineCount(p, bodyW))
		sb.add(&pptxText{X: padX, Y: sb.y, W: bodyW, H: h, Paras: []pptxPara{p}, Title: true})
		sb.y += h + 10
	}
	h := bodyBot - sb.y
	w := math.Min(1020, h*16/9)
	return sb.chart(n, (slideWPx-w)/2, sb.y, w, w*9/16)
}

func (sb *slideBuilder) chart(n *hnode, x, y, w, h float64) error {
	name := n.attrs["data-chart"]
	if name == "" {
		return fmt.Errorf("%s: a chart without data-chart (the name of its PNG)", n.where())
	}
	m, err := sb.pic(name)
	if err != nil {
		return err
	}
	descr := name
	if svg := n.childTag("svg"); svg != nil {
		if t := svg.childTag("title"); t != nil {
			descr = t.textContent()
		}
	}
	sb.add(&pptxPicture{X: x, Y: y, W: w, H: h, Media: m, Descr: descr})
	return nil
}

func (sb *slideBuilder) rec(n *hnode) {
	const circle, gap = 48.0, 14.0
	sb.y += 10
	num := n.child("n")
	var label string
	if num != nil {
		label = num.textContent()
	}
	sb.add(&pptxText{X: padX, Y: sb.y, W: circle, H: circle, Geom: "ellipse", Fill: hexBlue, Anchor: "ctr",
		Paras: []pptxPara{{Size: 24, Bold: true, Color: "ffffff", Align: "ctr", Runs: []pptxRun{{Text: label}}}}})
	x := padX + 64 + gap
	w := bodyW - 64 - gap
	var paras []pptxPara
	for _, k := range n.elems() {
		if k == num {
			continue
		}
		for _, e := range k.elems() {
			switch e.tag {
			case "h3":
				paras = append(paras, pptxPara{Size: 26, Bold: true, Color: hexInk, After: 6, Runs: inlineRuns(e, runStyle{})})
			case "p":
				paras = append(paras, pptxPara{Size: 21, Color: hexInk, LineH: 1.45, Runs: inlineRuns(e, runStyle{})})
			}
		}
	}
	t := &pptxText{X: x, Y: sb.y, W: w, Paras: paras}
	t.H = boxHeight(t)
	sb.add(t)
	sb.y += math.Max(circle, t.H) + 26
}

// flowCtx is where a column's text sits: its styles differ in a card and on
// the Q&A slide.
type flowCtx struct{ card, qa bool }

// flow lays out a column's blocks from y down: runs of paragraphs as one
// text box, tables as tables. It returns the shapes and the height used.
func flow(nodes []*hnode, x, y, w float64, ctx flowCtx) ([]pptxShape, float64, error) {
	var shapes []pptxShape
	cy := y
	var pending []pptxPara
	var pendingTop float64
	flush := func() {
		if len(pending) == 0 {
			return
		}
		t := &pptxText{X: x, Y: cy + pendingTop, W: w, Paras: pending}
		t.H = boxHeight(t)
		shapes = append(shapes, t)
		cy += pendingTop + t.H
		pending, pendingTop = nil, 0
	}
	for _, n := range nodes {
		if n.tag == "table" {
			flush()
			t := tableOf(n, x, cy, w)
			shapes = append(shapes, t)
			cy += t.height()
			continue
		}
		paras, top, err := blockParas(n, ctx)
		if err != nil {
			return nil, 0, err
		}
		if len(paras) == 0 {
			continue
		}
		if len(pending) == 0 {
			pendingTop = top
		} else {
			last := &pending[len(pending)-1]
			last.After = math.Max(last.After, top)
		}
		pending = append(pending, paras...)
	}
	flush()
	return shapes, cy - y, nil
}

// flowParas is flow for a box that holds only text (a card).
func flowParas(nodes []*hnode, ctx flowCtx) ([]pptxPara, error) {
	var out []pptxPara
	for _, n := range nodes {
		paras, top, err := blockParas(n, ctx)
		if err != nil {
			return nil, err
		}
		if len(paras) == 0 {
			continue
		}
		if len(out) > 0 {
			last := &out[len(out)-1]
			last.After = math.Max(last.After, top)
		}
		out = append(out, paras...)
	}
	return out, nil
}

// blockParas turns one block of a column into paragraphs (After holds the
// block's bottom margin) and returns its top margin.
func blockParas(n *hnode, ctx flowCtx) ([]pptxPara, float64, error) {
	if n.tag == "" {
		if strings.TrimSpace(n.text) != "" {
			return nil, 0, fmt.Errorf("text %q outside a paragraph (deck html, line %d)", collapseSpace(n.text), n.line)
		}
		return nil, 0, nil
	}
	body := pptxPara{Size: 19, Color: hexInk, LineH: 1.38}
	if ctx.card {
		body.Size, body.LineH = 21, 1.45
	}
	margin := func(p pptxPara, top, bottom float64) ([]pptxPara, float64, error) {
		p.Runs = inlineRuns(n, runStyle{})
		if v, ok := pxValue(n.styleValue("margin-top")); ok {
			top = v
		}
		p.After = bottom
		return []pptxPara{p}, top, nil
	}
	switch {
	case n.tag == "h3":
		switch {
		case ctx.qa:
			return margin(pptxPara{Size: 21, Bold: true, Color: hexBlue}, 0, 5)
		case ctx.card:
			return margin(pptxPara{Size: 24, Bold: true, Color: hexInk}, 0, 10)
		}
		return margin(pptxPara{Size: 19, Bold: true, Color: hexInk}, 0, 10)
	case n.tag == "p" && n.hasClass("assume"):
		return margin(pptxPara{Size: 13.5, Color: hexMuted, LineH: 1.4}, body.Size, body.Size)
	case n.tag == "p" && ctx.qa:
		return margin(pptxPara{Size: 18, Color: hexInk, LineH: 1.38}, 0, 20)
	case n.tag == "p":
		return margin(body, body.Size, body.Size)
	case n.tag == "ul":
		var out []pptxPara
		for _, li := range n.find(byTag("li")) {
			p := body
			p.Bullet, p.Indent, p.After = true, 22, 4
			p.Runs = inlineRuns(li, runStyle{})
			out = append(out, p)
		}
		if len(out) > 0 {
			out[len(out)-1].After = 6
		}
		return out, 6, nil
	case n.hasClass("stat"):
		var out []pptxPara
		if b := n.child("big"); b != nil {
			c := hexBlue
			for _, k := range []struct{ class, color string }{{"red", hexRed}, {"green", hexGreen}, {"orange", hexOrange}} {
				if b.hasClass(k.class) {
					c = k.color
				}
			}
			out = append(out, pptxPara{Size: 42, Bold: true, Color: c, LineH: 1.05, Runs: inlineRuns(b, runStyle{})})
		}
		if l := n.child("l"); l != nil {
			out = append(out, pptxPara{Size: 16, Color: hexMuted, LineH: 1.3, Runs: inlineRuns(l, runStyle{})})
		}
		if len(out) > 0 {
			out[len(out)-1].After = 18
		}
		return out, 0, nil
	case n.tag == "div" && n.attrs["class"] == "":
		paras, err := flowParas(n.kids, ctx)
		return paras, 0, err
	}
	return nil, 0, fmt.Errorf("%s: no PowerPoint layout for this block in a column", n.where())
}

// tableOf turns an HTML table into an editable table w wide: column widths
// from the header's width:N% where given, the rest shared by content.
func tableOf(n *hnode, x, y, w float64) *pptxTable {
	risks := n.hasClass("risks")
	t := &pptxTable{X: x, Y: y, Rule: hexRule, Inset: [4]float64{10, 7, 10, 7}}
	if risks {
		t.Inset = [4]float64{10, 11, 10, 11}
	}
	var rows [][]*hnode
	for _, tr := range n.find(byTag("tr")) {
		rows = append(rows, tr.find(func(c *hnode) bool { return c.tag == "td" || c.tag == "th" }))
	}
	ncol := 0
	for _, r := range rows {
		ncol = max(ncol, len(r))
	}
	if ncol == 0 {
		return t
	}
	cell := func(c *hnode) pptxPara {
		var p pptxPara
		switch {
		case c.tag == "th":
			p = pptxPara{Size: 14, Bold: true, Color: hexMuted, Upper: true, Spc: 0.5}
		case risks:
			p = pptxPara{Size: 18, Color: hexInk, LineH: 1.35}
		default:
			p = pptxPara{Size: 16, Color: hexInk, LineH: 1.25}
		}
		if c.hasClass("r") {
			p.Align = "r"
		}
		p.Runs = inlineRuns(c, runStyle{})
		return p
	}
	paras := make([][]pptxPara, len(rows))
	natural := make([]float64, ncol) // widest cell unwrapped
	longest := make([]float64, ncol) // widest word
	fixed := make([]float64, ncol)   // width:N% of the header
	for i, r := range rows {
		for j, c := range r {
			p := cell(c)
			paras[i] = append(paras[i], p)
			natural[j] = math.Max(natural[j], runsWidth(p)+t.Inset[0]+t.Inset[2])
			longest[j] = math.Max(longest[j], longestWord(p)+t.Inset[0]+t.Inset[2])
			if v := c.styleValue("width"); strings.HasSuffix(v, "%") {
				if f, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64); err == nil {
					fixed[j] = w * f / 100
				}
			}
		}
	}
	t.Cols = columnWidths(w, natural, longest, fixed)
	for i := range rows {
		h := 0.0
		for j, p := range paras[i] {
			h = math.Max(h, p.height(lineCount(p, t.Cols[j]-t.Inset[0]-t.Inset[2]))+t.Inset[1]+t.Inset[3])
		}
		for len(paras[i]) < ncol {
			paras[i] = append(paras[i], pptxPara{Size: 16})
		}
		t.Rows = append(t.Rows, pptxRow{H: h, Cells: paras[i]})
	}
	return t
}

// columnWidths shares w among columns like a browser's automatic table
// layout, roughly: fixed widths first, then the rest in proportion to each
// column's unwrapped content, never narrower than its longest word.
func columnWidths(w float64, natural, longest, fixed []float64) []float64 {
	out := make([]float64, len(natural))
	rest, restNatural := w, 0.0
	for j := range natural {
		if fixed[j] > 0 {
			out[j] = fixed[j]
			rest -= fixed[j]
		} else {
			restNatural += natural[j]
		}
	}
	if restNatural == 0 {
		return out
	}
	if restNatural <= rest { // all fits unwrapped: spread the slack
		for j := range out {
			if fixed[j] == 0 {
				out[j] = natural[j] * rest / restNatural
			}
		}
		return out
	}
	// too wide: the longest words first, then the rest by content
	minSum := 0.0
	for j := range out {
		if fixed[j] == 0 {
			minSum += longest[j]
		}
	}
	extra := math.Max(rest-minSum, 0)
	var wrapNatural float64
	for j := range out {
		if fixed[j] == 0 {
			wrapNatural += natural[j] - longest[j]
		}
	}
	for j := range out {
		if fixed[j] == 0 {
			out[j] = longest[j]
			if wrapNatural > 0 {
				out[j] += extra * (natural[j] - longest[j]) / wrapNatural
			}
		}
	}
	return out
}

// gridWidths reads grid-template-columns ("330px 1fr"); without it the
// columns are equal.
func gridWidths(spec string, n int, w, gap float64) []float64 {
	out := make([]float64, n)
	parts := strings.Fields(spec)
	if len(parts) != n {
		parts = make([]string, n)
		for i := range parts {
			parts[i] = "1fr"
		}
	}
	free := w - gap*float64(n-1)
	var frs float64
	for i, p := range parts {
		if v, ok := pxValue(p); ok {
			out[i] = v
			free -= v
		} else if f, err := strconv.ParseFloat(strings.TrimSuffix(p, "fr"), 64); err == nil {
			frs += f
		}
	}
	for i, p := range parts {
		if _, ok := pxValue(p); !ok && frs > 0 {
			f, _ := strconv.ParseFloat(strings.TrimSuffix(p, "fr"), 64)
			out[i] = free * f / frs
		}
	}
	return out
}

func pxValue(s string) (float64, bool) {
	if !strings.HasSuffix(s, "px") {
		return 0, false
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "px"), 64)
	return v, err == nil
}

// runStyle is what an inline element adds to its text.
type runStyle struct {
	bold, mono, sup, nowrap bool
	color                   string
	size                    float64
}

// inlineRuns turns an element's inline content into runs: <b>, .num (bold,
// unbroken), <code> and .formula (monospace), <sup>, .tag, <br>.
func inlineRuns(n *hnode, st runStyle) []pptxRun {
	var out []pptxRun
	var walk func(n *hnode, st runStyle)
	walk = func(n *hnode, st runStyle) {
		for _, k := range n.kids {
			if k.tag == "" {
				text := spaceRE.ReplaceAllString(k.text, " ")
				if st.nowrap {
					text = strings.ReplaceAll(text, " ", "\u00a0")
				}
				out = append(out, pptxRun{Text: text, Bold: st.bold, Mono: st.mono, Sup: st.sup, Color: st.color, Size: st.size})
				continue
			}
			s := st
			switch {
			case k.tag == "br":
				out = append(out, pptxRun{Break: true})
				continue
			case k.tag == "aside":
				continue
			case k.tag == "b" || k.tag == "strong":
				s.bold = true
			case k.hasClass("num"):
				s.bold, s.nowrap, s.color = true, true, hexInk
			case k.hasClass("formula"):
				s.mono, s.size, s.color = true, 13.5, "334155"
			case k.tag == "code":
				s.mono = true
			case k.tag == "sup":
				s.sup = true
			case k.hasClass("tag"):
				s.bold, s.size, s.color = true, 12, "1e40af"
			}
			walk(k, s)
		}
	}
	walk(n, st)
	return tidyRuns(out)
}

// tidyRuns drops the whitespace at the ends of the paragraph and around
// line breaks, folds spaces across runs and merges runs of one style.
func tidyRuns(in []pptxRun) []pptxRun {
	var out []pptxRun
	for _, r := range in {
		if r.Break {
			if len(out) > 0 && !out[len(out)-1].Break {
				out[len(out)-1].Text = strings.TrimRight(out[len(out)-1].Text, " ")
			}
			out = append(out, r)
			continue
		}
		if len(out) == 0 || out[len(out)-1].Break || strings.HasSuffix(out[len(out)-1].Text, " ") {
			r.Text = strings.TrimLeft(r.Text, " ")
		}
		if r.Text == "" {
			continue
		}
		if len(out) > 0 {
			last := &out[len(out)-1]
			if !last.Break && last.Bold == r.Bold && last.Mono == r.Mono && last.Sup == r.Sup && last.Color == r.Color && last.Size == r.Size {
				last.Text += r.Text
				continue
			}
		}
		out = append(out, r)
	}
	if n := len(out); n > 0 && !out[n-1].Break {
		out[n-1].Text = strings.TrimRight(out[n-1].Text, " ")
		if out[n-1].Text == "" {
			out = out[:n-1]
		}
	}
	return out
}

// textWidth measures s in px with the Liberation font the charts embed
// (Arial's metrics, which LibreOffice substitutes and PowerPoint uses).
func textWidth(s string, size float64, bold, mono bool) float64 {
	f := font.Font{Typeface: "Liberation", Variant: "Sans", Size: vg.Length(size)}
	if mono {
		f.Variant = "Mono"
	}
	if bold {
		f.Weight = xfont.WeightBold
	}
	face := font.DefaultCache.Lookup(f, f.Size)
	return float64(face.Width(s))
}

type word struct {
	w      float64 // width of the word
	space  float64 // width of the space before it; 0: glued to the previous word
	breakB bool    // a line break before it
}

// words splits a paragraph into words measured in their runs' fonts.
func words(p pptxPara) []word {
	var out []word
	glue := false // the previous run ended inside a word
	pendingBreak := false
	for _, r := range p.Runs {
		if r.Break {
			pendingBreak, glue = true, false
			continue
		}
		size := r.Size
		if size == 0 {
			size = p.Size
		}
		if r.Sup {
			size *= 0.7
		}
		bold := r.Bold || p.Bold
		text := r.Text
		if p.Upper {
			text = strings.ToUpper(text)
		}
		sp := textWidth(" ", size, bold, r.Mono) + p.Spc
		for i, f := range strings.Split(text, " ") {
			if i > 0 {
				glue = false
			}
			if f == "" {
				continue
			}
			w := textWidth(f, size, bold, r.Mono) + p.Spc*float64(len([]rune(f)))
			if glue && len(out) > 0 && !pendingBreak {
				out[len(out)-1].w += w
			} else {
				wd := word{w: w, breakB: pendingBreak}
				if len(out) > 0 && !pendingBreak {
					wd.space = sp
				}
				out = append(out, wd)
			}
			pendingBreak = false
			glue = true
		}
		if strings.HasSuffix(text, " ") {
			glue = false
		}
	}
	return out
}

// lineCount is the number of lines p wraps to in a box width px wide.
func lineCount(p pptxPara, width float64) int {
	if p.Bullet {
		width -= p.Indent
	}
	width *= wrapSlack
	lines, x := 1, 0.0
	for _, w := range words(p) {
		switch {
		case w.breakB:
			lines++
			x = w.w
		case x > 0 && x+w.space+w.w > width:
			lines++
			x = w.w
		default:
			x += w.space + w.w
		}
	}
	return lines
}

// runsWidth is the paragraph's width on one line.
func runsWidth(p pptxPara) float64 {
	var x float64
	for _, w := range words(p) {
		x += w.space + w.w
	}
	if p.Bullet {
		x += p.Indent
	}
	return x
}

func longestWord(p pptxPara) float64 {
	var m float64
	for _, w := range words(p) {
		m = math.Max(m, w.w)
	}
	return m
}

// boxHeight is the height of a text box with its paragraphs wrapped to its
// width, insets included; the last paragraph's space after counts (a CSS
// margin inside the box's padding).
func boxHeight(t *pptxText) float64 {
	inner := t.W - t.Inset[0] - t.Inset[2]
	h := t.Inset[1] + t.Inset[3]
	for _, p := range t.Paras {
		n := 1
		if !t.NoWrap {
			n = lineCount(p, inner)
		}
		h += p.height(n)
	}
	return h
}
