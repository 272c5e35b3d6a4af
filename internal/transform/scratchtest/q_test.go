package scratchtest

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
)

func printRows(t *testing.T, db *sql.DB, q string) {
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	ct, _ := rows.ColumnTypes()
	var tn []string
	for _, c := range ct {
		tn = append(tn, c.DatabaseTypeName())
	}
	fmt.Println(strings.Join(cols, " | "))
	fmt.Println(strings.Join(tn, " | "))
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, v := range vals {
			s = append(s, fmt.Sprint(v))
		}
		fmt.Println(strings.Join(s, " | "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestQ(t *testing.T) {
	q := os.Getenv("Q")
	if q == "" {
		t.Skip()
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	db.ExecContext(context.Background(), "SET TimeZone='UTC'")
	for _, s := range strings.Split(q, ";;") {
		printRows(t, db, s)
	}
}
