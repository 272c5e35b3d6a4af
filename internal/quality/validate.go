package quality

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Validate checks every suite against the known schemas (layer.table → column
// names): the suite's table, and every table and column its checks name, as
// their kinds list them (kindSpec.refs: column, columns, nulls, {placeholders}
// of an expression message, relationships to/field, row_count relative_to,
// reconcile to). A schema check's expect keys are not validated: drift is what
// it reports. SQL (expr, where, reference) is left to DuckDB at run time.
//
// Every problem is reported, one per line, as FILE:LINE: reason. Validate
// also records each suite's columns, which AnnotateSQL uses to show the
// values of the columns an expression references.
func Validate(suites []*Suite, schemas map[string][]string) error {
	var errs []error
	colSet := func(table string) (map[string]bool, bool) {
		cols, ok := schemas[table]
		if !ok {
			return nil, false
		}
		set := make(map[string]bool, len(cols))
		for _, c := range cols {
			set[c] = true
		}
		return set, true
	}
	seenTable := map[string]string{}
	for _, s := range suites {
		if prev, dup := seenTable[s.Table]; dup {
			errs = append(errs, errAt(s.File, s.Line, "second suite for %s (first at %s); merge them", s.Table, prev))
			continue
		}
		seenTable[s.Table] = pos(s.File, s.Line)
		cols, ok := colSet(s.Table)
		if !ok {
			errs = append(errs, errAt(s.File, s.Line, "unknown table %s%s", s.Table, suggest(s.Table, keys(schemas))))
			continue
		}
		s.columns = cols
		if s.HasFlags() && cols[FlagsColumn] {
			errs = append(errs, errAt(s.File, s.Line, "%s has a column %s, the column the quality gate adds for keep rules; rename it in the model", s.Table, FlagsColumn))
		}
		ids := map[string]bool{}
		for _, c := range s.Checks {
			if ids[c.ID] {
				errs = append(errs, errAt(c.File, c.Line, "duplicate check id %q in the suite of %s", c.ID, s.Table))
			}
			ids[c.ID] = true
			for _, r := range c.refs() {
				table, set, ok := s.Table, cols, true
				if r.table != "" {
					table = r.table
					set, ok = colSet(table)
				}
				switch {
				case !ok && r.column == "":
					errs = append(errs, errAt(c.File, c.Line, "check %s: %s: unknown table %s%s",
						c.ID, r.field, table, suggest(table, keys(schemas))))
				case ok && r.column != "" && !set[r.column]:
					errs = append(errs, errAt(c.File, c.Line, "check %s: %s: unknown column %q in %s%s",
						c.ID, r.field, r.column, table, suggest(r.column, setKeys(set))))
				}
			}
		}
	}
	return errors.Join(errs...)
}

func keys(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func setKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// suggest returns " (did you mean X?)" for the closest candidate, if close.
func suggest(name string, candidates []string) string {
	lower := strings.ToLower(name)
	best, bestD := "", 1<<30
	for _, c := range candidates {
		lc := strings.ToLower(c)
		d := levenshtein(lower, lc)
		if strings.HasPrefix(lc, lower) || strings.HasPrefix(lower, lc) {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" || bestD > max(1, len(name)/4) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
