package report

import (
	"archive/zip"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// A PowerPoint file (Office Open XML, ECMA-376 PresentationML) written with
// the standard library: a zip of XML parts and their relationships. The
// deck's slides arrive as shapes in the HTML deck's coordinates (1280×720
// px, 96 dpi): one px is 9525 EMU, so a 16:9 slide is 12192000×6858000 EMU,
// PowerPoint's own widescreen size.

const (
	emuPerPx  = 9525
	slideWPx  = 1280
	slideHPx  = 720
	pptxFont  = "Arial"       // Liberation Sans on Linux: same metrics
	pptxMono  = "Courier New" // Liberation Mono on Linux
	notesWEmu = 6858000
	notesHEmu = 9144000
)

// pptxDeck is a presentation ready to be written.
type pptxDeck struct {
	Title    string
	Modified time.Time
	Slides   []pptxSlide
	Media    []pptxMedia // pictures, referenced by index from the shapes
}

type pptxMedia struct {
	Name string // for the picture's description
	PNG  []byte
}

type pptxSlide struct {
	Name       string // the deck's name of the slide (data-title)
	Title      string // the text of its title shape
	Background *pptxGradient
	Shapes     []pptxShape
	Notes      []pptxPara
}

type pptxGradient struct{ From, To string }

// pptxShape is one element of a slide's shape tree.
type pptxShape interface {
	// xml writes the shape with ids from next (cNvPr ids are unique per
	// slide); media returns the relationship id of a picture.
	xml(b *strings.Builder, next func() int, media func(int) string)
}

// pptxText is a text box or a filled shape with text.
type pptxText struct {
	X, Y, W, H float64
	Paras      []pptxPara
	Geom       string // prstGeom: "rect" (default), "roundRect", "ellipse"
	Radius     float64
	Fill       string // hex; "" none
	Line       string // hex; "" none
	LineW      float64
	Inset      [4]float64 // left, top, right, bottom
	Anchor     string     // "t" (default), "ctr", "b"
	NoWrap     bool
	Title      bool // the slide's title placeholder
	Name       string
}

type pptxPara struct {
	Runs   []pptxRun
	Size   float64 // px
	Color  string
	Bold   bool
	Align  string  // "l" (default), "ctr", "r"
	LineH  float64 // CSS line-height (multiple of the font size); 0: 1.15
	After  float64 // space after, px
	Bullet bool
	Indent float64 // left margin of a bulleted paragraph, px
	Upper  bool    // CSS text-transform: uppercase
	Spc    float64 // letter spacing, px
}

type pptxRun struct {
	Text  string
	Bold  bool
	Mono  bool
	Color string
	Size  float64 // px; 0: the paragraph's
	Sup   bool
	Break bool // a line break (<br>) instead of text
}

// pptxPicture is an embedded PNG.
type pptxPicture struct {
	X, Y, W, H float64
	Media      int
	Descr      string
}

// pptxTable is an editable table.
type pptxTable struct {
	X, Y  float64
	Cols  []float64 // widths, px
	Rows  []pptxRow
	Rule  string // hex of the line under each row
	Inset [4]float64
}

type pptxRow struct {
	H     float64
	Cells []pptxPara
}

// pptxPath is a freeform line (the architecture's edges and gates).
type pptxPath struct {
	Segs   []pathSeg // absolute px
	Stroke string
	Width  float64
	Alpha  float64 // 0: opaque
	Dash   bool
	Arrow  bool
}

type pathSeg struct {
	Op  byte // 'M', 'L', 'C'
	Pts []pathPt
}

type pathPt struct{ X, Y float64 }

// pptxGroup groups shapes so that they move together.
type pptxGroup struct {
	Name   string
	Shapes []pptxShape
	X, Y   float64
	W, H   float64
}

func emu(px float64) int64 { return int64(math.Round(px * emuPerPx)) }

// hundredths of a point, for font sizes and spacing
func centiPt(px float64) int { return int(math.Round(px * 75)) }

func xesc(s string) string {
	var b strings.Builder
	if err := xml.EscapeText(&b, []byte(s)); err != nil {
		return "" // EscapeText into a strings.Builder never fails
	}
	return b.String()
}

func attrEsc(s string) string { return strings.ReplaceAll(xesc(s), `"`, "&quot;") }

func xfrm(b *strings.Builder, x, y, w, h float64) {
	fmt.Fprintf(b, `<a:xfrm><a:off x="%d" y="%d"/><a:ext cx="%d" cy="%d"/></a:xfrm>`, emu(x), emu(y), emu(max(w, 0)), emu(max(h, 0)))
}

func solid(hex string, alpha float64) string {
	if alpha > 0 && alpha < 1 {
		return fmt.Sprintf(`<a:solidFill><a:srgbClr val="%s"><a:alpha val="%d"/></a:srgbClr></a:solidFill>`, strings.ToUpper(hex), int(alpha*100000))
	}
	return fmt.Sprintf(`<a:solidFill><a:srgbClr val="%s"/></a:solidFill>`, strings.ToUpper(hex))
}

func (t *pptxText) xml(b *strings.Builder, next func() int, _ func(int) string) {
	id := next()
	name := t.Name
	if name == "" {
		name = fmt.Sprintf("Text %d", id)
	}
	fmt.Fprintf(b, `<p:sp><p:nvSpPr><p:cNvPr id="%d" name="%s"/>`, id, attrEsc(name))
	if t.Title {
		b.WriteString(`<p:cNvSpPr><a:spLocks noGrp="1"/></p:cNvSpPr><p:nvPr><p:ph type="title"/></p:nvPr></p:nvSpPr>`)
	} else {
		b.WriteString(`<p:cNvSpPr txBox="1"/><p:nvPr/></p:nvSpPr>`)
	}
	b.WriteString(`<p:spPr>`)
	xfrm(b, t.X, t.Y, t.W, t.H)
	geom := t.Geom
	if geom == "" {
		geom = "rect"
	}
	if geom == "roundRect" && t.Radius > 0 {
		adj := int(math.Round(t.Radius / math.Min(t.W, t.H) * 100000))
		fmt.Fprintf(b, `<a:prstGeom prst="roundRect"><a:avLst><a:gd name="adj" fmla="val %d"/></a:avLst></a:prstGeom>`, min(adj, 50000))
	} else {
		fmt.Fprintf(b, `<a:prstGeom prst="%s"><a:avLst/></a:prstGeom>`, geom)
	}
	if t.Fill != "" {
		b.WriteString(solid(t.Fill, 0))
	} else {
		b.WriteString(`<a:noFill/>`)
	}
	if t.Line != "" {
		fmt.Fprintf(b, `<a:ln w="%d">%s</a:ln>`, emu(max(t.LineW, 0.75)), solid(t.Line, 0))
	} else {
		b.WriteString(`<a:ln><a:noFill/></a:ln>`)
	}
	b.WriteString(`</p:spPr>`)
	anchor := t.Anchor
	if anchor == "" {
		anchor = "t"
	}
	wrap := "square"
	if t.NoWrap {
		wrap = "none"
	}
	fmt.Fprintf(b, `<p:txBody><a:bodyPr wrap="%s" lIns="%d" tIns="%d" rIns="%d" bIns="%d" anchor="%s" rtlCol="0"><a:noAutofit/></a:bodyPr><a:lstStyle/>`,
		wrap, emu(t.Inset[0]), emu(t.Inset[1]), emu(t.Inset[2]), emu(t.Inset[3]), anchor)
	writeParas(b, t.Paras)
	b.WriteString(`</p:txBody></p:sp>`)
}

func writeParas(b *strings.Builder, paras []pptxPara) {
	if len(paras) == 0 {
		b.WriteString(`<a:p><a:endParaRPr lang="en-US"/></a:p>`)
	}
	for _, p := range paras {
		writePara(b, p)
	}
}

func writePara(b *strings.Builder, p pptxPara) {
	b.WriteString(`<a:p><a:pPr`)
	if p.Bullet {
		fmt.Fprintf(b, ` marL="%d" indent="%d"`, emu(p.Indent), -emu(p.Indent))
	} else {
		b.WriteString(` marL="0" indent="0"`)
	}
	align := p.Align
	if align == "" {
		align = "l"
	}
	fmt.Fprintf(b, ` algn="%s">`, align)
	fmt.Fprintf(b, `<a:lnSpc><a:spcPct val="%d"/></a:lnSpc>`, int(math.Round(p.lineFactor()/fontLineFactor*100))*1000)
	b.WriteString(`<a:spcBef><a:spcPts val="0"/></a:spcBef>`)
	fmt.Fprintf(b, `<a:spcAft><a:spcPts val="%d"/></a:spcAft>`, centiPt(p.After))
	if p.Bullet {
		b.WriteString(`<a:buFont typeface="Arial"/><a:buChar char="•"/>`)
	} else {
		b.WriteString(`<a:buNone/>`)
	}
	b.WriteString(`</a:pPr>`)
	for _, r := range p.Runs {
		if r.Break {
			b.WriteString(`<a:br>`)
			writeRPr(b, p, r)
			b.WriteString(`</a:br>`)
			continue
		}
		text := r.Text
		if p.Upper {
			text = strings.ToUpper(text)
		}
		b.WriteString(`<a:r>`)
		writeRPr(b, p, r)
		fmt.Fprintf(b, `<a:t>%s</a:t></a:r>`, xesc(text))
	}
	fmt.Fprintf(b, `<a:endParaRPr lang="en-US" sz="%d" dirty="0"/></a:p>`, centiPt(p.Size))
}

func writeRPr(b *strings.Builder, p pptxPara, r pptxRun) {
	size := r.Size
	if size == 0 {
		size = p.Size
	}
	fmt.Fprintf(b, `<a:rPr lang="en-US" sz="%d"`, centiPt(size))
	if r.Bold || p.Bold {
		b.WriteString(` b="1"`)
	} else {
		b.WriteString(` b="0"`)
	}
	if p.Spc != 0 {
		fmt.Fprintf(b, ` spc="%d"`, centiPt(p.Spc))
	}
	if r.Sup {
		b.WriteString(` baseline="30000"`)
	}
	b.WriteString(` dirty="0">`)
	color := r.Color
	if color == "" {
		color = p.Color
	}
	if color != "" {
		b.WriteString(solid(color, 0))
	}
	if r.Mono {
		fmt.Fprintf(b, `<a:latin typeface="%s"/><a:cs typeface="%s"/>`, pptxMono, pptxMono)
	}
	b.WriteString(`</a:rPr>`)
}

func (p *pptxPicture) xml(b *strings.Builder, next func() int, media func(int) string) {
	id := next()
	fmt.Fprintf(b, `<p:pic><p:nvPicPr><p:cNvPr id="%d" name="Picture %d" descr="%s"/><p:cNvPicPr><a:picLocks noChangeAspect="1"/></p:cNvPicPr><p:nvPr/></p:nvPicPr>`, id, id, attrEsc(p.Descr))
	fmt.Fprintf(b, `<p:blipFill><a:blip r:embed="%s"/><a:stretch><a:fillRect/></a:stretch></p:blipFill><p:spPr>`, media(p.Media))
	xfrm(b, p.X, p.Y, p.W, p.H)
	b.WriteString(`<a:prstGeom prst="rect"><a:avLst/></a:prstGeom></p:spPr></p:pic>`)
}

func (t *pptxTable) width() float64 {
	var w float64
	for _, c := range t.Cols {
		w += c
	}
	return w
}

func (t *pptxTable) height() float64 {
	var h float64
	for _, r := range t.Rows {
		h += r.H
	}
	return h
}

func (t *pptxTable) xml(b *strings.Builder, next func() int, _ func(int) string) {
	id := next()
	fmt.Fprintf(b, `<p:graphicFrame><p:nvGraphicFramePr><p:cNvPr id="%d" name="Table %d"/><p:cNvGraphicFramePr><a:graphicFrameLocks noGrp="1"/></p:cNvGraphicFramePr><p:nvPr/></p:nvGraphicFramePr>`, id, id)
	fmt.Fprintf(b, `<p:xfrm><a:off x="%d" y="%d"/><a:ext cx="%d" cy="%d"/></p:xfrm>`, emu(t.X), emu(t.Y), emu(t.width()), emu(t.height()))
	b.WriteString(`<a:graphic><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/table"><a:tbl><a:tblPr firstRow="1"/><a:tblGrid>`)
	for _, w := range t.Cols {
		fmt.Fprintf(b, `<a:gridCol w="%d"/>`, emu(w))
	}
	b.WriteString(`</a:tblGrid>`)
	none := `<a:noFill/>`
	for _, r := range t.Rows {
		fmt.Fprintf(b, `<a:tr h="%d">`, emu(r.H))
		for _, c := range r.Cells {
			b.WriteString(`<a:tc><a:txBody><a:bodyPr/><a:lstStyle/>`)
			writePara(b, c)
			fmt.Fprintf(b, `</a:txBody><a:tcPr marL="%d" marR="%d" marT="%d" marB="%d" anchor="t">`, emu(t.Inset[0]), emu(t.Inset[2]), emu(t.Inset[1]), emu(t.Inset[3]))
			fmt.Fprintf(b, `<a:lnL w="0">%s</a:lnL><a:lnR w="0">%s</a:lnR><a:lnT w="0">%s</a:lnT>`, none, none, none)
			fmt.Fprintf(b, `<a:lnB w="%d">%s</a:lnB>%s</a:tcPr></a:tc>`, emu(1), solid(t.Rule, 0), none)
		}
		b.WriteString(`</a:tr>`)
	}
	b.WriteString(`</a:tbl></a:graphicData></a:graphic></p:graphicFrame>`)
}

func (p *pptxPath) bounds() (x0, y0, x1, y1 float64) {
	x0, y0, x1, y1 = math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, s := range p.Segs {
		for _, pt := range s.Pts {
			x0, y0 = math.Min(x0, pt.X), math.Min(y0, pt.Y)
			x1, y1 = math.Max(x1, pt.X), math.Max(y1, pt.Y)
		}
	}
	return
}

func (p *pptxPath) xml(b *strings.Builder, next func() int, _ func(int) string) {
	id := next()
	x0, y0, x1, y1 := p.bounds()
	w, h := x1-x0, y1-y0
	fmt.Fprintf(b, `<p:sp><p:nvSpPr><p:cNvPr id="%d" name="Connector %d"/><p:cNvSpPr/><p:nvPr/></p:nvSpPr><p:spPr>`, id, id)
	xfrm(b, x0, y0, w, h)
	fmt.Fprintf(b, `<a:custGeom><a:avLst/><a:gdLst/><a:ahLst/><a:cxnLst/><a:rect l="0" t="0" r="r" b="b"/><a:pathLst><a:path w="%d" h="%d" fill="none">`, max(emu(w), 1), max(emu(h), 1)) // a straight line is 0 wide: the path keeps a scale
	pt := func(q pathPt) string { return fmt.Sprintf(`<a:pt x="%d" y="%d"/>`, emu(q.X-x0), emu(q.Y-y0)) }
	for _, s := range p.Segs {
		tag := map[byte]string{'M': "moveTo", 'L': "lnTo", 'C': "cubicBezTo"}[s.Op]
		fmt.Fprintf(b, `<a:%s>`, tag)
		for _, q := range s.Pts {
			b.WriteString(pt(q))
		}
		fmt.Fprintf(b, `</a:%s>`, tag)
	}
	fmt.Fprintf(b, `</a:path></a:pathLst></a:custGeom><a:noFill/><a:ln w="%d">%s`, emu(p.Width), solid(p.Stroke, p.Alpha))
	if p.Dash {
		b.WriteString(`<a:prstDash val="dash"/>`)
	}
	if p.Arrow {
		b.WriteString(`<a:tailEnd type="triangle" w="med" len="med"/>`)
	}
	b.WriteString(`</a:ln></p:spPr></p:sp>`)
}

func (g *pptxGroup) xml(b *strings.Builder, next func() int, media func(int) string) {
	id := next()
	fmt.Fprintf(b, `<p:grpSp><p:nvGrpSpPr><p:cNvPr id="%d" name="%s"/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr><p:grpSpPr>`, id, attrEsc(g.Name))
	fmt.Fprintf(b, `<a:xfrm><a:off x="%d" y="%d"/><a:ext cx="%d" cy="%d"/><a:chOff x="%d" y="%d"/><a:chExt cx="%d" cy="%d"/></a:xfrm></p:grpSpPr>`,
		emu(g.X), emu(g.Y), emu(g.W), emu(g.H), emu(g.X), emu(g.Y), emu(g.W), emu(g.H))
	for _, s := range g.Shapes {
		s.xml(b, next, media)
	}
	b.WriteString(`</p:grpSp>`)
}

// The namespaces and relationship types of the package.
const (
	nsA      = "http://schemas.openxmlformats.org/drawingml/2006/main"
	nsR      = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
	nsP      = "http://schemas.openxmlformats.org/presentationml/2006/main"
	nsRel    = "http://schemas.openxmlformats.org/package/2006/relationships"
	relBase  = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
	ctBase   = "application/vnd.openxmlformats-officedocument.presentationml."
	xmlDecl  = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n"
	pmlNames = `xmlns:a="` + nsA + `" xmlns:r="` + nsR + `" xmlns:p="` + nsP + `"`
)

type pptxRel struct{ ID, Type, Target string }

func relsXML(rels []pptxRel) string {
	var b strings.Builder
	b.WriteString(xmlDecl + `<Relationships xmlns="` + nsRel + `">`)
	for _, r := range rels {
		typ := r.Type
		if !strings.HasPrefix(typ, "http") {
			typ = relBase + typ
		}
		fmt.Fprintf(&b, `<Relationship Id="%s" Type="%s" Target="%s"/>`, r.ID, typ, attrEsc(r.Target))
	}
	b.WriteString(`</Relationships>`)
	return b.String()
}

const spTreeHead = `<p:nvGrpSpPr><p:cNvPr id="1" name=""/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr><p:grpSpPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="0" cy="0"/><a:chOff x="0" y="0"/><a:chExt cx="0" cy="0"/></a:xfrm></p:grpSpPr>`

const clrMap = `<p:clrMap bg1="lt1" tx1="dk1" bg2="lt2" tx2="dk2" accent1="accent1" accent2="accent2" accent3="accent3" accent4="accent4" accent5="accent5" accent6="accent6" hlink="hlink" folHlink="folHlink"/>`

// WritePPTX writes the deck as a .pptx package.
func (d *pptxDeck) WritePPTX(w io.Writer) error {
	zw := zip.NewWriter(w)
	put := func(name, body string) error { return d.putFile(zw, name, []byte(body)) }
	var overrides []string
	override := func(part, ct string) {
		overrides = append(overrides, fmt.Sprintf(`<Override PartName="/%s" ContentType="%s"/>`, part, ct))
	}
	override("ppt/presentation.xml", ctBase+"presentation.main+xml")
	override("ppt/slideMasters/slideMaster1.xml", ctBase+"slideMaster+xml")
	override("ppt/slideLayouts/slideLayout1.xml", ctBase+"slideLayout+xml")
	override("ppt/notesMasters/notesMaster1.xml", ctBase+"notesMaster+xml")
	override("ppt/theme/theme1.xml", "application/vnd.openxmlformats-officedocument.theme+xml")
	override("ppt/theme/theme2.xml", "application/vnd.openxmlformats-officedocument.theme+xml")
	override("ppt/presProps.xml", ctBase+"presProps+xml")
	override("ppt/viewProps.xml", ctBase+"viewProps+xml")
	override("ppt/tableStyles.xml", ctBase+"tableStyles+xml")
	override("docProps/core.xml", "application/vnd.openxmlformats-package.core-properties+xml")
	override("docProps/app.xml", "application/vnd.openxmlformats-officedocument.extended-properties+xml")
	for i := range d.Slides {
		override(fmt.Sprintf("ppt/slides/slide%d.xml", i+1), ctBase+"slide+xml")
		override(fmt.Sprintf("ppt/notesSlides/notesSlide%d.xml", i+1), ctBase+"notesSlide+xml")
	}
	ct := xmlDecl + `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
		`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
		`<Default Extension="xml" ContentType="application/xml"/><Default Extension="png" ContentType="image/png"/>` +
		strings.Join(overrides, "") + `</Types>`
	if err := put("[Content_Types].xml", ct); err != nil {
		return err
	}
	if err := put("_rels/.rels", relsXML([]pptxRel{
		{"rId1", "officeDocument", "ppt/presentation.xml"},
		{"rId2", "http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties", "docProps/core.xml"},
		{"rId3", "extended-properties", "docProps/app.xml"},
	})); err != nil {
		return err
	}
	stamp := d.Modified.UTC().Format(time.RFC3339)
	if err := put("docProps/core.xml", xmlDecl+`<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">`+
		`<dc:title>`+xesc(d.Title)+`</dc:title><dc:creator>nexus</dc:creator><cp:lastModifiedBy>nexus</cp:lastModifiedBy>`+
		`<dcterms:created xsi:type="dcterms:W3CDTF">`+stamp+`</dcterms:created><dcterms:modified xsi:type="dcterms:W3CDTF">`+stamp+`</dcterms:modified></cp:coreProperties>`); err != nil {
		return err
	}
	if err := put("docProps/app.xml", xmlDecl+fmt.Sprintf(`<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"><Application>nexus</Application><PresentationFormat>Widescreen</PresentationFormat><Slides>%d</Slides><Notes>%d</Notes></Properties>`, len(d.Slides), len(d.Slides))); err != nil {
		return err
	}

	// presentation: master, notes master, slides, then the properties
	presRels := []pptxRel{
		{"rId1", "slideMaster", "slideMasters/slideMaster1.xml"},
		{"rId2", "notesMaster", "notesMasters/notesMaster1.xml"},
		{"rId3", "theme", "theme/theme1.xml"},
		{"rId4", "presProps", "presProps.xml"},
		{"rId5", "viewProps", "viewProps.xml"},
		{"rId6", "tableStyles", "tableStyles.xml"},
	}
	var ids strings.Builder
	for i := range d.Slides {
		rid := fmt.Sprintf("rId%d", 10+i)
		presRels = append(presRels, pptxRel{rid, "slide", fmt.Sprintf("slides/slide%d.xml", i+1)})
		fmt.Fprintf(&ids, `<p:sldId id="%d" r:id="%s"/>`, 256+i, rid)
	}
	if err := put("ppt/_rels/presentation.xml.rels", relsXML(presRels)); err != nil {
		return err
	}
	if err := put("ppt/presentation.xml", xmlDecl+`<p:presentation `+pmlNames+` saveSubsetFonts="1">`+
		`<p:sldMasterIdLst><p:sldMasterId id="2147483648" r:id="rId1"/></p:sldMasterIdLst>`+
		`<p:notesMasterIdLst><p:notesMasterId r:id="rId2"/></p:notesMasterIdLst>`+
		`<p:sldIdLst>`+ids.String()+`</p:sldIdLst>`+
		fmt.Sprintf(`<p:sldSz cx="%d" cy="%d"/><p:notesSz cx="%d" cy="%d"/>`, emu(slideWPx), emu(slideHPx), notesWEmu, notesHEmu)+
		`<p:defaultTextStyle><a:lvl1pPr><a:defRPr lang="en-US" sz="1800"><a:latin typeface="+mn-lt"/></a:defRPr></a:lvl1pPr></p:defaultTextStyle>`+
		`</p:presentation>`); err != nil {
		return err
	}
	if err := put("ppt/presProps.xml", xmlDecl+`<p:presentationPr `+pmlNames+`/>`); err != nil {
		return err
	}
	if err := put("ppt/viewProps.xml", xmlDecl+`<p:viewPr `+pmlNames+`><p:normalViewPr><p:restoredLeft sz="15620"/><p:restoredTop sz="80000"/></p:normalViewPr></p:viewPr>`); err != nil {
		return err
	}
	if err := put("ppt/tableStyles.xml", xmlDecl+`<a:tblStyleLst xmlns:a="`+nsA+`" def="{5C22544A-7EE6-4342-B048-85BDC9FD1C3A}"/>`); err != nil {
		return err
	}
	// fixed order: the zip lists its parts the same way on every run
	for _, f := range []struct{ name, body string }{
		{"ppt/theme/theme1.xml", themeXML("Nexus")},
		{"ppt/theme/theme2.xml", themeXML("Nexus notes")},
		{"ppt/slideMasters/slideMaster1.xml", masterXML},
		{"ppt/slideMasters/_rels/slideMaster1.xml.rels", relsXML([]pptxRel{{"rId1", "slideLayout", "../slideLayouts/slideLayout1.xml"}, {"rId2", "theme", "../theme/theme1.xml"}})},
		{"ppt/slideLayouts/slideLayout1.xml", layoutXML},
		{"ppt/slideLayouts/_rels/slideLayout1.xml.rels", relsXML([]pptxRel{{"rId1", "slideMaster", "../slideMasters/slideMaster1.xml"}})},
		{"ppt/notesMasters/notesMaster1.xml", notesMasterXML},
		{"ppt/notesMasters/_rels/notesMaster1.xml.rels", relsXML([]pptxRel{{"rId1", "theme", "../theme/theme2.xml"}})},
	} {
		if err := put(f.name, f.body); err != nil {
			return err
		}
	}
	for i, m := range d.Media {
		if err := d.putFile(zw, fmt.Sprintf("ppt/media/image%d.png", i+1), m.PNG); err != nil {
			return err
		}
	}
	for i, s := range d.Slides {
		n := i + 1
		rels := []pptxRel{
			{"rId1", "slideLayout", "../slideLayouts/slideLayout1.xml"},
			{"rId2", "notesSlide", fmt.Sprintf("../notesSlides/notesSlide%d.xml", n)},
		}
		mediaRel := map[int]string{}
		media := func(m int) string {
			if id, ok := mediaRel[m]; ok {
				return id
			}
			id := fmt.Sprintf("rId%d", len(rels)+1)
			rels = append(rels, pptxRel{id, "image", fmt.Sprintf("../media/image%d.png", m+1)})
			mediaRel[m] = id
			return id
		}
		body := slideXML(s, media)
		if err := put(fmt.Sprintf("ppt/slides/slide%d.xml", n), body); err != nil {
			return err
		}
		if err := put(fmt.Sprintf("ppt/slides/_rels/slide%d.xml.rels", n), relsXML(rels)); err != nil {
			return err
		}
		if err := put(fmt.Sprintf("ppt/notesSlides/notesSlide%d.xml", n), notesXML(s.Notes)); err != nil {
			return err
		}
		if err := put(fmt.Sprintf("ppt/notesSlides/_rels/notesSlide%d.xml.rels", n), relsXML([]pptxRel{
			{"rId1", "notesMaster", "../notesMasters/notesMaster1.xml"},
			{"rId2", "slide", fmt.Sprintf("../slides/slide%d.xml", n)},
		})); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("pptx: %w", err)
	}
	return nil
}

func (d *pptxDeck) putFile(zw *zip.Writer, name string, body []byte) error {
	method := zip.Deflate
	if strings.HasSuffix(name, ".png") {
		method = zip.Store // already compressed
	}
	f, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method, Modified: d.Modified})
	if err != nil {
		return fmt.Errorf("pptx %s: %w", name, err)
	}
	if _, err := f.Write(body); err != nil {
		return fmt.Errorf("pptx %s: %w", name, err)
	}
	return nil
}

func slideXML(s pptxSlide, media func(int) string) string {
	var b strings.Builder
	b.WriteString(xmlDecl + `<p:sld ` + pmlNames + `><p:cSld name="` + attrEsc(s.Name) + `">`)
	if g := s.Background; g != nil {
		fmt.Fprintf(&b, `<p:bg><p:bgPr><a:gradFill rotWithShape="1"><a:gsLst><a:gs pos="0"><a:srgbClr val="%s"/></a:gs><a:gs pos="100000"><a:srgbClr val="%s"/></a:gs></a:gsLst><a:lin ang="2700000" scaled="0"/></a:gradFill><a:effectLst/></p:bgPr></p:bg>`,
			strings.ToUpper(g.From), strings.ToUpper(g.To))
	}
	b.WriteString(`<p:spTree>` + spTreeHead)
	id := 1
	next := func() int { id++; return id }
	for _, sh := range s.Shapes {
		sh.xml(&b, next, media)
	}
	b.WriteString(`</p:spTree></p:cSld><p:clrMapOvr><a:masterClrMapping/></p:clrMapOvr></p:sld>`)
	return b.String()
}

func notesXML(paras []pptxPara) string {
	var b strings.Builder
	b.WriteString(xmlDecl + `<p:notes ` + pmlNames + `><p:cSld><p:spTree>` + spTreeHead)
	b.WriteString(`<p:sp><p:nvSpPr><p:cNvPr id="2" name="Slide Image Placeholder 1"/><p:cNvSpPr><a:spLocks noGrp="1" noRot="1" noChangeAspect="1"/></p:cNvSpPr><p:nvPr><p:ph type="sldImg"/></p:nvPr></p:nvSpPr><p:spPr/></p:sp>`)
	b.WriteString(`<p:sp><p:nvSpPr><p:cNvPr id="3" name="Notes Placeholder 2"/><p:cNvSpPr><a:spLocks noGrp="1"/></p:cNvSpPr><p:nvPr><p:ph type="body" idx="1"/></p:nvPr></p:nvSpPr><p:spPr/><p:txBody><a:bodyPr/><a:lstStyle/>`)
	writeParas(&b, paras)
	b.WriteString(`</p:txBody></p:sp></p:spTree></p:cSld><p:clrMapOvr><a:masterClrMapping/></p:clrMapOvr></p:notes>`)
	return b.String()
}

func placeholder(id int, name, ph string, x, y, w, h int64, size int) string {
	return fmt.Sprintf(`<p:sp><p:nvSpPr><p:cNvPr id="%d" name="%s"/><p:cNvSpPr><a:spLocks noGrp="1"/></p:cNvSpPr><p:nvPr>%s</p:nvPr></p:nvSpPr>`+
		`<p:spPr><a:xfrm><a:off x="%d" y="%d"/><a:ext cx="%d" cy="%d"/></a:xfrm><a:prstGeom prst="rect"><a:avLst/></a:prstGeom></p:spPr>`+
		`<p:txBody><a:bodyPr/><a:lstStyle/><a:p><a:endParaRPr lang="en-US" sz="%d"/></a:p></p:txBody></p:sp>`, id, name, ph, x, y, w, h, size)
}

var (
	masterXML = xmlDecl + `<p:sldMaster ` + pmlNames + `><p:cSld><p:bg><p:bgRef idx="1001"><a:schemeClr val="bg1"/></p:bgRef></p:bg><p:spTree>` + spTreeHead +
		placeholder(2, "Title Placeholder 1", `<p:ph type="title"/>`, emu(56), emu(44), emu(1168), emu(80), 2550) +
		placeholder(3, "Text Placeholder 2", `<p:ph type="body" idx="1"/>`, emu(56), emu(150), emu(1168), emu(520), 1425) +
		`</p:spTree></p:cSld>` + clrMap +
		`<p:sldLayoutIdLst><p:sldLayoutId id="2147483649" r:id="rId1"/></p:sldLayoutIdLst>` +
		`<p:txStyles><p:titleStyle><a:lvl1pPr algn="l"><a:defRPr lang="en-US" sz="2550" b="1"><a:solidFill><a:schemeClr val="tx1"/></a:solidFill><a:latin typeface="+mj-lt"/></a:defRPr></a:lvl1pPr></p:titleStyle>` +
		`<p:bodyStyle><a:lvl1pPr marL="0" indent="0"><a:buNone/><a:defRPr lang="en-US" sz="1425"><a:solidFill><a:schemeClr val="tx1"/></a:solidFill><a:latin typeface="+mn-lt"/></a:defRPr></a:lvl1pPr></p:bodyStyle>` +
		`<p:otherStyle><a:lvl1pPr><a:defRPr lang="en-US"><a:solidFill><a:schemeClr val="tx1"/></a:solidFill><a:latin typeface="+mn-lt"/></a:defRPr></a:lvl1pPr></p:otherStyle></p:txStyles></p:sldMaster>`

	layoutXML = xmlDecl + `<p:sldLayout ` + pmlNames + ` type="titleOnly" preserve="1"><p:cSld name="Title Only"><p:spTree>` + spTreeHead +
		placeholder(2, "Title 1", `<p:ph type="title"/>`, emu(56), emu(44), emu(1168), emu(80), 2550) +
		`</p:spTree></p:cSld><p:clrMapOvr><a:masterClrMapping/></p:clrMapOvr></p:sldLayout>`

	notesMasterXML = xmlDecl + `<p:notesMaster ` + pmlNames + `><p:cSld><p:bg><p:bgRef idx="1001"><a:schemeClr val="bg1"/></p:bgRef></p:bg><p:spTree>` + spTreeHead +
		placeholder(2, "Slide Image Placeholder 1", `<p:ph type="sldImg" idx="2"/>`, 685800, 685800, 5486400, 3086100, 1200) +
		placeholder(3, "Notes Placeholder 2", `<p:ph type="body" sz="quarter" idx="3"/>`, 685800, 4000500, 5486400, 4572000, 1200) +
		`</p:spTree></p:cSld>` + clrMap +
		`<p:notesStyle><a:lvl1pPr marL="0" algn="l"><a:defRPr lang="en-US" sz="1200"><a:solidFill><a:schemeClr val="tx1"/></a:solidFill><a:latin typeface="+mn-lt"/></a:defRPr></a:lvl1pPr></p:notesStyle></p:notesMaster>`
)

// themeXML is a complete DrawingML theme (PowerPoint refuses a file whose
// theme lacks any of the colour, font or format schemes): the deck's palette
// and Arial.
func themeXML(name string) string {
	fill := `<a:solidFill><a:schemeClr val="phClr"/></a:solidFill>`
	ln := func(w int) string {
		return fmt.Sprintf(`<a:ln w="%d" cap="flat" cmpd="sng" algn="ctr"><a:solidFill><a:schemeClr val="phClr"/></a:solidFill><a:prstDash val="solid"/><a:miter lim="800000"/></a:ln>`, w)
	}
	font := func(tag string) string {
		return `<a:` + tag + `><a:latin typeface="` + pptxFont + `"/><a:ea typeface=""/><a:cs typeface=""/></a:` + tag + `>`
	}
	return xmlDecl + `<a:theme xmlns:a="` + nsA + `" name="` + attrEsc(name) + `"><a:themeElements>` +
		`<a:clrScheme name="Nexus"><a:dk1><a:srgbClr val="0F172A"/></a:dk1><a:lt1><a:srgbClr val="FFFFFF"/></a:lt1><a:dk2><a:srgbClr val="1E3A8A"/></a:dk2><a:lt2><a:srgbClr val="E2E8F0"/></a:lt2>` +
		`<a:accent1><a:srgbClr val="2563EB"/></a:accent1><a:accent2><a:srgbClr val="F97316"/></a:accent2><a:accent3><a:srgbClr val="16A34A"/></a:accent3><a:accent4><a:srgbClr val="DC2626"/></a:accent4>` +
		`<a:accent5><a:srgbClr val="475569"/></a:accent5><a:accent6><a:srgbClr val="94A3B8"/></a:accent6><a:hlink><a:srgbClr val="2563EB"/></a:hlink><a:folHlink><a:srgbClr val="1E40AF"/></a:folHlink></a:clrScheme>` +
		`<a:fontScheme name="Nexus">` + font("majorFont") + font("minorFont") + `</a:fontScheme>` +
		`<a:fmtScheme name="Nexus"><a:fillStyleLst>` + fill + fill + fill + `</a:fillStyleLst>` +
		`<a:lnStyleLst>` + ln(6350) + ln(12700) + ln(19050) + `</a:lnStyleLst>` +
		`<a:effectStyleLst><a:effectStyle><a:effectLst/></a:effectStyle><a:effectStyle><a:effectLst/></a:effectStyle><a:effectStyle><a:effectLst/></a:effectStyle></a:effectStyleLst>` +
		`<a:bgFillStyleLst>` + fill + fill + fill + `</a:bgFillStyleLst></a:fmtScheme>` +
		`</a:themeElements><a:objectDefaults/><a:extraClrSchemeLst/></a:theme>`
}

// fontLineFactor is the height of one line at 100% spacing, in font sizes
// (Liberation Sans and Arial: ascent + descent + gap).
const fontLineFactor = 1.149

func (p pptxPara) lineFactor() float64 {
	if p.LineH > 0 {
		return p.LineH
	}
	return fontLineFactor
}

// height of the paragraph's n lines plus the space after it
func (p pptxPara) height(lines int) float64 {
	return float64(lines)*p.Size*p.lineFactor() + p.After
}
