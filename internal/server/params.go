package server

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/keystone/nexus/internal/analytics"
)

// paramError is a request parameter the API rejects; it is answered with
// 400 and a JSON body naming the parameter.
type paramError struct {
	Param string
	Msg   string
}

func (e *paramError) Error() string { return fmt.Sprintf("parameter %q: %s", e.Param, e.Msg) }

// filterParams are the query parameters that select a Filter.
var filterParams = []string{"from", "to", "state", "category"}

// parseQuery validates the query string of an endpoint: only the listed
// parameters are accepted, each at most once; from/to are yyyy-mm-dd; state
// and category must be values the lake knows (lists from /api/filters).
// An analysis' own parameters are read by analytics.ParseArgs.
func parseQuery(q url.Values, allowed []string, lists *filterLists) (analytics.Filter, error) {
	var f analytics.Filter
	for k, v := range q {
		if !slices.Contains(allowed, k) {
			return f, &paramError{clip(k), "unknown parameter; accepted: " + strings.Join(allowed, ", ")}
		}
		if len(v) > 1 {
			return f, &paramError{clip(k), "given more than once"}
		}
	}
	// The same parsing and validation as `nexus analyze` (one function).
	f, err := analytics.ParseFilter(q.Get("from"), q.Get("to"), q.Get("state"), q.Get("category"))
	if err == nil {
		var v analytics.FilterValues
		if lists != nil {
			v = analytics.FilterValues{States: lists.States, Categories: lists.Categories}
		}
		err = v.Check(f)
	}
	if err != nil {
		return analytics.Filter{}, apiParamError(err)
	}
	return f, nil
}

// apiParamError is err as the API answers it: an *analytics.ParamError
// becomes a *paramError (400 naming the parameter).
func apiParamError(err error) error {
	var pe *analytics.ParamError
	if errors.As(err, &pe) {
		return &paramError{pe.Param, pe.Msg}
	}
	return err
}

// clip is how much of a client's value an answer repeats: enough to
// recognise it, never a whole 200 KB parameter.
func clip(s string) string { return analytics.Clip(s) }

// filterKey is the cache key part of a filter.
func filterKey(f analytics.Filter) string {
	d := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format(time.DateOnly)
	}
	return d(f.From) + "|" + d(f.To) + "|" + f.State + "|" + f.Category
}
