package transform

import (
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"
)

// TestSchedule: with the workers busy, the ready model heading the longest
// chain of work goes first; a failed model's descendants are skipped, never
// built, and the others still are.
func TestSchedule(t *testing.T) {
	t.Parallel()
	// silver.p and silver.q are ready at once; gold.fact needs both, and
	// gold.mart needs gold.fact. silver.extra leads nowhere.
	models := []*Model{
		mustParse(t, "silver.extra", "SELECT * FROM source('bronze.x')"),
		mustParse(t, "silver.p", "SELECT * FROM source('bronze.x')"),
		mustParse(t, "silver.q", "SELECT * FROM source('bronze.x')"),
		mustParse(t, "gold.fact", "SELECT * FROM ref('silver.p') JOIN ref('silver.q') USING (k)"),
		mustParse(t, "gold.mart", "SELECT * FROM ref('gold.fact')"),
	}
	g, err := NewGraph(models, []string{"bronze.x"})
	if err != nil {
		t.Fatal(err)
	}
	if g.Order[0] != "silver.extra" {
		t.Fatalf("order = %v: the test wants silver.extra ready first, so that FIFO would build it first", g.Order)
	}
	ms := time.Millisecond
	tests := []struct {
		name    string
		workers int
		own     map[string]time.Duration
		fail    string
		order   []string // build order (one worker: deterministic)
		skipped []string
	}{
		{name: "critical chain first", workers: 1,
			own:   map[string]time.Duration{"silver.extra": 500 * ms, "silver.p": 100 * ms, "silver.q": 100 * ms, "gold.fact": 300 * ms, "gold.mart": 250 * ms},
			order: []string{"silver.p", "silver.q", "gold.fact", "silver.extra", "gold.mart"}},
		{name: "a long leaf goes first when it is the longest chain", workers: 1,
			own:   map[string]time.Duration{"silver.extra": 900 * ms, "silver.p": 100 * ms, "silver.q": 100 * ms, "gold.fact": 300 * ms, "gold.mart": 200 * ms},
			order: []string{"silver.extra", "silver.p", "silver.q", "gold.fact", "gold.mart"}},
		// Ties go to the model ready first.
		{name: "no times: the longest chain by count", workers: 1,
			order: []string{"silver.p", "silver.q", "gold.fact", "silver.extra", "gold.mart"}},
		{name: "failure skips downstream only", workers: 2, fail: "silver.q",
			order: []string{"silver.p", "silver.q", "silver.extra"}, skipped: []string{"gold.fact", "gold.mart"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prio := criticalPath(g, g.Order, tc.own)
			var mu sync.Mutex
			var order []string
			res := schedule(g, g.Order, tc.workers, prio, func(name string) ModelResult {
				mu.Lock()
				order = append(order, name)
				mu.Unlock()
				if name == tc.fail {
					return ModelResult{Model: name, Status: StatusFailed, Err: errors.New("boom")}
				}
				return ModelResult{Model: name, Status: StatusBuilt}
			})
			if tc.workers == 1 && !reflect.DeepEqual(order, tc.order) {
				t.Errorf("build order = %v, want %v", order, tc.order)
			}
			if tc.workers > 1 && !sameSet(order, tc.order) {
				t.Errorf("built = %v, want %v", order, tc.order)
			}
			var skipped []string
			for i, r := range res {
				if r.Model != g.Order[i] {
					t.Errorf("result %d is %s, want %s (results in graph order)", i, r.Model, g.Order[i])
				}
				if r.Status == StatusSkipped {
					skipped = append(skipped, r.Model)
					if r.Err == nil {
						t.Errorf("%s skipped without a reason", r.Model)
					}
				}
			}
			if !sameSet(skipped, tc.skipped) {
				t.Errorf("skipped = %v, want %v", skipped, tc.skipped)
			}
		})
	}
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}
