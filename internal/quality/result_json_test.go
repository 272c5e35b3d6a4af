package quality

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestResultJSON: snake_case names, a round trip, and run records written
// before the JSON names still read.
func TestResultJSON(t *testing.T) {
	t.Parallel()
	r := Result{Table: "silver.orders", CheckID: "carrier_after_purchase", Kind: KindExpression, Severity: SeverityError,
		OnFail: OnFailQuarantine, File: "suites/silver.orders.yaml", Line: 104, RowsChecked: 100, RowsFailed: 2,
		Verdict: VerdictFail, Observed: "2 of 100 rows", Duration: time.Millisecond,
		Examples: []Example{{Key: map[string]string{"order_id": "a"}, Reason: "before"}}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"check_id":"carrier_after_purchase"`, `"rows_failed":2`, `"duration_ns":1000000`, `"examples":[{"key":{"order_id":"a"},"reason":"before"}]`,
		`"kind":"expression"`, `"severity":"error"`, `"on_fail":"quarantine"`, `"verdict":"fail"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
	legacy := `{"Table":"silver.orders","CheckID":"carrier_after_purchase","Kind":"expression","Severity":"error","OnFail":"quarantine",
		"File":"suites/silver.orders.yaml","Line":104,"RowsChecked":100,"RowsFailed":2,"Verdict":"fail","Blocking":false,
		"Observed":"2 of 100 rows","Examples":[{"Key":{"order_id":"a"},"Reason":"before"}],"Duration":1000000}`
	for name, in := range map[string]string{"current": string(b), "legacy": legacy} {
		var got Result
		if err := json.Unmarshal([]byte(in), &got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("%s: got %+v\nwant %+v", name, got, r)
		}
	}
}
