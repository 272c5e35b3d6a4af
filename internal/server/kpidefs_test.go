package server

import (
	"html"
	"strings"
	"testing"

	"github.com/keystone/nexus/internal/analytics"
)

// TestCardsUseKPIDefs: the dashboard's cards name and define the headline
// numbers as the CLI and the deck do (analytics.KPIDefs), e.g. that the
// average order value includes freight while revenue does not.
func TestCardsUseKPIDefs(t *testing.T) {
	t.Parallel()
	page, err := renderPage(Boot{Mode: "static"})
	if err != nil {
		t.Fatal(err)
	}
	text := html.UnescapeString(string(page))
	for _, d := range analytics.KPIDefs {
		want := `data-kpi="` + d.Key + `"><span class="label">` + d.Label + `</span><b class="value">—</b><span class="hint">` + d.Def + `</span>`
		if !strings.Contains(text, want) {
			t.Errorf("no card %s defined as %q", d.Key, d.Def)
		}
	}
}
