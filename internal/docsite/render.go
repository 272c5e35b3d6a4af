package docsite

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/keystone/nexus/internal/report"
)

//go:embed templates assets
var files embed.FS

// Files are the site: file name → content, every file at the top level so
// that every link is a plain file name (the site works from a directory, a
// file:// URL or under any path of a server).
type Files map[string][]byte

// Names lists the files in order.
func (f Files) Names() []string {
	out := make([]string, 0, len(f))
	for n := range f {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ContentType is the MIME type of a file of the site.
func ContentType(name string) string {
	switch filepath.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	}
	return "application/octet-stream"
}

var tmpl = template.Must(template.New("site").Funcs(template.FuncMap{
	"ts":          func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"num":         report.FormatInt,
	"bytes":       report.FormatBytes,
	"dur":         func(d time.Duration) string { return d.Round(time.Millisecond).String() },
	"title":       func(s string) string { return strings.ToUpper(s[:1]) + s[1:] },
	"sentence":    firstSentence,
	"anchor":      ColumnAnchor,
	"checkAnchor": checkAnchor,
	"sql":         func(string) template.HTML { return "" }, // replaced by Render, which knows the pages
}).ParseFS(files, "templates/*.html"))

// page is what a template gets.
type page struct {
	Title, Kind string
	Site        *Site
	Table       *Table
}

// Render writes the site's files: index.html, lineage.html, a page per
// table, the search index, the stylesheet and the script.
func Render(s *Site) (Files, error) {
	out := Files{}
	// SQL links need the site's pages.
	t, err := tmpl.Clone()
	if err != nil {
		return nil, err
	}
	t.Funcs(template.FuncMap{"sql": func(sql string) template.HTML { return sqlHTML(sql, s) }})
	exec := func(name, tpl string, p page) error {
		var b bytes.Buffer
		if err := t.ExecuteTemplate(&b, tpl, p); err != nil {
			return fmt.Errorf("docs: render %s: %w", name, err)
		}
		out[name] = b.Bytes()
		return nil
	}
	if err := exec("index.html", "index", page{Title: "Tables", Kind: "index", Site: s}); err != nil {
		return nil, err
	}
	if err := exec("lineage.html", "lineage", page{Title: "Lineage", Kind: "lineage", Site: s}); err != nil {
		return nil, err
	}
	for _, tb := range s.Tables {
		if err := exec(tb.Page, "table", page{Title: tb.Name, Kind: "table", Site: s, Table: tb}); err != nil {
			return nil, err
		}
	}
	idx, err := searchIndex(s)
	if err != nil {
		return nil, err
	}
	out["search-index.js"] = idx
	for _, a := range []string{"style.css", "site.js"} {
		b, err := fs.ReadFile(files, "assets/"+a)
		if err != nil {
			return nil, err
		}
		out[a] = b
	}
	return out, nil
}

// searchEntry is one entry of the search index.
type searchEntry struct {
	Kind string `json:"k"` // table or column
	Name string `json:"n"`
	Type string `json:"t,omitempty"`
	Desc string `json:"d,omitempty"`
	URL  string `json:"u"`
}

// searchIndex is a script (not JSON to fetch: a page opened from disk may
// not fetch) that sets window.NEXUS_SEARCH.
func searchIndex(s *Site) ([]byte, error) {
	var es []searchEntry
	for _, t := range s.Tables {
		es = append(es, searchEntry{Kind: "table", Name: t.Name, Desc: clipText(firstSentence(t.Description), 160), URL: t.Page})
		for _, c := range t.Columns {
			es = append(es, searchEntry{Kind: "column", Name: t.Name + "." + c.Name, Type: c.Type, Desc: clipText(c.Description, 160), URL: t.Page + "#" + ColumnAnchor(c.Name)})
		}
	}
	b, err := json.Marshal(es)
	if err != nil {
		return nil, err
	}
	return append(append([]byte("window.NEXUS_SEARCH = "), b...), ";\n"...), nil
}

// Write writes the files into dir (created when missing); nothing else is
// touched there.
func (f Files) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("docs: %w", err)
	}
	for _, n := range f.Names() {
		if err := os.WriteFile(filepath.Join(dir, n), f[n], 0o644); err != nil {
			return fmt.Errorf("docs: %w", err)
		}
	}
	return nil
}

var refCall = regexp.MustCompile(`\b(ref|source)\(\s*'([a-z][a-z0-9_]*\.[a-z][a-z0-9_]*)'\s*\)`)

// sqlHTML escapes a model's SQL and links its ref() and source() calls.
func sqlHTML(sql string, s *Site) template.HTML {
	var b strings.Builder
	last := 0
	for _, m := range refCall.FindAllStringSubmatchIndex(sql, -1) {
		b.WriteString(esc(sql[last:m[0]]))
		call := sql[m[0]:m[1]]
		name := sql[m[4]:m[5]]
		if l := s.link(name); l.Href != "" {
			fmt.Fprintf(&b, `<a href="%s" data-ref="%s">%s</a>`, esc(l.Href), esc(name), esc(call))
		} else {
			b.WriteString(esc(call))
		}
		last = m[1]
	}
	b.WriteString(esc(sql[last:]))
	return template.HTML(b.String()) // escaped above
}

// firstSentence is the text up to the first ". " (the index's summary).
func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}
