package server

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// TestOpenAPICoversTheServer: the document served at /api/openapi.json has
// every path the server registers (and no other), every parameter an
// endpoint accepts, and answers that match it: each endpoint, asked with its
// required parameters, answers a status the document lists, with a body
// whose every field is in the schema and every required field present.
func TestOpenAPICoversTheServer(t *testing.T) {
	ts := newTestServer(t, Options{})
	srv := ts.Config.Handler.(*Server)
	var doc OpenAPIDoc
	get(t, ts, openAPIPath, 200, &doc)

	var documented []string
	for p := range doc.Paths {
		documented = append(documented, p)
	}
	sort.Strings(documented)
	registered := slices.Clone(srv.paths)
	sort.Strings(registered)
	if !slices.Equal(documented, registered) {
		t.Fatalf("documented paths %v\nregistered paths %v", documented, registered)
	}

	queries := map[string]string{"/api/run": "?id=1", "/api/quarantine": "?table=silver.orders&limit=2"}
	for _, path := range documented {
		op := doc.Paths[path].Get
		t.Run(path, func(t *testing.T) {
			for _, p := range op.Parameters {
				if p.Required && !strings.Contains(queries[path], p.Name+"=") {
					t.Fatalf("required parameter %s: not in this test's query", p.Name)
				}
			}
			// An undocumented parameter is refused: the list is complete.
			// (The pages and the liveness probe ignore their query.)
			if path != "/" && path != runsPagePath && path != docsPath && path != "/healthz" {
				resp := fetch(t, ts.URL+path+"?undocumented=1")
				if resp.status != http.StatusBadRequest {
					t.Errorf("?undocumented=1: status %d, want 400", resp.status)
				}
			}
			resp := fetch(t, ts.URL+path+queries[path])
			res, ok := op.Responses[itoa(int64(resp.status))]
			if !ok {
				t.Fatalf("status %d is not documented (%s)", resp.status, resp.body)
			}
			var ct string
			for c := range res.Content {
				ct = c
			}
			if !strings.HasPrefix(resp.contentType, strings.Split(ct, ";")[0]) {
				t.Fatalf("content type %q, documented %q", resp.contentType, ct)
			}
			if ct != "application/json" {
				return
			}
			var v any
			if err := json.Unmarshal(resp.body, &v); err != nil {
				t.Fatal(err)
			}
			for _, p := range conforms(v, res.Content[ct].Schema, doc.Components.Schemas, "body") {
				t.Error(p)
			}
		})
	}
}

type fetched struct {
	status      int
	contentType string
	body        []byte
}

func fetch(t *testing.T, url string) fetched {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fetched{resp.StatusCode, resp.Header.Get("Content-Type"), b}
}

// conforms lists where v does not match s: a field the schema lacks, a
// required one missing, a value of another type.
func conforms(v any, s *Schema, comps map[string]*Schema, at string) []string {
	for s.Ref != "" || len(s.AllOf) == 1 {
		if len(s.AllOf) == 1 {
			if v == nil && s.Nullable {
				return nil
			}
			s = s.AllOf[0]
			continue
		}
		s = comps[strings.TrimPrefix(s.Ref, "#/components/schemas/")]
	}
	if v == nil {
		if s.Nullable || s.Type == "array" || s.Type == "object" || s.Type == "" {
			return nil // a nil slice or map encodes as null
		}
		return []string{at + ": null, schema " + s.Type}
	}
	var out []string
	switch v := v.(type) {
	case map[string]any:
		if s.Type != "object" && s.Type != "" {
			return []string{at + ": an object, schema " + s.Type}
		}
		if s.Properties == nil && s.AdditionalProperties == nil {
			return nil // any object
		}
		for k, fv := range v {
			fs, ok := s.Properties[k]
			if !ok {
				fs = s.AdditionalProperties
			}
			if fs == nil {
				if s.Type == "" {
					continue
				}
				out = append(out, at+"."+k+": not in the schema")
				continue
			}
			out = append(out, conforms(fv, fs, comps, at+"."+k)...)
		}
		for _, r := range s.Required {
			if _, ok := v[r]; !ok {
				out = append(out, at+"."+r+": required, missing")
			}
		}
	case []any:
		if s.Type != "array" {
			return []string{at + ": an array, schema " + s.Type}
		}
		for i, e := range v {
			if i > 3 {
				break
			}
			out = append(out, conforms(e, s.Items, comps, at+"[]")...)
		}
	case string:
		if s.Type != "string" && s.Type != "" {
			out = append(out, at+": a string, schema "+s.Type)
		}
	case float64:
		if s.Type != "number" && s.Type != "integer" && s.Type != "" {
			out = append(out, at+": a number, schema "+s.Type)
		}
	case bool:
		if s.Type != "boolean" && s.Type != "" {
			out = append(out, at+": a boolean, schema "+s.Type)
		}
	}
	return out
}

// TestRoutesOnlyFromTheTable: the mux is given handlers in routes() only
// (the table's paths and the /api/ fallback), so that no path escapes the
// document.
func TestRoutesOnlyFromTheTable(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if c := strings.Count(string(b), ".mux.Handle"); c > 0 && f != "server.go" {
			t.Errorf("%s registers %d handler(s) outside routes(): add them to routeTable", f, c)
		} else {
			n += c
		}
	}
	if n != 2 {
		t.Errorf("server.go registers %d handlers on the mux; want 2 (routeTable's, and the /api/ fallback)", n)
	}
}
