// Package jsoneq compares JSON documents for tests: the same analysis run
// twice (two processes, or concurrently) may differ in the last bits of a
// float, since DuckDB's parallel aggregates add in varying order.
package jsoneq

import (
	"encoding/json"
	"fmt"
	"math"
)

// Tolerance is the relative difference two numbers may have.
const Tolerance = 1e-9

// Approx reports whether a and b are the same JSON value, numbers equal to
// Tolerance (relative, absolute below 1). Either not being JSON is an error.
func Approx(a, b []byte) (bool, error) {
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		return false, fmt.Errorf("jsoneq: first document: %w", err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		return false, fmt.Errorf("jsoneq: second document: %w", err)
	}
	return equal(x, y), nil
}

func equal(x, y any) bool {
	switch xv := x.(type) {
	case float64:
		yv, ok := y.(float64)
		return ok && math.Abs(xv-yv) <= Tolerance*math.Max(1, math.Max(math.Abs(xv), math.Abs(yv)))
	case []any:
		yv, ok := y.([]any)
		if !ok || len(xv) != len(yv) {
			return false
		}
		for i := range xv {
			if !equal(xv[i], yv[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		yv, ok := y.(map[string]any)
		if !ok || len(xv) != len(yv) {
			return false
		}
		for k, v := range xv {
			w, ok := yv[k]
			if !ok || !equal(v, w) {
				return false
			}
		}
		return true
	default:
		return x == y
	}
}
