package pipeline

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
)

// QuarantineSummary counts quarantined rows by table and check (for Bronze
// parse rejects: by error type).
func QuarantineSummary(ctx context.Context, eng *engine.Engine) (*engine.Result, error) {
	var parts []string
	for _, m := range eng.Tables() {
		if m.Layer != lake.Quarantine {
			continue
		}
		view := engine.Ident(m.Layer) + "." + engine.Ident(m.Table)
		if strings.HasPrefix(m.Table, "bronze_") {
			parts = append(parts, fmt.Sprintf("SELECT %s AS quarantine_table, error_type AS check_id, count(*) AS rows FROM %s GROUP BY ALL",
				engine.Literal(m.Table), view))
		} else {
			parts = append(parts, fmt.Sprintf("SELECT %s AS quarantine_table, c AS check_id, count(*) AS rows FROM (SELECT unnest(string_split(check_id, ', ')) AS c FROM %s) GROUP BY ALL",
				engine.Literal(m.Table), view))
		}
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("quarantine: nothing published yet; run `nexus run` first")
	}
	return eng.Query(ctx, "SELECT * FROM ("+strings.Join(parts, " UNION ALL ")+") ORDER BY quarantine_table, rows DESC, check_id")
}

// QuarantineRows returns quarantined rows of a table, optionally of one check.
func QuarantineRows(ctx context.Context, eng *engine.Engine, table, check string, limit int) (*engine.Result, error) {
	q, err := quarantineSelect(eng, table, check)
	if err != nil {
		return nil, err
	}
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	return eng.Query(ctx, q)
}

// QuarantineCount counts the rows QuarantineRows returns with no limit, so
// that a limited listing can say how many there are.
func QuarantineCount(ctx context.Context, eng *engine.Engine, table, check string) (int64, error) {
	q, err := quarantineSelect(eng, table, check)
	if err != nil {
		return 0, err
	}
	res, err := eng.Query(ctx, "SELECT count(*) FROM ("+q+")")
	if err != nil {
		return 0, err
	}
	if len(res.Rows) != 1 || len(res.Rows[0]) != 1 || res.Rows[0][0] == nil {
		return 0, fmt.Errorf("quarantine: count of %s returned no value", table)
	}
	n, err := strconv.ParseInt(*res.Rows[0][0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("quarantine: count of %s: %w", table, err)
	}
	return n, nil
}

// QuarantineTable is the quarantine table (in the quarantine schema) of a
// table named silver.orders, silver_orders or quarantine.silver_orders:
// silver_orders.
func QuarantineTable(name string) string {
	name = strings.TrimPrefix(name, "quarantine.")
	if l, t, ok := strings.Cut(name, "."); ok {
		return l + "_" + t
	}
	return name
}

func quarantineSelect(eng *engine.Engine, table, check string) (string, error) {
	table = QuarantineTable(table)
	found := false
	for _, m := range eng.Tables() {
		if m.Layer == lake.Quarantine && m.Table == table {
			found = true
		}
	}
	if !found {
		return "", fmt.Errorf("quarantine: no table %q (see `nexus quarantine list`)", table)
	}
	q := "SELECT * FROM " + engine.Ident(lake.Quarantine) + "." + engine.Ident(table)
	if check != "" {
		col := "check_id"
		if strings.HasPrefix(table, "bronze_") {
			col = "error_type"
		}
		q += fmt.Sprintf(" WHERE list_contains(string_split(replace(%s, ' ', ''), ','), %s)", col, engine.Literal(check))
	}
	return q, nil
}

// ModelOfQuarantine maps silver_orders or quarantine.silver_orders to
// silver.orders; a layer.table name is returned as is.
func ModelOfQuarantine(name string) string {
	name = strings.TrimPrefix(name, "quarantine.")
	if strings.Contains(name, ".") {
		return name
	}
	if l, t, ok := strings.Cut(name, "_"); ok {
		return l + "." + t
	}
	return name
}
