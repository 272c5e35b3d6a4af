package report

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keystone/nexus/internal/catalog"
	"github.com/keystone/nexus/internal/pipeline"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files under testdata/")

// sampleDeck is a deck of hand-built numbers (sampleAnalyses) and the
// pipeline's real model graph: no lake needed.
func sampleDeck(t *testing.T) *DeckData {
	t.Helper()
	a := sampleAnalyses()
	a.KPIs.DataFrom, a.KPIs.DataTo = a.MonthlySales[0].Month, a.MonthlySales[len(a.MonthlySales)-1].Month.AddDate(0, 1, -1)
	d := &DeckData{Generated: time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC), LakeRoot: "/srv/lake", A: a}
	d.Layers = []LayerSize{
		{Layer: "bronze", Tables: 9, Rows: 1_550_922, Bytes: 61_000_000},
		{Layer: "silver", Tables: 9, Rows: 1_420_000, Bytes: 48_000_000},
		{Layer: "gold", Tables: 11, Rows: 1_210_000, Bytes: 39_000_000},
		{Layer: "quarantine", Tables: 4, Rows: 1_234, Bytes: 300_000},
	}
	for _, l := range d.Layers {
		d.Tables += l.Tables
		d.LakeBytes += l.Bytes
	}
	d.BronzeRows, d.QuarantineRows = d.Layers[0].Rows, d.Layers[3].Rows
	fp := &catalog.Footprint{Snapshot: 3, Tables: 33, Files: 120, Bytes: 148_300_000, RunChanged: 18, RunFiles: 40,
		Queries: []catalog.QueryScan{{Analysis: "kpis", Bytes: 12e6, Tables: 2, Files: 10, Symlinks: 10}, {Analysis: "rfm", Bytes: 30e6, Tables: 2, Files: 10, Symlinks: 10}}}
	d.Cost = NewCostModel(d.Layers, fp, catalog.DefaultUsage())
	g, suites, err := pipeline.LoadGated("")
	if err != nil {
		t.Fatal(err)
	}
	d.Models = len(g.Models)
	d.Quality = QualitySummary{RunID: "20260302T093000Z-1a2b", Started: d.Generated.Add(-time.Hour), Checks: 147, Pass: 141, Warn: 4, Fail: 2,
		RowsChecked: 9_876_543, Reconciles: 12, ReconPass: 12, ByLayer: map[string]int{"silver": 90, "gold": 57}, Found: true}
	d.Checks = d.Quality.Checks
	d.Late = LateImpact{LateOrders: 7_826, DeliveredOrders: 96_470, LateRevenue: 1_080_000}
	d.ArchSVG = template.HTML(ArchitectureSVG(ArchInput{Graph: g, Suites: suites, Checks: d.Quality.ByLayer, QuarantineRows: d.QuarantineRows}))
	d.derive()
	if err := d.drawCharts(); err != nil {
		t.Fatal(err)
	}
	return d
}

// writeSamplePPTX renders the sample deck's HTML and its .pptx into dir.
func writeSamplePPTX(t *testing.T, dir string) (html []byte, pptx string) {
	t.Helper()
	d := sampleDeck(t)
	var buf bytes.Buffer
	if err := RenderDeck(&buf, d); err != nil {
		t.Fatal(err)
	}
	pptx = filepath.Join(dir, "deck.pptx")
	if err := writePPTX(buf.Bytes(), d, pptx); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), pptx
}

// TestPPTXPackage checks the PowerPoint file of the sample deck as an Office
// Open XML package (content types, relationships, slides, notes) and its
// slide list against testdata/pptx_slides.golden.
func TestPPTXPackage(t *testing.T) {
	html, file := writeSamplePPTX(t, t.TempDir())
	pkg := readPPTX(t, file)
	if n := len(sectionRE.FindAllSubmatch(html, -1)); len(pkg.slides) != n {
		t.Errorf("%d slides in the pptx, %d in the HTML deck", len(pkg.slides), n)
	}
	var list strings.Builder
	var total float64
	for i, s := range pkg.slides {
		fmt.Fprintf(&list, "%2d  %-11s  %-38s  %s\n", i+1, s.timing, s.name, s.title)
		fmt.Fprintf(&list, "    %s\n", s.shapes)
		total += s.minutes
	}
	if total != 10 {
		t.Errorf("the talk's slides add up to %v minutes, want the plan's 10", total)
	}
	golden(t, "pptx_slides.golden", list.String())
	if out := os.Getenv("NEXUS_PPTX_OUT"); out != "" { // to look at it
		copyFile(t, file, filepath.Join(out, "sample.pptx"))
	}
}

// TestPPTXLayout checks the slides as laid out: every shape on the slide,
// and no two boxes overlapping (a box may sit on a filled one: a card's
// coloured bar).
func TestPPTXLayout(t *testing.T) {
	d := sampleDeck(t)
	var buf bytes.Buffer
	if err := RenderDeck(&buf, d); err != nil {
		t.Fatal(err)
	}
	deck, err := buildPPTX(buf.Bytes(), func(string) ([]byte, error) { return nil, nil }, d.Generated)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range deck.Slides {
		for _, p := range layoutProblems(s) {
			t.Errorf("slide %d (%s): %s", i+1, s.Name, p)
		}
	}
}

type rect struct {
	x, y, w, h float64
	what       string
	filled     bool
}

func shapeRect(sh pptxShape) rect {
	switch s := sh.(type) {
	case *pptxText:
		what := "text"
		if len(s.Paras) > 0 && len(s.Paras[0].Runs) > 0 {
			what = fmt.Sprintf("text %.30q", s.Paras[0].Runs[0].Text)
		}
		return rect{s.X, s.Y, s.W, s.H, what, s.Fill != ""}
	case *pptxPicture:
		return rect{s.X, s.Y, s.W, s.H, "picture " + s.Descr, false}
	case *pptxTable:
		return rect{s.X, s.Y, s.width(), s.height(), "table", false}
	case *pptxGroup:
		return rect{s.X, s.Y, s.W, s.H, "group " + s.Name, false}
	case *pptxPath:
		x0, y0, x1, y1 := s.bounds()
		return rect{x0, y0, x1 - x0, y1 - y0, "path", false}
	}
	return rect{}
}

func layoutProblems(s pptxSlide) []string {
	var out []string
	const eps = 0.5
	var rs []rect
	for _, sh := range s.Shapes {
		r := shapeRect(sh)
		if r.x < -eps || r.y < -eps || r.x+r.w > slideWPx+eps || r.y+r.h > slideHPx+eps {
			out = append(out, fmt.Sprintf("%s at %.0f,%.0f %.0f×%.0f runs off the slide", r.what, r.x, r.y, r.w, r.h))
		}
		rs = append(rs, r)
	}
	inside := func(a, b rect) bool { // a within b
		return a.x >= b.x-eps && a.y >= b.y-eps && a.x+a.w <= b.x+b.w+eps && a.y+a.h <= b.y+b.h+eps
	}
	for i, a := range rs {
		for _, b := range rs[i+1:] {
			ox := math.Min(a.x+a.w, b.x+b.w) - math.Max(a.x, b.x)
			oy := math.Min(a.y+a.h, b.y+b.h) - math.Max(a.y, b.y)
			if ox <= eps || oy <= eps || (a.filled && inside(b, a)) || (b.filled && inside(a, b)) {
				continue
			}
			out = append(out, fmt.Sprintf("%s (%.0f,%.0f %.0f×%.0f) overlaps %s (%.0f,%.0f %.0f×%.0f)", a.what, a.x, a.y, a.w, a.h, b.what, b.x, b.y, b.w, b.h))
		}
	}
	return out
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (go test -run %s -update writes it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -run %s -update rewrites it):\n--- got\n%s--- want\n%s", p, t.Name(), got, want)
	}
}

// pptxPackage is what readPPTX found in a .pptx.
type pptxPackage struct {
	slides []pptxSlideInfo
}

type pptxSlideInfo struct {
	name, title, timing, shapes string
	minutes                     float64
}

var minutesRE = regexp.MustCompile(`^(\d+):(\d\d)–(\d+):(\d\d) · `)

// readPPTX opens a .pptx as a client would and checks the package: every
// part has a content type, every XML part parses, every relationship
// points at a part, the presentation lists every slide, each slide has its
// notes and a title shape.
func readPPTX(t *testing.T, file string) pptxPackage {
	t.Helper()
	zr, err := zip.OpenReader(file)
	if err != nil {
		t.Fatalf("%s is not a zip: %v", file, err)
	}
	defer zr.Close()
	parts := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := parts[f.Name]; dup {
			t.Errorf("part %s twice", f.Name)
		}
		parts[f.Name] = b
	}
	// content types
	var ct struct {
		Defaults []struct {
			Extension   string `xml:"Extension,attr"`
			ContentType string `xml:"ContentType,attr"`
		} `xml:"Default"`
		Overrides []struct {
			PartName    string `xml:"PartName,attr"`
			ContentType string `xml:"ContentType,attr"`
		} `xml:"Override"`
	}
	if err := xml.Unmarshal(parts["[Content_Types].xml"], &ct); err != nil {
		t.Fatalf("[Content_Types].xml: %v", err)
	}
	types := map[string]string{}
	for _, o := range ct.Overrides {
		name := strings.TrimPrefix(o.PartName, "/")
		if _, ok := parts[name]; !ok {
			t.Errorf("[Content_Types].xml names %s, which is not in the package", o.PartName)
		}
		types[name] = o.ContentType
	}
	defaults := map[string]string{}
	for _, d := range ct.Defaults {
		defaults[d.Extension] = d.ContentType
	}
	for name, b := range parts {
		if name == "[Content_Types].xml" {
			continue
		}
		if types[name] == "" && defaults[strings.TrimPrefix(path.Ext(name), ".")] == "" {
			t.Errorf("%s has no content type", name)
		}
		if strings.HasSuffix(name, ".xml") || strings.HasSuffix(name, ".rels") {
			if err := wellFormed(b); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
	// relationships: every target exists
	type rel struct {
		ID     string `xml:"Id,attr"`
		Type   string `xml:"Type,attr"`
		Target string `xml:"Target,attr"`
	}
	rels := map[string][]rel{} // source part → its relationships
	for name, b := range parts {
		if !strings.HasSuffix(name, ".rels") {
			continue
		}
		var r struct {
			Rels []rel `xml:"Relationship"`
		}
		if err := xml.Unmarshal(b, &r); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		dir, file := path.Split(name)
		source := path.Join(path.Dir(path.Clean(dir)), strings.TrimSuffix(file, ".rels"))
		ids := map[string]bool{}
		for _, x := range r.Rels {
			if ids[x.ID] {
				t.Errorf("%s: id %s twice", name, x.ID)
			}
			ids[x.ID] = true
			target := path.Join(path.Dir(source), x.Target)
			if _, ok := parts[target]; !ok {
				t.Errorf("%s: %s → %s, not in the package", name, x.ID, target)
			}
		}
		rels[source] = r.Rels
	}
	relTarget := func(source, typ string) []string {
		var out []string
		for _, r := range rels[source] {
			if strings.HasSuffix(r.Type, "/"+typ) {
				out = append(out, path.Join(path.Dir(source), r.Target))
			}
		}
		return out
	}
	main := relTarget(".", "officeDocument")
	if len(main) != 1 || types[main[0]] != ctBase+"presentation.main+xml" {
		t.Fatalf("_rels/.rels: officeDocument %v (type %q)", main, types["ppt/presentation.xml"])
	}
	presDoc := parseXMLTree(t, parts[main[0]])
	byID := map[string]rel{}
	for _, r := range rels[main[0]] {
		byID[r.ID] = r
	}
	count := func(elem string) int {
		n := 0
		presDoc.walk(func(x *xnode) bool {
			if x.name == elem {
				n++
			}
			return true
		})
		return n
	}
	if m, nm := count("sldMasterId"), count("notesMasterId"); m != 1 || nm != 1 {
		t.Errorf("presentation: %d slide masters, %d notes masters", m, nm)
	}
	var slideParts []string
	presDoc.walk(func(x *xnode) bool {
		if x.name != "sldId" {
			return true
		}
		r, ok := byID[x.attrs["r:id"]]
		if !ok || !strings.HasSuffix(r.Type, "/slide") {
			t.Errorf("presentation: slide id %s → %s is not a slide relationship", x.attrs["id"], x.attrs["r:id"])
			return false
		}
		slideParts = append(slideParts, path.Join("ppt", r.Target))
		return false
	})
	var all []string
	for name := range parts {
		if types[name] == ctBase+"slide+xml" {
			all = append(all, name)
		}
	}
	if len(all) != len(slideParts) {
		t.Errorf("%d slide parts, the presentation lists %d", len(all), len(slideParts))
	}
	var out pptxPackage
	for i, sp := range slideParts {
		info := pptxSlideInfo{}
		doc := parseXMLTree(t, parts[sp])
		info.name = doc.attr("cSld", "name")
		titles := doc.shapesWithPlaceholder("title")
		if len(titles) != 1 {
			t.Errorf("slide %d: %d title shapes, want 1", i+1, len(titles))
		} else {
			info.title = titles[0]
		}
		info.shapes = doc.shapeSummary()
		notes := relTarget(sp, "notesSlide")
		if len(notes) != 1 {
			t.Errorf("slide %d: %d notes slides, want 1", i+1, len(notes))
			out.slides = append(out.slides, info)
			continue
		}
		if back := relTarget(notes[0], "slide"); len(back) != 1 || back[0] != sp {
			t.Errorf("%s does not point back at %s: %v", notes[0], sp, back)
		}
		if nm := relTarget(notes[0], "notesMaster"); len(nm) != 1 {
			t.Errorf("%s: no notes master", notes[0])
		}
		body := parseXMLTree(t, parts[notes[0]]).shapesWithPlaceholder("body")
		if len(body) != 1 || len(body[0]) < 40 {
			t.Errorf("slide %d: notes %q, want the timing and the talking points", i+1, body)
			out.slides = append(out.slides, info)
			continue
		}
		if m := minutesRE.FindStringSubmatch(body[0]); m != nil {
			n := func(i int) float64 { v, _ := strconv.Atoi(m[i]); return float64(v) }
			info.timing = fmt.Sprintf("%s:%s–%s:%s", m[1], m[2], m[3], m[4])
			info.minutes = (n(3)*60 + n(4) - n(1)*60 - n(2)) / 60
		} else if strings.HasPrefix(body[0], "Backup slide") {
			info.timing = "backup"
		} else {
			t.Errorf("slide %d: notes start %.40q, want the minutes of the talk", i+1, body[0])
		}
		out.slides = append(out.slides, info)
	}
	return out
}

func wellFormed(b []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// xnode is a parsed XML element, by local name.
type xnode struct {
	name  string
	attrs map[string]string
	kids  []*xnode
	text  string
}

func parseXMLTree(t *testing.T, b []byte) *xnode {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	root := &xnode{}
	stack := []*xnode{root}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		top := stack[len(stack)-1]
		switch x := tok.(type) {
		case xml.StartElement:
			n := &xnode{name: x.Name.Local, attrs: map[string]string{}}
			for _, a := range x.Attr {
				k := a.Name.Local
				if a.Name.Space == nsR {
					k = "r:" + k
				}
				n.attrs[k] = a.Value
			}
			top.kids = append(top.kids, n)
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			top.text += string(x)
		}
	}
	return root
}

func (n *xnode) walk(f func(*xnode) bool) {
	if !f(n) {
		return
	}
	for _, k := range n.kids {
		k.walk(f)
	}
}

func (n *xnode) attr(elem, name string) string {
	var v string
	n.walk(func(x *xnode) bool {
		if x.name == elem && v == "" {
			v = x.attrs[name]
		}
		return true
	})
	return v
}

// texts is the text of the element's paragraphs, one space between them.
func (n *xnode) texts() string {
	var paras []string
	n.walk(func(x *xnode) bool {
		if x.name == "p" {
			var b strings.Builder
			x.walk(func(y *xnode) bool {
				if y.name == "t" {
					b.WriteString(y.text)
				}
				if y.name == "br" {
					b.WriteString(" ")
				}
				return true
			})
			paras = append(paras, b.String())
			return false
		}
		return true
	})
	return strings.Join(paras, " ")
}

// shapesWithPlaceholder returns the text of the shapes that are the
// placeholder of a type.
func (n *xnode) shapesWithPlaceholder(typ string) []string {
	var out []string
	n.walk(func(x *xnode) bool {
		if x.name != "sp" {
			return true
		}
		found := false
		x.walk(func(y *xnode) bool {
			if y.name == "ph" && y.attrs["type"] == typ {
				found = true
			}
			return !found
		})
		if found {
			out = append(out, x.texts())
		}
		return false
	})
	return out
}

// shapeSummary counts the shapes of a slide by kind.
func (n *xnode) shapeSummary() string {
	counts := map[string]int{}
	n.walk(func(x *xnode) bool {
		switch x.name {
		case "sp":
			counts["shapes"]++
		case "pic":
			counts["pictures"]++
		case "tbl":
			counts["tables"]++
		case "grpSp":
			counts["groups"]++
		}
		return true
	})
	var parts []string
	for _, k := range []string{"shapes", "pictures", "tables", "groups"} {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
		}
	}
	return strings.Join(parts, ", ")
}

func TestPPTXName(t *testing.T) {
	for _, c := range []struct{ dir, want string }{
		{"presentation", "keystone_nexus_executive_summary.pptx"},
		{"./presentation/", "keystone_nexus_executive_summary.pptx"},
		{"/srv/repo/presentation", "keystone_nexus_executive_summary.pptx"},
		{"/srv/lake/_nexus/reports/deck", "deck.pptx"},
		{"presentations", "deck.pptx"},
	} {
		if got := PPTXName(c.dir); got != c.want {
			t.Errorf("PPTXName(%q) = %q, want %q", c.dir, got, c.want)
		}
	}
}

func TestParsePath(t *testing.T) {
	id := func(x, y float64) pathPt { return pathPt{x, y} }
	for _, c := range []struct {
		d, want, err string
	}{
		{"M1,2 L3,4", "M[{1 2}] L[{3 4}]", ""},
		{"M1.5,2 C3,4 5,6 7,8 L9,10", "M[{1.5 2}] C[{3 4} {5 6} {7 8}] L[{9 10}]", ""},
		{"M0,0L10,5", "M[{0 0}] L[{10 5}]", ""},
		{"M0,0 A5,5 0 0 1 10,10", "", "command A is not drawn"},
		{"M0,0 C1,2 3,4", "", "C takes 6 numbers, got 4"},
		{"L1,2", "", "does not start with M"},
	} {
		segs, err := parsePath(c.d, id)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.d, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.d, err)
			continue
		}
		var got []string
		for _, s := range segs {
			got = append(got, fmt.Sprintf("%c%v", s.Op, s.Pts))
		}
		if g := strings.Join(got, " "); g != c.want {
			t.Errorf("%q: %s, want %s", c.d, g, c.want)
		}
	}
}

// TestPPTXRefusesUnknownBlocks: a block of the HTML deck the PowerPoint
// layout does not know is an error naming it, not a slide with a hole.
func TestPPTXRefusesUnknownBlocks(t *testing.T) {
	notes := `<aside class="notes" data-minutes="1"><p>Say it.</p></aside>`
	for _, c := range []struct{ name, html, err string }{
		{"unknown block", `<section class="slide" data-title="X"><h2>X</h2><div class="gallery">a</div>` + notes + `</section>`, `class="gallery"`},
		{"no notes", `<section class="slide" data-title="X"><h2>X</h2></section>`, "no speaker notes"},
		{"bad minutes", `<section class="slide" data-title="X"><h2>X</h2><aside class="notes" data-minutes="soon"><p>a</p></aside></section>`, `data-minutes "soon"`},
		{"chart without name", `<section class="slide" data-title="X"><h2>X</h2><div class="fullchart"><svg></svg></div>` + notes + `</section>`, "without data-chart"},
		{"no slides", `<p>nothing</p>`, "no slide"},
	} {
		_, err := buildPPTX([]byte(c.html), func(string) ([]byte, error) { return nil, nil }, time.Time{})
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.err)
		}
	}
}

// officeBinary returns LibreOffice's command, or skips the test (fails it
// when NEXUS_REQUIRE_TOOLS=1).
func officeBinary(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"libreoffice", "soffice"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "LibreOffice not installed (libreoffice or soffice on PATH; Debian: apt-get install --no-install-recommends libreoffice-impress): the .pptx is not opened by a real client"
	if os.Getenv("NEXUS_REQUIRE_TOOLS") == "1" {
		t.Fatal(msg + "; NEXUS_REQUIRE_TOOLS=1 makes this a failure")
	}
	t.Skip(msg)
	return ""
}

// convertWithLibreOffice converts a .pptx to PDF headless, the slides and
// then their notes pages, with a fresh profile (LibreOffice refuses to
// share one, and root needs its own).
func convertWithLibreOffice(t *testing.T, office, pptx string) string {
	t.Helper()
	out := t.TempDir()
	profile := "file://" + filepath.ToSlash(t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, office, "-env:UserInstallation="+profile, "--headless", "--norestore",
		"--convert-to", `pdf:impress_pdf_Export:{"ExportNotesPages":{"type":"boolean","value":"true"}}`, "--outdir", out, pptx)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("libreoffice: %v\n%s", err, b)
	}
	pdf := filepath.Join(out, strings.TrimSuffix(filepath.Base(pptx), ".pptx")+".pdf")
	if _, err := os.Stat(pdf); err != nil {
		t.Fatalf("libreoffice wrote no PDF (%v):\n%s", err, b)
	}
	return pdf
}

// checkPDFOfPPTX checks LibreOffice's PDF of a .pptx: one page per slide,
// each slide's title on it, then one notes page per slide with the slide's
// minutes of the talk.
func checkPDFOfPPTX(t *testing.T, pdf string, pkg pptxPackage) {
	t.Helper()
	b, err := os.ReadFile(pdf)
	if err != nil {
		t.Fatal(err)
	}
	n := len(pkg.slides)
	if pages := pdfPages(b); pages != 2*n {
		t.Errorf("LibreOffice's PDF has %d pages, want %d: the .pptx's %d slides and their notes pages", pages, 2*n, n)
	}
	if _, err := exec.LookPath("pdftotext"); err != nil {
		if os.Getenv("NEXUS_REQUIRE_TOOLS") == "1" {
			t.Fatal("pdftotext (poppler-utils) is required (NEXUS_REQUIRE_TOOLS=1)")
		}
		t.Skip("pdftotext (poppler-utils) not installed: the slides' titles are not looked for in the PDF")
	}
	norm := func(s string) string { return strings.Join(strings.Fields(strings.ReplaceAll(s, "\u00a0", " ")), " ") }
	page := func(p int) string {
		txt, err := exec.Command("pdftotext", "-f", strconv.Itoa(p), "-l", strconv.Itoa(p), pdf, "-").Output()
		if err != nil {
			t.Fatalf("pdftotext page %d: %v", p, err)
		}
		return norm(string(txt))
	}
	for i, s := range pkg.slides {
		text := page(i + 1)
		if want := norm(s.title); !strings.Contains(text, want) {
			t.Errorf("page %d: no title %q in %q", i+1, want, text)
		}
		notes := page(n + i + 1)
		want := s.timing
		if want == "backup" {
			want = "Backup slide"
		}
		if !strings.Contains(notes, want) || !strings.Contains(notes, norm(s.title)) {
			t.Errorf("notes page %d: want the slide (%q) and its minutes %q, got %q", n+i+1, s.title, want, notes)
		}
	}
}

// TestPPTXInLibreOffice opens the sample deck's .pptx in LibreOffice
// (headless, converted to PDF): every slide a page, every title on it.
func TestPPTXInLibreOffice(t *testing.T) {
	office := officeBinary(t)
	_, file := writeSamplePPTX(t, t.TempDir())
	pkg := readPPTX(t, file)
	pdf := convertWithLibreOffice(t, office, file)
	checkPDFOfPPTX(t, pdf, pkg)
	if out := os.Getenv("NEXUS_PPTX_OUT"); out != "" {
		copyFile(t, pdf, filepath.Join(out, "sample.pdf"))
	}
}

// TestPPTXOnGeneratedLake writes the deck of a generated lake into a
// presentation/ directory (the plan's file name), checks the package and
// the layout, and opens it in LibreOffice.
func TestPPTXOnGeneratedLake(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a lake")
	}
	lk, eng := buildTestLake(t)
	dir := filepath.Join(t.TempDir(), "presentation")
	files, err := WriteDeck(context.Background(), eng.DB(), lk, dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "keystone_nexus_executive_summary.pptx"); files.PPTX != want {
		t.Fatalf("pptx written to %q, want %q", files.PPTX, want)
	}
	html, err := os.ReadFile(files.HTML)
	if err != nil {
		t.Fatal(err)
	}
	pkg := readPPTX(t, files.PPTX)
	names := sectionRE.FindAllSubmatch(html, -1)
	if len(pkg.slides) != deckSlides || len(names) != deckSlides {
		t.Fatalf("%d slides in the pptx, %d in the HTML, want %d", len(pkg.slides), len(names), deckSlides)
	}
	for i, s := range pkg.slides {
		if s.name != string(names[i][1]) {
			t.Errorf("slide %d is %q in the pptx, %q in the HTML", i+1, s.name, names[i][1])
		}
	}
	// the layout with the lake's own numbers
	deck, err := buildPPTX(html, func(string) ([]byte, error) { return nil, nil }, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range deck.Slides {
		for _, p := range layoutProblems(s) {
			t.Errorf("slide %d (%s): %s", i+1, s.Name, p)
		}
	}
	if out := os.Getenv("NEXUS_PPTX_OUT"); out != "" {
		copyFile(t, files.PPTX, filepath.Join(out, filepath.Base(files.PPTX)))
	}
	office := officeBinary(t)
	pdf := convertWithLibreOffice(t, office, files.PPTX)
	checkPDFOfPPTX(t, pdf, pkg)
	if out := os.Getenv("NEXUS_PPTX_OUT"); out != "" {
		copyFile(t, pdf, filepath.Join(out, "lake.pdf"))
	}
}
