package analytics

import (
	"encoding/json"
	"sync"
	"testing"
)

// The server runs the analyses of a dashboard concurrently on a pool of
// connections; the working set must be built once and shared.
func TestConcurrentAnalyses(t *testing.T) {
	t.Parallel()
	db := shop().open(t)
	for _, s := range sources {
		tbl := s[0] + "." + s[1]
		for _, stmt := range []string{"ALTER TABLE " + tbl + " RENAME TO " + s[1] + "_data",
			"CREATE VIEW " + tbl + " AS SELECT * FROM " + tbl + "_data"} {
			if _, err := db.Exec(stmt); err != nil {
				t.Fatal(err)
			}
		}
	}
	db.SetMaxOpenConns(4)
	want := map[string]string{}
	for _, a := range Registry() {
		res, err := a.Run(bg, db, Filter{State: "SP"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(res)
		want[a.Name] = string(b)
	}
	// A new definition of a view (same data): one rebuild shared by all goroutines.
	if _, err := db.Exec("CREATE OR REPLACE VIEW gold.dim_seller AS SELECT seller_id, seller_state FROM gold.dim_seller_data"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		for _, a := range Registry() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := a.Run(bg, db, Filter{State: "SP"}, nil)
				if err != nil {
					t.Error(a.Name, err)
					return
				}
				if b, _ := json.Marshal(res); string(b) != want[a.Name] {
					t.Errorf("%s: %s, want %s", a.Name, b, want[a.Name])
				}
			}()
		}
	}
	wg.Wait()
	if n := worksetTables(t, db); len(n) != 6 {
		t.Errorf("working set tables %v", n)
	}
}
