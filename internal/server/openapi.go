package server

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/keystone/nexus/internal/analytics"
)

// The API document: OpenAPI 3.0, served at /api/openapi.json and rendered
// into docs/api.md (internal/docgen). It is derived from the routes the
// server registers (routeTable: one list) and, for the analyses, from the
// analytics registry; response schemas are reflected from the Go types the
// handlers encode, so that it cannot drift from what is answered.

// openAPIPath serves the document.
const openAPIPath = "/api/openapi.json"

// OpenAPIDoc is an OpenAPI 3.0 document (the subset this API needs).
type OpenAPIDoc struct {
	OpenAPI    string               `json:"openapi"`
	Info       OpenAPIInfo          `json:"info"`
	Paths      map[string]*PathItem `json:"paths"`
	Components OpenAPIComponents    `json:"components"`
}

// OpenAPIInfo is the document's info object.
type OpenAPIInfo struct {
	Title       string `json:"title"`
	Version     string `json:"version"`
	Description string `json:"description"`
}

// OpenAPIComponents holds the named schemas ($ref: #/components/schemas/N).
type OpenAPIComponents struct {
	Schemas map[string]*Schema `json:"schemas"`
}

// PathItem is the operations of a path: only GET exists (HEAD too, implied).
type PathItem struct {
	Get *Operation `json:"get"`
}

// Operation is one endpoint.
type Operation struct {
	OperationID string               `json:"operationId"`
	Summary     string               `json:"summary"`
	Description string               `json:"description,omitempty"`
	Tags        []string             `json:"tags"`
	Parameters  []Parameter          `json:"parameters,omitempty"`
	Responses   map[string]*Response `json:"responses"`
}

// Parameter is a query parameter.
type Parameter struct {
	Name        string  `json:"name"`
	In          string  `json:"in"`
	Description string  `json:"description"`
	Required    bool    `json:"required,omitempty"`
	Schema      *Schema `json:"schema"`
}

// Response is the answer of one status.
type Response struct {
	Description string               `json:"description"`
	Content     map[string]MediaType `json:"content,omitempty"`
}

// MediaType is a response body's schema.
type MediaType struct {
	Schema *Schema `json:"schema"`
}

// Schema is a JSON schema (OpenAPI 3.0 flavour).
type Schema struct {
	Ref                  string             `json:"$ref,omitempty"`
	Type                 string             `json:"type,omitempty"`
	Format               string             `json:"format,omitempty"`
	Description          string             `json:"description,omitempty"`
	Nullable             bool               `json:"nullable,omitempty"`
	Items                *Schema            `json:"items,omitempty"`
	Properties           map[string]*Schema `json:"properties,omitempty"`
	Required             []string           `json:"required,omitempty"`
	AdditionalProperties *Schema            `json:"additionalProperties,omitempty"`
	Default              any                `json:"default,omitempty"`
	Minimum              *int               `json:"minimum,omitempty"`
	Maximum              *int               `json:"maximum,omitempty"`
	AllOf                []*Schema          `json:"allOf,omitempty"`
	// GoType names the Go type a component schema is reflected from
	// (package path and name), for generated docs that add its comments.
	GoType string `json:"x-go-type,omitempty"`
	// GoFields maps each property to the Go field it comes from.
	GoFields map[string]string `json:"x-go-fields,omitempty"`
}

// route is one path the server answers and what the API document says of it.
type route struct {
	path    string
	handler func(s *Server) http.HandlerFunc
	tag     string // API, Runs, Pages, Operations
	summary string
	// filter: the endpoint takes the dashboard's filter (from, to, state,
	// category).
	filter bool
	params []apiParam
	// body is a value of the type of the JSON answer; nil when the answer
	// is contentType.
	body        any
	contentType string // default application/json
	// errors are the statuses the endpoint answers besides 200 (and the
	// 405 and 421 every path may answer), with what they mean.
	errors map[int]string
}

// apiParam is a query parameter of a route: an integer one of the
// analytics kind (bounds and default), or a string.
type apiParam struct {
	analytics.Param
	str      bool // a string parameter (Param's bounds unused)
	required bool
}

func intParams(ps ...analytics.Param) []apiParam {
	out := make([]apiParam, len(ps))
	for i, p := range ps {
		out[i] = apiParam{Param: p}
	}
	return out
}

// The errors of the endpoints that compute over the lake.
var queryErrors = map[int]string{
	http.StatusBadRequest:          "a parameter is unknown, repeated or invalid: `param` names it",
	http.StatusServiceUnavailable:  "the lake cannot be read (damaged table, no Gold yet), or too many queries are waiting",
	http.StatusGatewayTimeout:      "the query ran out of --query-timeout",
	http.StatusInternalServerError: "the query failed",
}

// The errors of the run store's endpoints.
var runStoreErrors = map[int]string{
	http.StatusBadRequest:         "a parameter is unknown, repeated or invalid: `param` names it",
	http.StatusNotFound:           "the lake has no run store (no scheduler ran), or no such run",
	http.StatusServiceUnavailable: "the run store cannot be read, or too many queries are waiting",
	http.StatusGatewayTimeout:     "the read ran out of --query-timeout",
}

// routeTable lists every path the server answers: the analyses of the
// registry under /api/NAME, then the other endpoints and pages. It is the
// one list the mux and the API document are made from.
func routeTable() []route {
	var out []route
	for _, a := range analytics.Registry() {
		out = append(out, route{
			path: "/api/" + a.Name,
			handler: func(s *Server) http.HandlerFunc {
				return s.data(a.Name, endpoint{a.Params, a.Run})
			},
			tag: "Analyses", summary: a.Title + " (" + a.Name + "): " + a.Description, filter: true, params: intParams(a.Params...),
			body: a.Result(), errors: queryErrors,
		})
	}
	return append(out,
		route{path: dashboardPath, handler: func(s *Server) http.HandlerFunc {
			return s.data("dashboard", endpoint{run: func(ctx context.Context, db *sql.DB, f analytics.Filter, _ analytics.Args) (any, error) {
				return Collect(ctx, db, f)
			}})
		}, tag: "Analyses", summary: "Every analysis of the dashboard for one filter, keyed by name (what the static export embeds)",
			filter: true, body: Bundle{}, errors: queryErrors},
		route{path: "/api/filters", handler: func(s *Server) http.HandlerFunc { return s.filters },
			tag: "Analyses", summary: "The values the filters accept: the lake's states and categories, and its date range",
			body: FilterLists{}, errors: map[int]string{http.StatusBadRequest: "a parameter was given (it takes none)", http.StatusServiceUnavailable: "the lake cannot be read"}},
		route{path: "/api/freshness", handler: func(s *Server) http.HandlerFunc { return s.freshness },
			tag: "Operations", summary: "How current the lake is: the last run, the latest verdict of every check, the newest Gold publish",
			body: Freshness{}, errors: map[int]string{http.StatusBadRequest: "a parameter was given (it takes none)", http.StatusServiceUnavailable: "the run history cannot be read"}},
		route{path: "/api/runs", handler: func(s *Server) http.HandlerFunc { return s.runsAPI },
			tag: "Runs", summary: "The scheduler's last cycles as a grid (job × cycle) and the failed checks of their runs",
			params: intParams(paramCycles), body: RunsView{}, errors: runStoreErrors},
		route{path: "/api/run", handler: func(s *Server) http.HandlerFunc { return s.runAPI },
			tag: "Runs", summary: "One run of the run store with its attempts, steps and failed checks",
			params: []apiParam{{Param: paramRunID, required: true}}, body: RunDetail{}, errors: runStoreErrors},
		route{path: "/api/quarantine", handler: func(s *Server) http.HandlerFunc { return s.quarantineAPI },
			tag: "Runs", summary: "Rows of a quarantine table of the current snapshot, optionally of one check",
			params: []apiParam{
				{Param: analytics.Param{Name: "table", Description: "a quarantine table: silver_orders, or the gated table's name silver.orders"}, str: true, required: true},
				{Param: analytics.Param{Name: "check", Description: "only the rows this check id quarantined, or of this error type (FIELD COUNT, any case) in a bronze_ table"}, str: true},
				{Param: paramQLimit},
			},
			body: QuarantineRows{}, errors: queryErrors},
		route{path: openAPIPath, handler: func(s *Server) http.HandlerFunc { return s.openAPI },
			tag: "Operations", summary: "This document (OpenAPI 3.0)", contentType: "application/json"},
		route{path: "/healthz", handler: func(s *Server) http.HandlerFunc { return s.healthz },
			tag: "Operations", summary: "Liveness: ok, or degraded with the damaged tables or the lake's error (still 200)",
			body: Health{}, errors: map[int]string{http.StatusServiceUnavailable: "DuckDB does not answer"}},
		route{path: "/metrics", handler: func(s *Server) http.HandlerFunc { return s.metrics },
			tag: "Operations", summary: "Prometheus metrics: the server's queries, the run store's runs and the lake's snapshot",
			contentType: "text/plain; version=0.0.4", errors: map[int]string{http.StatusBadRequest: "a parameter was given (it takes none)", http.StatusInternalServerError: "the run store's metrics cannot be read"}},
		route{path: runsPagePath, handler: func(s *Server) http.HandlerFunc { return s.runsPage },
			tag: "Pages", summary: "The Runs page (reads /api/runs, /api/run and /api/quarantine)", contentType: "text/html; charset=utf-8"},
		route{path: docsPath, handler: func(s *Server) http.HandlerFunc { return s.docs },
			tag: "Pages", summary: "The lake's docs site (nexus docs): a page per table with its columns, SQL, lineage, checks and history", contentType: "text/html; charset=utf-8",
			errors: map[int]string{http.StatusNotFound: "no such page of the site"}},
		route{path: "/", handler: func(s *Server) http.HandlerFunc { return s.page },
			tag: "Pages", summary: "The KPI dashboard (reads /api/filters, /api/freshness and each analysis)", contentType: "text/html; charset=utf-8",
			errors: map[int]string{http.StatusNotFound: "any other path"}},
	)
}

// RoutePaths lists the paths the server answers, in the order of its table.
func RoutePaths() []string {
	var out []string
	for _, rt := range routeTable() {
		out = append(out, rt.path)
	}
	return out
}

// OpenAPI returns the API document of the server.
func OpenAPI() *OpenAPIDoc {
	doc := &OpenAPIDoc{
		OpenAPI: "3.0.3",
		Info: OpenAPIInfo{Title: "nexus serve", Version: "1",
			Description: "The read-only API of `nexus serve`: the analyses of the lake's Gold tables, its freshness, the scheduler's runs and the quarantine. " +
				"Only GET and HEAD; every error is JSON {\"error\": ..., \"param\": ...}. Any other path under /api/ answers 404 with the list of endpoints; " +
				"a request for a Host the server does not answer for gets 421, any other method 405."},
		Paths:      map[string]*PathItem{},
		Components: OpenAPIComponents{Schemas: map[string]*Schema{}},
	}
	r := &reflector{components: doc.Components.Schemas, names: map[reflect.Type]string{}}
	for _, rt := range routeTable() {
		op := &Operation{OperationID: operationID(rt.path), Summary: rt.summary, Tags: []string{rt.tag}, Responses: map[string]*Response{}}
		if rt.filter {
			op.Parameters = append(op.Parameters,
				Parameter{Name: "from", In: "query", Description: "first Brazilian business date, inclusive (yyyy-mm-dd)", Schema: &Schema{Type: "string", Format: "date"}},
				Parameter{Name: "to", In: "query", Description: "last Brazilian business date, inclusive (yyyy-mm-dd)", Schema: &Schema{Type: "string", Format: "date"}},
				Parameter{Name: "state", In: "query", Description: "the customer's state (UF), one of /api/filters' states", Schema: &Schema{Type: "string"}},
				Parameter{Name: "category", In: "query", Description: "the product category (English), one of /api/filters' categories", Schema: &Schema{Type: "string"}},
			)
		}
		for _, p := range rt.params {
			s := &Schema{Type: "string"}
			if !p.str {
				lo, hi := p.Min, p.Max
				s = &Schema{Type: "integer", Minimum: &lo, Maximum: &hi}
				if !p.required {
					s.Default = p.Default
				}
			}
			op.Parameters = append(op.Parameters, Parameter{Name: p.Name, In: "query", Description: p.Description, Required: p.required, Schema: s})
		}
		ok := &Response{Description: "OK"}
		if rt.body != nil {
			ok.Content = map[string]MediaType{"application/json": {Schema: r.schema(reflect.TypeOf(rt.body))}}
		} else if rt.contentType == "application/json" {
			ok.Content = map[string]MediaType{rt.contentType: {Schema: &Schema{Type: "object", Description: "an OpenAPI 3.0 document"}}}
		} else {
			ok.Content = map[string]MediaType{rt.contentType: {Schema: &Schema{Type: "string"}}}
		}
		op.Responses["200"] = ok
		for code, why := range rt.errors {
			op.Responses[fmt.Sprint(code)] = &Response{Description: why,
				Content: map[string]MediaType{"application/json": {Schema: r.schema(reflect.TypeOf(apiError{}))}}}
		}
		doc.Paths[rt.path] = &PathItem{Get: op}
	}
	return doc
}

func operationID(path string) string {
	id := strings.Trim(strings.NewReplacer("/api/", "", "/", "_", ".", "_", "-", "_").Replace(path), "_")
	if id == "" {
		return "page"
	}
	return id
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	if _, err := parseQuery(r.URL.Query(), nil, nil); err != nil {
		writeParamError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, OpenAPI())
}

// reflector turns Go types into schemas the way encoding/json encodes them.
type reflector struct {
	components map[string]*Schema
	names      map[reflect.Type]string
}

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[time.Duration]()
	resultsType  = reflect.TypeFor[analytics.Results]()
)

func (r *reflector) schema(t reflect.Type) *Schema {
	nullable := false
	for t.Kind() == reflect.Pointer {
		t, nullable = t.Elem(), true
	}
	var s *Schema
	switch {
	case t == timeType:
		s = &Schema{Type: "string", Format: "date-time"}
	case t == durationType:
		s = &Schema{Type: "integer", Format: "int64", Description: "nanoseconds"}
	case t == resultsType:
		s = r.ref(t, r.results)
	case t.Kind() == reflect.Struct:
		s = r.ref(t, r.object)
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		s = &Schema{Type: "array", Items: r.schema(t.Elem())}
	case t.Kind() == reflect.Map:
		s = &Schema{Type: "object", AdditionalProperties: r.schema(t.Elem())}
	case t.Kind() == reflect.String:
		s = &Schema{Type: "string"}
	case t.Kind() == reflect.Bool:
		s = &Schema{Type: "boolean"}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		s = &Schema{Type: "integer", Format: "int64"}
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		s = &Schema{Type: "number"}
	default: // interface: any JSON value
		s = &Schema{}
	}
	if nullable {
		if s.Ref != "" {
			// $ref siblings are ignored in 3.0: wrap it.
			return &Schema{Nullable: true, AllOf: []*Schema{s}}
		}
		s.Nullable = true
	}
	return s
}

// ref registers the component schema of a named type (built by build) and
// returns a reference to it.
func (r *reflector) ref(t reflect.Type, build func(reflect.Type) *Schema) *Schema {
	name, ok := r.names[t]
	if !ok {
		if t.Name() == "" {
			return build(t)
		}
		// Exported or not in Go, a schema's name is capitalized.
		base := strings.ToUpper(t.Name()[:1]) + t.Name()[1:]
		name = base
		for n := 2; r.components[name] != nil; n++ {
			name = fmt.Sprintf("%s%d", base, n)
		}
		r.names[t] = name
		r.components[name] = &Schema{} // placeholder: recursive types
		s := build(t)
		s.GoType = t.PkgPath() + "." + t.Name()
		r.components[name] = s
	}
	return &Schema{Ref: "#/components/schemas/" + name}
}

// object is a struct's schema: its JSON fields, embedded structs' promoted.
func (r *reflector) object(t reflect.Type) *Schema {
	s := &Schema{Type: "object", Properties: map[string]*Schema{}, GoFields: map[string]string{}}
	r.fields(t, s)
	sort.Strings(s.Required)
	return s
}

func (r *reflector) fields(t reflect.Type, s *Schema) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				r.fields(ft, s)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		s.Properties[name] = r.schema(f.Type)
		s.GoFields[name] = t.PkgPath() + "." + t.Name() + "." + f.Name
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			s.Required = append(s.Required, name)
		}
	}
}

// results is the schema of analytics.Results as the dashboard bundle holds
// it (its own MarshalJSON): the dashboard's analyses by name.
func (r *reflector) results(reflect.Type) *Schema {
	s := &Schema{Type: "object", Properties: map[string]*Schema{}, Description: "the dashboard's analyses, keyed by name: each as /api/NAME answers it"}
	for _, a := range analytics.Select(analytics.InDashboard) {
		s.Properties[a.Name] = r.schema(reflect.TypeOf(a.Result()))
		s.Required = append(s.Required, a.Name)
	}
	sort.Strings(s.Required)
	return s
}
