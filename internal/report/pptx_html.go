package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// The PowerPoint deck is read from the rendered HTML deck: the template is
// the one source of the slides' words and numbers, and the .pptx cannot say
// anything the HTML and PDF do not. encoding/xml in its HTML mode (not
// strict, void elements closed, HTML entities) reads html/template's output;
// scripts and styles are cut first (their text is not markup).

type hnode struct {
	tag   string // "" for a text node
	attrs map[string]string
	kids  []*hnode
	text  string
	line  int // of the rendered HTML, for errors
}

var scriptRE = regexp.MustCompile(`(?s)<(script|style)\b.*?</(script|style)>`)

func parseHTML(b []byte) (*hnode, error) {
	// blank the cut blocks instead of deleting them: line numbers stay right
	b = scriptRE.ReplaceAllFunc(b, func(m []byte) []byte {
		return bytes.Map(func(r rune) rune {
			if r == '\n' {
				return r
			}
			return ' '
		}, m)
	})
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = false
	dec.AutoClose = xml.HTMLAutoClose
	dec.Entity = xml.HTMLEntity
	root := &hnode{tag: "#root"}
	stack := []*hnode{root}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line, _ := dec.InputPos()
			return nil, fmt.Errorf("deck html, line %d: %w", line, err)
		}
		top := stack[len(stack)-1]
		line, _ := dec.InputPos()
		switch t := tok.(type) {
		case xml.StartElement:
			n := &hnode{tag: strings.ToLower(t.Name.Local), attrs: map[string]string{}, line: line}
			for _, a := range t.Attr {
				n.attrs[strings.ToLower(a.Name.Local)] = a.Value
			}
			top.kids = append(top.kids, n)
			stack = append(stack, n)
		case xml.EndElement:
			name := strings.ToLower(t.Name.Local)
			// close up to the matching element (HTML's optional end tags)
			for i := len(stack) - 1; i > 0; i-- {
				if stack[i].tag == name {
					stack = stack[:i]
					break
				}
			}
		case xml.CharData:
			top.kids = append(top.kids, &hnode{text: string(t), line: line})
		}
	}
	return root, nil
}

func (n *hnode) hasClass(c string) bool {
	for _, f := range strings.Fields(n.attrs["class"]) {
		if f == c {
			return true
		}
	}
	return false
}

// elems are the element children.
func (n *hnode) elems() []*hnode {
	var out []*hnode
	for _, k := range n.kids {
		if k.tag != "" {
			out = append(out, k)
		}
	}
	return out
}

// find returns the elements under n (depth first) for which ok is true,
// not looking inside a match.
func (n *hnode) find(ok func(*hnode) bool) []*hnode {
	var out []*hnode
	for _, k := range n.elems() {
		if ok(k) {
			out = append(out, k)
			continue
		}
		out = append(out, k.find(ok)...)
	}
	return out
}

func (n *hnode) first(ok func(*hnode) bool) *hnode {
	if f := n.find(ok); len(f) > 0 {
		return f[0]
	}
	return nil
}

func byTag(tag string) func(*hnode) bool    { return func(n *hnode) bool { return n.tag == tag } }
func byClass(c string) func(*hnode) bool    { return func(n *hnode) bool { return n.hasClass(c) } }
func (n *hnode) child(c string) *hnode      { return n.first(byClass(c)) }
func (n *hnode) childTag(tag string) *hnode { return n.first(byTag(tag)) }

// textContent is the element's text with HTML's whitespace collapsed.
func (n *hnode) textContent() string {
	var b strings.Builder
	var walk func(*hnode)
	walk = func(n *hnode) {
		if n.tag == "" {
			b.WriteString(n.text)
		}
		if n.tag == "br" {
			b.WriteString(" ")
		}
		for _, k := range n.kids {
			walk(k)
		}
	}
	walk(n)
	return collapseSpace(b.String())
}

var spaceRE = regexp.MustCompile(`[ \t\r\n\f]+`)

// collapseSpace folds HTML whitespace (not U+00A0, which is meant to stay).
func collapseSpace(s string) string { return strings.TrimSpace(spaceRE.ReplaceAllString(s, " ")) }

// styleValue reads one property of the element's style attribute.
func (n *hnode) styleValue(prop string) string {
	for _, decl := range strings.Split(n.attrs["style"], ";") {
		k, v, ok := strings.Cut(decl, ":")
		if ok && strings.TrimSpace(k) == prop {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func (n *hnode) where() string {
	return fmt.Sprintf("<%s class=%q> (deck html, line %d)", n.tag, n.attrs["class"], n.line)
}
