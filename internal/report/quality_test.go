package report

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/keystone/nexus/internal/quality"
)

func TestWriteQuality(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)
	older := QualityRun{RunID: "r1", Started: now.Add(-time.Hour), Kind: "run", Results: []quality.Result{
		{Table: "silver.orders", CheckID: "carrier_after_purchase", Kind: quality.KindExpression, Severity: quality.SeverityError, Verdict: quality.VerdictFail, RowsChecked: 100, RowsFailed: 8},
	}}
	latest := QualityRun{RunID: "r2", Started: now, Kind: "run", Results: []quality.Result{
		{Table: "gold.dim_date", CheckID: "no_gaps", Kind: quality.KindReconcile, Severity: quality.SeverityError, Verdict: quality.VerdictPass, Observed: "difference 0"},
		{Table: "silver.orders", CheckID: "carrier_after_purchase", Kind: quality.KindExpression, Severity: quality.SeverityError, OnFail: quality.OnFailQuarantine, Verdict: quality.VerdictFail,
			RowsChecked: 120, RowsFailed: 3, Examples: []quality.Example{{Key: map[string]string{"order_id": "abc"}, Reason: "carrier date <before> purchase"}}},
	}}
	var sb strings.Builder
	if err := WriteQuality(&sb, QualityData{Generated: now, Lake: "/lake", Runs: []QualityRun{latest, older}}); err != nil {
		t.Fatal(err)
	}
	html := sb.String()
	for _, want := range []string{"r2", "carrier_after_purchase", "order_id=abc", "carrier date &lt;before&gt; purchase", "120", `title="r1: 8"`, `title="r2: 3"`} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Index(html, "silver.orders") > strings.Index(html, "gold.dim_date") {
		t.Error("a table with failures should come before a passing one")
	}
	if strings.Contains(html, "http://") || strings.Contains(html, "https://") {
		t.Error("the report must not load anything from the network")
	}
	// Well-formed enough for an XML parser once the doctype is dropped.
	dec := xml.NewDecoder(strings.NewReader(strings.TrimPrefix(html, "<!doctype html>")))
	dec.Strict = false
	dec.AutoClose = xml.HTMLAutoClose
	dec.Entity = xml.HTMLEntity
	for {
		if _, err := dec.Token(); err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("report HTML does not parse: %v", err)
			}
			break
		}
	}
	if err := WriteQuality(&sb, QualityData{}); err == nil {
		t.Error("a report with no runs should be an error")
	}
}

// TestWriteQualityKeepsOtherTables: a `check --layer gold` after a run that
// failed Silver checks must not show "0 failed".
func TestWriteQualityKeepsOtherTables(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)
	run := QualityRun{RunID: "r1", Started: now.Add(-time.Hour), Kind: "run", Results: []quality.Result{
		{Table: "silver.orders", CheckID: "carrier_after_purchase", Kind: quality.KindExpression, Severity: quality.SeverityError, Verdict: quality.VerdictFail, RowsChecked: 100, RowsFailed: 8},
		{Table: "gold.fact_sales", CheckID: "payments_reconcile", Kind: quality.KindReconcile, Severity: quality.SeverityError, Verdict: quality.VerdictPass},
	}}
	check := QualityRun{RunID: "c2", Started: now, Kind: "check", Results: []quality.Result{
		{Table: "gold.fact_sales", CheckID: "payments_reconcile", Kind: quality.KindReconcile, Severity: quality.SeverityError, Verdict: quality.VerdictPass},
	}}
	var sb strings.Builder
	if err := WriteQuality(&sb, QualityData{Generated: now, Lake: "/lake", Runs: []QualityRun{check, run}}); err != nil {
		t.Fatal(err)
	}
	html := sb.String()
	for _, want := range []string{
		`<b style="color:var(--fail)">1</b>failed`, `<b style="color:var(--pass)">1</b>passed`,
		"carrier_after_purchase", "as of run r1", "run <b>c2</b>",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}
