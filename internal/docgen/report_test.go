package docgen

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// priceInReport is an amount in cents the technical report quotes (the
// bills `nexus catalog cost` computes).
var priceInReport = regexp.MustCompile(`US\$\s?(\d[\d,]*\.\d\d)\b`)

// TestReportPricesCommitted: every priced amount docs/technical_report.md
// quotes is in a committed bench/results file (bench/cost.sh), so a change
// of the cost model that moves the bill shows the report's figure is stale.
func TestReportPricesCommitted(t *testing.T) {
	report, err := os.ReadFile(filepath.Join(docsDir, "technical_report.md"))
	if err != nil {
		t.Fatal(err)
	}
	results, err := filepath.Glob(filepath.Join(repoRoot, "bench", "results", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, f := range results {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	amounts := priceInReport.FindAllStringSubmatch(string(report), -1)
	if len(amounts) == 0 {
		t.Fatal("docs/technical_report.md quotes no US$ amount: the pattern no longer matches it")
	}
	for _, m := range amounts {
		if !regexp.MustCompile(`\s` + regexp.QuoteMeta(m[1]) + `\n`).MatchString(all.String()) {
			t.Errorf("docs/technical_report.md quotes %s, no bench/results file has it as a total (run bash bench/cost.sh > bench/results/cost-DATE.md)", m[0])
		}
	}
}
