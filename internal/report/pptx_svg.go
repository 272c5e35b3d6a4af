package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// svgShapes redraws the architecture diagram (ArchitectureSVG) as native
// PowerPoint shapes, so that an executive can move a box or retype a
// label: rectangles become shapes, a text inside a small rectangle becomes
// its label, other texts text boxes, paths and lines freeform connectors
// with their arrow heads. The subset is the one ArchitectureSVG writes;
// anything else is an error rather than a diagram with a hole.
//
// The viewBox is fitted into x, y, w, h keeping its aspect, centred
// (preserveAspectRatio's default, xMidYMid meet).
func svgShapes(svg *hnode, x, y, w, h float64) (*pptxGroup, error) {
	vb := strings.Fields(strings.ReplaceAll(svg.attrs["viewbox"], ",", " "))
	if len(vb) != 4 {
		return nil, fmt.Errorf("svg: viewBox %q", svg.attrs["viewbox"])
	}
	var v [4]float64
	for i, f := range vb {
		var err error
		if v[i], err = strconv.ParseFloat(f, 64); err != nil {
			return nil, fmt.Errorf("svg: viewBox %q: %w", svg.attrs["viewbox"], err)
		}
	}
	s := math.Min(w/v[2], h/v[3])
	ox := x + (w-v[2]*s)/2 - v[0]*s
	oy := y + (h-v[3]*s)/2 - v[1]*s
	pt := func(px, py float64) pathPt { return pathPt{ox + px*s, oy + py*s} }
	g := &pptxGroup{Name: "Architecture", X: ox + v[0]*s, Y: oy + v[1]*s, W: v[2] * s, H: v[3] * s}
	var lastRect *pptxText
	var lastRectH float64 // in SVG units
	for _, n := range svg.elems() {
		num := func(a string) float64 {
			f, _ := strconv.ParseFloat(n.attrs[a], 64)
			return f
		}
		switch n.tag {
		case "defs", "title", "desc":
		case "rect":
			r := &pptxText{X: ox + num("x")*s, Y: oy + num("y")*s, W: num("width") * s, H: num("height") * s,
				Geom: "roundRect", Radius: num("rx") * s, Fill: svgColor(n.attrs["fill"]), Line: svgColor(n.attrs["stroke"]), Anchor: "ctr", NoWrap: true}
			if r.Radius == 0 {
				r.Geom = "rect"
			}
			if r.Line != "" {
				r.LineW = math.Max(num("stroke-width"), 1) * s
			}
			g.Shapes = append(g.Shapes, r)
			lastRect, lastRectH = r, num("height")
		case "text":
			size := num("font-size")
			if size == 0 {
				size = 16
			}
			p := pptxPara{Size: size * s, Color: svgColor(n.attrs["fill"]), Bold: n.attrs["font-weight"] == "700" || n.attrs["font-weight"] == "bold"}
			for _, k := range n.kids {
				switch {
				case k.tag == "":
					p.Runs = append(p.Runs, pptxRun{Text: k.text})
				case k.tag == "tspan":
					p.Runs = append(p.Runs, pptxRun{Text: k.textContent(), Bold: k.attrs["font-weight"] == "700" || k.attrs["font-weight"] == "bold"})
				default:
					return nil, fmt.Errorf("svg: <%s> in a text", k.tag)
				}
			}
			p.Runs = tidyRuns(p.Runs)
			switch n.attrs["text-anchor"] {
			case "middle":
				p.Align = "ctr"
			case "end":
				p.Align = "r"
			}
			at := pt(num("x"), num("y"))
			if r := lastRect; r != nil && lastRectH <= 3*size && at.X > r.X && at.X < r.X+r.W && at.Y > r.Y && at.Y < r.Y+r.H+size*s {
				r.Paras = append(r.Paras, p) // the rectangle's label
				continue
			}
			tw := runsWidth(p) + 4
			tx := at.X
			switch p.Align {
			case "ctr":
				tx -= tw / 2
			case "r":
				tx -= tw
			}
			// the box's first baseline sits an ascent (0.905 em) under its top
			g.Shapes = append(g.Shapes, &pptxText{X: tx, Y: at.Y - 0.905*p.Size, W: tw, H: p.Size * fontLineFactor, Paras: []pptxPara{p}, NoWrap: true})
		case "path", "line":
			var segs []pathSeg
			if n.tag == "line" {
				segs = []pathSeg{{'M', []pathPt{pt(num("x1"), num("y1"))}}, {'L', []pathPt{pt(num("x2"), num("y2"))}}}
			} else {
				var err error
				if segs, err = parsePath(n.attrs["d"], pt); err != nil {
					return nil, err
				}
			}
			p := &pptxPath{Segs: segs, Stroke: svgColor(n.attrs["stroke"]), Width: math.Max(num("stroke-width"), 1) * s,
				Dash: n.attrs["stroke-dasharray"] != "", Arrow: n.attrs["marker-end"] != ""}
			if p.Stroke == "" {
				return nil, fmt.Errorf("svg: a %s without stroke (filled paths are not drawn)", n.tag)
			}
			if o := n.attrs["opacity"]; o != "" {
				p.Alpha = num("opacity")
			}
			g.Shapes = append(g.Shapes, p)
		default:
			return nil, fmt.Errorf("svg: <%s> cannot be redrawn as a PowerPoint shape", n.tag)
		}
	}
	return g, nil
}

// parsePath reads the absolute M, L and C commands of a path's d.
func parsePath(d string, pt func(x, y float64) pathPt) ([]pathSeg, error) {
	var segs []pathSeg
	var op byte
	var nums []float64
	flush := func() error {
		if op == 0 {
			return nil
		}
		per := map[byte]int{'M': 2, 'L': 2, 'C': 6}[op]
		if len(nums) == 0 || len(nums)%per != 0 {
			return fmt.Errorf("svg path %q: %c takes %d numbers, got %d", d, op, per, len(nums))
		}
		for i := 0; i < len(nums); i += per {
			seg := pathSeg{Op: op}
			for j := i; j < i+per; j += 2 {
				seg.Pts = append(seg.Pts, pt(nums[j], nums[j+1]))
			}
			segs = append(segs, seg)
		}
		nums = nums[:0]
		return nil
	}
	for _, f := range strings.FieldsFunc(d, func(r rune) bool { return r == ' ' || r == ',' }) {
		for f != "" {
			c := f[0]
			if (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') {
				if err := flush(); err != nil {
					return nil, err
				}
				if c != 'M' && c != 'L' && c != 'C' {
					return nil, fmt.Errorf("svg path %q: command %c is not drawn (M, L and C are)", d, c)
				}
				op, f = c, f[1:]
				continue
			}
			end := strings.IndexFunc(f, func(r rune) bool { return (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') })
			if end < 0 {
				end = len(f)
			}
			v, err := strconv.ParseFloat(f[:end], 64)
			if err != nil {
				return nil, fmt.Errorf("svg path %q: %w", d, err)
			}
			nums = append(nums, v)
			f = f[end:]
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if len(segs) == 0 || segs[0].Op != 'M' {
		return nil, fmt.Errorf("svg path %q: does not start with M", d)
	}
	return segs, nil
}

// svgColor turns #rgb and #rrggbb into rrggbb; "none" and "" into "".
func svgColor(c string) string {
	c = strings.TrimPrefix(strings.TrimSpace(c), "#")
	switch len(c) {
	case 3:
		return string([]byte{c[0], c[0], c[1], c[1], c[2], c[2]})
	case 6:
		return c
	}
	return ""
}
