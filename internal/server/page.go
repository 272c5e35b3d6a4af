package server

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"time"

	"github.com/keystone/nexus/internal/analytics"
	"github.com/keystone/nexus/internal/lake"
)

// The dashboard page: one HTML template with its CSS and JS inlined, so the
// live page and the static export are the same single file.
//
//go:embed assets/dashboard.html assets/dashboard.css assets/dashboard.js assets/runs.html assets/runs.css assets/runs.js
var assets embed.FS

var (
	pageTpl     = template.Must(template.New("dashboard.html").ParseFS(assets, "assets/dashboard.html"))
	runsPageTpl = template.Must(template.New("runs.html").ParseFS(assets, "assets/runs.html"))
)

var (
	pageCSS = template.CSS(mustRead("assets/dashboard.css"))
	pageJS  = template.JS(mustRead("assets/dashboard.js"))
	// The Runs page has the dashboard's styles plus its own.
	runsCSS = template.CSS(mustRead("assets/dashboard.css") + mustRead("assets/runs.css"))
	runsJS  = template.JS(mustRead("assets/runs.js"))
)

// runsPagePath is the Runs page of the live dashboard.
const runsPagePath = "/runs"

func mustRead(name string) string {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// Boot is what the page starts from. In "live" mode it queries /api/NAME
// for each of Analyses; in "static" mode everything it shows is in Data,
// Filters and Freshness.
type Boot struct {
	Mode      string         `json:"mode"` // live or static
	Generated time.Time      `json:"generated"`
	Lake      string         `json:"lake"`
	Analyses  []PageAnalysis `json:"analyses"` // the registry's dashboard analyses (renderPage fills them in)
	Filters   *FilterLists   `json:"filters,omitempty"`
	Freshness *Freshness     `json:"freshness,omitempty"`
	Data      *Bundle        `json:"data,omitempty"`
}

// PageAnalysis is an analysis the page shows, as the registry names it.
type PageAnalysis struct {
	Name  string `json:"name"`
	Title string `json:"title"`
}

func renderPage(b Boot) ([]byte, error) {
	b.Analyses = nil
	for _, a := range analytics.Select(analytics.InDashboard) {
		b.Analyses = append(b.Analyses, PageAnalysis{a.Name, a.Title})
	}
	var buf bytes.Buffer
	err := pageTpl.Execute(&buf, map[string]any{"Boot": b, "CSS": pageCSS, "JS": pageJS, "Static": b.Mode == "static", "KPIs": analytics.KPIDefs})
	if err != nil {
		return nil, fmt.Errorf("dashboard page: %w", err)
	}
	return buf.Bytes(), nil
}

// renderRunsPage renders the Runs page; it reads /api/runs (live only: the
// run store is not part of the static export).
func renderRunsPage(lakeName string) ([]byte, error) {
	var buf bytes.Buffer
	err := runsPageTpl.Execute(&buf, map[string]any{"Lake": lakeName, "CSS": runsCSS, "JS": runsJS, "NoRuns": NoRunsMessage})
	if err != nil {
		return nil, fmt.Errorf("runs page: %w", err)
	}
	return buf.Bytes(), nil
}

// WriteDashboard writes the dashboard for the whole lake (no filter) as one
// self-contained HTML file, dashboard.html in dir (default
// <lake>/_nexus/reports/dashboard), and returns its path.
func WriteDashboard(ctx context.Context, db *sql.DB, lk *lake.Lake, dir string) (string, error) {
	if dir == "" {
		dir = lk.MetaDir("reports", "dashboard")
	}
	lists, err := LoadFilters(ctx, db)
	if err != nil {
		return "", fmt.Errorf("dashboard: %w", err)
	}
	fresh, err := LoadFreshness(lk)
	if err != nil {
		return "", fmt.Errorf("dashboard: %w", err)
	}
	data, err := Collect(ctx, db, analytics.Filter{})
	if err != nil {
		return "", fmt.Errorf("dashboard: %w", err)
	}
	page, err := renderPage(Boot{Mode: "static", Generated: time.Now().UTC(), Lake: lk.Root, Filters: lists, Freshness: fresh, Data: data})
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("report directory: %w", err)
	}
	path := filepath.Join(dir, "dashboard.html")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, page, 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return path, nil
}
