package report

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/keystone/nexus/internal/pipeline"
)

// TestArchMartsHaveEdges: on the deck's architecture slide every mart read
// from an earlier column (the star schema's facts or aggregates) has an edge
// into it, and the column subtitles count marts and aggregates apart (the
// agg_ tables sit with the star schema: with the marts, the edges into
// mart_monthly_sales and mart_state_sales were not drawn). A mart built
// from another mart (mart_category_sales) has its parent in its own column.
func TestArchMartsHaveEdges(t *testing.T) {
	g, suites, err := pipeline.LoadGated("")
	if err != nil {
		t.Fatal(err)
	}
	svg := ArchitectureSVG(ArchInput{Graph: g, Suites: suites})
	// The layout of ArchitectureSVG: five columns of 178-wide boxes.
	const W, boxW, boxH, colCount = 1200.0, 178.0, 26.0, 5
	gap := (W - 40 - boxW*colCount) / (colCount - 1)
	x4 := 20 + 4*(boxW+gap)
	boxRe := regexp.MustCompile(`<rect x="` + regexp.QuoteMeta(strconv.FormatFloat(x4, 'g', -1, 64)) + `" y="([0-9.]+)" width="178" height="26"[^>]*/><text[^>]*>([^<]+)</text>`)
	ends := map[string]bool{}
	for _, m := range regexp.MustCompile(`<path d="([^"]+)" fill="none"`).FindAllStringSubmatch(svg, -1) {
		f := strings.Fields(m[1])
		last := strings.Split(f[len(f)-1], ",")
		ends[last[0]+","+last[1]] = true
	}
	marts := 0
	for _, m := range boxRe.FindAllStringSubmatch(svg, -1) {
		marts++
		if m[2] == "mart_category_sales" {
			continue
		}
		y, _ := strconv.ParseFloat(m[1], 64)
		if !ends[strconv.FormatFloat(x4-2, 'f', 1, 64)+","+strconv.FormatFloat(y+boxH/2, 'f', 1, 64)] {
			t.Errorf("marts column: %s has no incoming edge", m[2])
		}
	}
	if marts == 0 {
		t.Fatal("no box found in the marts column: the layout changed, update the test")
	}
	for _, want := range []string{strconv.Itoa(marts) + " marts", "3 aggregates"} {
		if !strings.Contains(svg, want) {
			t.Errorf("the subtitles do not say %q", want)
		}
	}
}
