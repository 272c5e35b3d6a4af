package analytics

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"
)

// Analysis is one entry of the registry: the single definition of an
// analysis that `nexus analyze NAME`, the API route /api/NAME, the dashboard
// (its live page, its static export and /api/dashboard) and the charts and
// deck all derive from. Its Name is the only name it has anywhere.
type Analysis struct {
	Name        string  // `nexus analyze NAME`, /api/NAME, its key in a Results' JSON
	Title       string  // a heading: "Monthly sales"
	Description string  // one line: what it answers
	Params      []Param // integer parameters beyond the filter, in order
	Outputs     Output  // the products it is part of besides the CLI and the API

	run   func(ctx context.Context, db *sql.DB, f Filter, args Args) (any, error)
	store func(ctx context.Context, db *sql.DB, f Filter, args Args, r *Results) error
	field func(r *Results) any // pointer to its field of Results
}

// Param is an integer parameter of an analysis, named the same as a CLI flag
// (--limit) and an API query parameter (?limit=).
type Param struct {
	Name        string
	Description string
	Default     int
	Min, Max    int
}

// Args are the values of an analysis' parameters by name; ParseArgs fills
// in defaults and checks bounds.
type Args map[string]int

// Output is a set of products an analysis is part of.
type Output uint8

const (
	// InDashboard: the dashboard page (live and static export) and /api/dashboard.
	InDashboard Output = 1 << iota
	// InReport: the charts and the executive deck.
	InReport
)

// In reports whether a is part of every product of o.
func (a Analysis) In(o Output) bool { return a.Outputs&o == o }

// Run runs the analysis with args (nil: the defaults). The result is the
// typed value (KPIs, []MonthPoint, ...); lists are never nil, so that JSON
// says [] rather than null.
func (a Analysis) Run(ctx context.Context, db *sql.DB, f Filter, args Args) (any, error) {
	args, err := a.complete(args)
	if err != nil {
		return nil, err
	}
	return a.run(ctx, db, f, args)
}

// Result returns a zero value of the type Run returns (what /api/NAME
// encodes), for the API document's schemas.
func (a Analysis) Result() any {
	return reflect.ValueOf(a.field(&Results{})).Elem().Interface()
}

// complete fills in the defaults of the parameters args lacks and checks
// every value against its bounds and the parameter list.
func (a Analysis) complete(args Args) (Args, error) {
	out := make(Args, len(a.Params))
	for _, p := range a.Params {
		v, ok := args[p.Name]
		if !ok {
			v = p.Default
		}
		if v < p.Min || v > p.Max {
			return nil, p.rangeError(strconv.Itoa(v))
		}
		out[p.Name] = v
	}
	for name := range args {
		if _, ok := out[name]; !ok {
			return nil, &ParamError{name, "not a parameter of " + a.Name + a.paramHint()}
		}
	}
	return out, nil
}

// ParseArgs reads the values of params from text (flags or query
// parameters): raw(name) returns the value and whether it was given. Absent
// parameters take their default. Errors are *ParamError.
func ParseArgs(params []Param, raw func(name string) (string, bool)) (Args, error) {
	args := make(Args, len(params))
	for _, p := range params {
		s, ok := raw(p.Name)
		if !ok {
			args[p.Name] = p.Default
			continue
		}
		s = strings.TrimSpace(s)
		n, err := strconv.Atoi(s)
		if err != nil || n < p.Min || n > p.Max {
			return nil, p.rangeError(s)
		}
		args[p.Name] = n
	}
	return args, nil
}

func (p Param) rangeError(s string) *ParamError {
	return &ParamError{p.Name, fmt.Sprintf("%q is not an integer between %d and %d", Clip(s), p.Min, p.Max)}
}

// paramHint names the parameters a takes, for an error message.
func (a Analysis) paramHint() string {
	if len(a.Params) == 0 {
		return " (it takes none)"
	}
	names := make([]string, len(a.Params))
	for i, p := range a.Params {
		names[i] = p.Name
	}
	return " (it takes " + strings.Join(names, ", ") + ")"
}

// Results holds the typed results of analyses run together (RunAll): one
// field per registered analysis, the zero value when it was not run. Its
// JSON is an object keyed by analysis name, with the analyses that ran.
type Results struct {
	KPIs          KPIs
	MonthlySales  []MonthPoint
	TopProducts   []Ranked
	TopCategories CategoryStats
	ReviewVsSales ReviewSales
	RFM           RFMResult
	Geography     Geo
	CLV           CLVResult
	Delivery      DeliveryResult

	ran []string // names, in registry order
}

// Ran lists the names of the analyses r holds, in registry order.
func (r *Results) Ran() []string { return slices.Clone(r.ran) }

// define makes a registry entry from a typed function and the field of
// Results that holds its result.
func define[T any](a Analysis, run func(ctx context.Context, db *sql.DB, f Filter, args Args) (T, error), field func(*Results) *T) Analysis {
	a.run = func(ctx context.Context, db *sql.DB, f Filter, args Args) (any, error) {
		return run(ctx, db, f, args)
	}
	a.store = func(ctx context.Context, db *sql.DB, f Filter, args Args, r *Results) error {
		v, err := run(ctx, db, f, args)
		if err != nil {
			return err
		}
		*field(r) = v
		return nil
	}
	a.field = func(r *Results) any { return field(r) }
	return a
}

// nonNil keeps an empty list a list in JSON.
func nonNil[T any](v []T, err error) ([]T, error) {
	if v == nil && err == nil {
		v = []T{}
	}
	return v, err
}

// registry is the list of analyses, in the order they are presented. It is
// never modified: Registry hands out copies.
var registry = []Analysis{
	define(Analysis{Name: "kpis", Title: "Headline KPIs",
		Description: "headline numbers: revenue, orders, AOV, customers, repeat rate, average review, late share",
		Outputs:     InDashboard | InReport},
		func(ctx context.Context, db *sql.DB, f Filter, _ Args) (KPIs, error) { return Kpis(ctx, db, f) },
		func(r *Results) *KPIs { return &r.KPIs }),
	define(Analysis{Name: "monthly-sales", Title: "Monthly sales",
		Description: "revenue, orders and average order value per month, with month-over-month and year-over-year growth",
		Outputs:     InDashboard | InReport},
		func(ctx context.Context, db *sql.DB, f Filter, _ Args) ([]MonthPoint, error) {
			return nonNil(MonthlySales(ctx, db, f))
		},
		func(r *Results) *[]MonthPoint { return &r.MonthlySales }),
	define(Analysis{Name: "top-products", Title: "Top products",
		Description: "the products with the most revenue",
		Params:      []Param{{Name: "limit", Description: "how many products", Default: 10, Min: 1, Max: 100}},
		Outputs:     InDashboard},
		func(ctx context.Context, db *sql.DB, f Filter, p Args) ([]Ranked, error) {
			return nonNil(TopProducts(ctx, db, f, p["limit"]))
		},
		func(r *Results) *[]Ranked { return &r.TopProducts }),
	define(Analysis{Name: "top-categories", Title: "Top categories",
		Description: "top categories by revenue and by orders, and the revenue share of the top 3",
		Params:      []Param{{Name: "limit", Description: "how many categories in each ranking", Default: 10, Min: 1, Max: 100}},
		Outputs:     InDashboard | InReport},
		func(ctx context.Context, db *sql.DB, f Filter, p Args) (CategoryStats, error) {
			return TopCategories(ctx, db, f, p["limit"])
		},
		func(r *Results) *CategoryStats { return &r.TopCategories }),
	define(Analysis{Name: "review-vs-sales", Title: "Reviews vs sales",
		Description: "correlation of average review with units and revenue (per product, per category); reviews of on-time vs late deliveries",
		Outputs:     InDashboard | InReport},
		func(ctx context.Context, db *sql.DB, f Filter, _ Args) (ReviewSales, error) {
			return ReviewVsSales(ctx, db, f)
		},
		func(r *Results) *ReviewSales { return &r.ReviewVsSales }),
	define(Analysis{Name: "rfm", Title: "RFM segments",
		Description: "RFM segmentation of persons: size and revenue of each segment",
		Outputs:     InDashboard | InReport},
		func(ctx context.Context, db *sql.DB, f Filter, _ Args) (RFMResult, error) { return RFM(ctx, db, f) },
		func(r *Results) *RFMResult { return &r.RFM }),
	define(Analysis{Name: "geography", Title: "Geography",
		Description: "orders, revenue, customers, delivery days and late share by customer state; top seller-to-customer state flows",
		Params:      []Param{{Name: "flows", Description: "how many seller-to-customer state flows", Default: 10, Min: 0, Max: 100}},
		Outputs:     InDashboard | InReport},
		func(ctx context.Context, db *sql.DB, f Filter, p Args) (Geo, error) {
			return Geography(ctx, db, f, p["flows"])
		},
		func(r *Results) *Geo { return &r.Geography }),
	define(Analysis{Name: "clv", Title: "Customer lifetime value",
		Description: "customer lifetime value: percentiles, histogram, top 10% vs the rest",
		Outputs:     InReport},
		func(ctx context.Context, db *sql.DB, f Filter, _ Args) (CLVResult, error) { return CLV(ctx, db, f) },
		func(r *Results) *CLVResult { return &r.CLV }),
	define(Analysis{Name: "delivery", Title: "Delivery times",
		Description: "delivery days (average, percentiles, histogram) and late share by month",
		Outputs:     InDashboard | InReport},
		func(ctx context.Context, db *sql.DB, f Filter, _ Args) (DeliveryResult, error) {
			return Delivery(ctx, db, f)
		},
		func(r *Results) *DeliveryResult { return &r.Delivery }),
}

// Registry returns every analysis, in the order they are presented. The
// slice is a copy: changing it changes nothing else.
func Registry() []Analysis {
	out := slices.Clone(registry)
	for i := range out {
		out[i].Params = slices.Clone(out[i].Params)
	}
	return out
}

// Select returns the analyses that are part of every product of o, in
// registry order.
func Select(o Output) []Analysis {
	var out []Analysis
	for _, a := range Registry() {
		if a.In(o) {
			out = append(out, a)
		}
	}
	return out
}

// Lookup finds an analysis by name.
func Lookup(name string) (Analysis, bool) {
	for _, a := range Registry() {
		if a.Name == name {
			return a, true
		}
	}
	return Analysis{}, false
}

// Names lists the analyses' names, in registry order.
func Names() []string {
	out := make([]string, len(registry))
	for i, a := range registry {
		out[i] = a.Name
	}
	return out
}

// RunAll runs every analysis of the products o with its default parameters
// for f, concurrently (how many queries overlap is bounded by db's pool).
func RunAll(ctx context.Context, db *sql.DB, f Filter, o Output) (*Results, error) {
	r := &Results{}
	// The working set first, once: analyses started together would each
	// build their own copy of it (measured: 9 builds at once made the
	// reports of a scale-10 lake take 31 s instead of 5).
	if err := Warm(ctx, db); err != nil {
		return nil, err
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, a := range Select(o) {
		r.ran = append(r.ran, a.Name)
		args, err := a.complete(nil)
		if err != nil {
			return nil, err
		}
		g.Go(func() error {
			// Each goroutine writes its own field of r.
			if err := a.store(gctx, db, f, args, r); err != nil {
				return fmt.Errorf("%s: %w", a.Name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return r, nil
}

// MarshalJSON writes the analyses r holds as an object keyed by name.
func (r *Results) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(r.ran))
	for _, name := range r.ran {
		a, ok := Lookup(name)
		if !ok {
			return nil, fmt.Errorf("results: unknown analysis %q", name)
		}
		m[name] = a.field(r)
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads what MarshalJSON wrote; an unknown key is an error.
func (r *Results) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*r = Results{}
	for _, a := range registry {
		raw, ok := m[a.Name]
		if !ok {
			continue
		}
		if err := json.Unmarshal(raw, a.field(r)); err != nil {
			return fmt.Errorf("results: %s: %w", a.Name, err)
		}
		r.ran = append(r.ran, a.Name)
		delete(m, a.Name)
	}
	for name := range m {
		return fmt.Errorf("results: unknown analysis %q", name)
	}
	return nil
}
