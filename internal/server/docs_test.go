package server

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/keystone/nexus/internal/docsite"
)

// TestDocs: /docs/ serves the documentation site of the snapshot the server
// reads, every table's page with it, under a policy that loads nothing from
// elsewhere.
func TestDocs(t *testing.T) {
	ts := newTestServer(t, Options{})
	fetch := func(path string, status int) (string, http.Header) {
		t.Helper()
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != status {
			t.Fatalf("GET %s: %d, want %d: %s", path, resp.StatusCode, status, b)
		}
		return string(b), resp.Header
	}
	if _, h := fetch("/docs", http.StatusTemporaryRedirect); h.Get("Location") != "/docs/" {
		t.Errorf("/docs redirects to %q", h.Get("Location"))
	}
	index, h := fetch("/docs/", http.StatusOK)
	if ct := h.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("/docs/ is %s", ct)
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("/docs/ policy %q", csp)
	}
	for _, tb := range testLake.Tables() {
		if !strings.Contains(index, `href="`+docsite.PageOf(tb.Name)+`"`) {
			t.Errorf("/docs/ does not link %s", tb.Name)
		}
	}
	if p, _ := fetch("/docs/gold.fact_sales.html", http.StatusOK); !strings.Contains(p, `<h1 id="top">gold.fact_sales</h1>`) || !strings.Contains(p, `data-upstream="silver.order_items"`) {
		t.Errorf("/docs/gold.fact_sales.html is not the table's page")
	}
	for path, ct := range map[string]string{"/docs/style.css": "text/css; charset=utf-8", "/docs/site.js": "text/javascript; charset=utf-8", "/docs/search-index.js": "text/javascript; charset=utf-8"} {
		if _, h := fetch(path, http.StatusOK); h.Get("Content-Type") != ct {
			t.Errorf("%s is %s, want %s", path, h.Get("Content-Type"), ct)
		}
	}
	fetch("/docs/no.such.table.html", http.StatusNotFound)
}
