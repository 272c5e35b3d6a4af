package ingest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A file of several Bronze batches, with strings long enough to send batches
// early (arena full), and over 1024 rejects (several quarantine writes): every
// row lands once, in order, with its own bytes, and every reject is kept.
func TestIngestManyBatches(t *testing.T) {
	t.Parallel()
	const n = 3*bronzeBatch + 1500
	var sb strings.Builder
	sb.WriteString(`"order_id","order_item_id","product_id","seller_id","shipping_limit_date","price","freight_value"` + "\n")
	var written, quarantined, sumItem int64
	for i := 0; i < n; i++ {
		line := int64(i + 2)
		seller := fmt.Sprintf("s%d", line)
		if i >= bronzeBatch && i < 2*bronzeBatch {
			seller = strings.Repeat("x", 400) + seller // ~1.6 MiB over a batch
		}
		price := "10.50"
		switch {
		case i%9 == 4:
			price = "x" // cast error
			quarantined++
		case i%13 == 6:
			price += ",1" // one field too many
			quarantined++
		default:
			written++
			sumItem += line
		}
		fmt.Fprintf(&sb, "%032d,%d,p%d,%s,2018-01-02 03:04:05,%s,1.25\n", line, line, line, seller, price)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, olistFile(t, "order_items")), []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	lk := newLake(t)
	res, err := Run(context.Background(), lk, Options{SourceDir: dir, Tables: []string{"order_items"}})
	if err != nil || res.Err() != nil {
		t.Fatal(err, res.Err())
	}
	r := res.Tables[0]
	if r.RecordsRead != n || r.RowsWritten != written || r.RowsQuarantined != quarantined {
		t.Fatalf("read %d written %d quarantined %d, want %d, %d, %d", r.RecordsRead, r.RowsWritten, r.RowsQuarantined, n, written, quarantined)
	}
	tests := []struct{ q, want string }{
		{"SELECT count(*), sum(order_item_id) FROM bronze.order_items", fmt.Sprintf("%d|%d", written, sumItem)},
		// Each row's values are its own line's: no batch was overwritten
		// while the encoder still held it.
		{`SELECT count(*) FROM bronze.order_items WHERE order_id <> lpad(_source_line::VARCHAR, 32, '0')
			OR order_item_id <> _source_line OR product_id <> 'p' || _source_line
			OR NOT ends_with(seller_id, 's' || _source_line) OR price <> 10.50`, "0"},
		{"SELECT count(*), count(DISTINCT _source_line), sum((error_type = '" + ErrKindCast + "')::INT) FROM quarantine.bronze_order_items",
			fmt.Sprintf("%d|%d|%d", quarantined, quarantined, (n+4)/9)},
	}
	for _, tc := range tests {
		var rows []string
		for _, row := range query(t, lk, tc.q) {
			rows = append(rows, strings.Join(row, "|"))
		}
		if got := strings.Join(rows, ";"); got != tc.want {
			t.Errorf("%s\n got %q\nwant %q", tc.q, got, tc.want)
		}
	}
}
