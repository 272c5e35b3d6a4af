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
	var tables []string
	for _, m := range eng.Tables() {
		if m.Layer == lake.Quarantine {
			tables = append(tables, m.Table)
		}
	}
	if len(tables) == 0 {
		return nil, fmt.Errorf("quarantine: nothing published yet; run `nexus run` first")
	}
	return eng.Query(ctx, failuresSQL(tables...)+" ORDER BY quarantine_table, rows DESC, check_id")
}

// failedIDs is the SQL list of what a quarantined row of table failed: the
// ids of the checks of a model's quarantine (one text, ", " between them),
// the error type of a Bronze reject (one, with spaces: "FIELD COUNT").
func failedIDs(table string) string {
	if strings.HasPrefix(table, "bronze_") {
		return "[coalesce(error_type, '(none)')]"
	}
	return "list_transform(string_split(coalesce(check_id, '(none)'), ','), lambda c: trim(c))"
}

// failuresSQL counts the rows of each quarantine table by what they failed.
func failuresSQL(tables ...string) string {
	parts := make([]string, len(tables))
	for i, t := range tables {
		parts[i] = fmt.Sprintf("SELECT %s AS quarantine_table, c AS check_id, count(*) AS rows FROM (SELECT unnest(%s) AS c FROM %s.%s) GROUP BY ALL",
			engine.Literal(t), failedIDs(t), engine.Ident(lake.Quarantine), engine.Ident(t))
	}
	return "SELECT * FROM (" + strings.Join(parts, " UNION ALL ") + ")"
}

// QuarantineFailures lists what the rows of one quarantine table failed,
// most rows first, as "check_id (rows)": what a --check filter can name.
func QuarantineFailures(ctx context.Context, eng *engine.Engine, table string) ([]string, error) {
	if _, err := quarantineSelect(eng, table, ""); err != nil {
		return nil, err
	}
	res, err := eng.Query(ctx, "SELECT check_id || ' (' || rows || ')' FROM ("+failuresSQL(QuarantineTable(table))+") ORDER BY rows DESC, check_id")
	if err != nil {
		return nil, fmt.Errorf("quarantine: failures of %s: %w", table, err)
	}
	out := make([]string, 0, len(res.Rows))
	for _, r := range res.Rows {
		if len(r) == 1 && r[0] != nil {
			out = append(out, *r[0])
		}
	}
	return out, nil
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

// NoQuarantinedRows says in words that the quarantine of table (named as
// QuarantineTable takes it) holds no row in the snapshot, and what that
// means for the table: a bare "(0 rows)" said neither.
func NoQuarantinedRows(table string, snapshot int64) string {
	q, of := QuarantineTable(table), ModelOfQuarantine(table)
	what := "no row of " + of + " is held back by a quarantine rule" // none failed one, or replay released them, or a build without gates judged none
	if strings.HasPrefix(q, lake.Bronze+"_") {
		what = "Bronze parsed every source record of " + of
	}
	return fmt.Sprintf("quarantine.%s has no quarantined rows in snapshot %d: %s", q, snapshot, what)
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
		// As listed by QuarantineSummary, spaces around aside; an error
		// type (FIELD COUNT) in any case, a check id as the suite spells it.
		ids, want := failedIDs(table), "trim("+engine.Literal(check)+")"
		if strings.HasPrefix(table, "bronze_") {
			ids, want = "list_transform("+ids+", lambda c: upper(c))", "upper("+want+")"
		}
		q += fmt.Sprintf(" WHERE list_contains(%s, %s)", ids, want)
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
