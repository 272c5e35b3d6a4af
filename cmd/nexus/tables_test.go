package main

import (
	"strings"
	"testing"

	"github.com/keystone/nexus/internal/lake"
)

func TestVisibleTables(t *testing.T) {
	t.Parallel()
	ms := []*lake.Manifest{
		{Layer: lake.Silver, Table: "orders", Rows: 10},
		{Layer: lake.Silver, Table: "empty_model", Rows: 0},
		{Layer: lake.Quarantine, Table: "silver_orders", Rows: 2},
		{Layer: lake.Quarantine, Table: "silver_sellers", Rows: 0},
		{Layer: lake.Quarantine, Table: "gold_dim_date", Rows: 0},
	}
	for _, tc := range []struct {
		all    bool
		want   string
		hidden int
	}{
		{false, "silver.orders silver.empty_model quarantine.silver_orders", 2},
		{true, "silver.orders silver.empty_model quarantine.silver_orders quarantine.silver_sellers quarantine.gold_dim_date", 0},
	} {
		shown, hidden := visibleTables(ms, tc.all)
		var names []string
		for _, m := range shown {
			names = append(names, m.Name())
		}
		if got := strings.Join(names, " "); got != tc.want || hidden != tc.hidden {
			t.Errorf("all=%v: shown %s, %d hidden; want %s, %d hidden", tc.all, got, hidden, tc.want, tc.hidden)
		}
	}
}
