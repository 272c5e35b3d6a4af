package main

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keystone/nexus/internal/analytics"
	"github.com/keystone/nexus/internal/catalog"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/pipeline"
	"github.com/keystone/nexus/internal/report"
	"github.com/keystone/nexus/internal/server"
	"github.com/keystone/nexus/internal/transform"
)

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// TestJSONNamesAreSnakeCase: every JSON the CLI and the API write names its
// fields in snake_case (`check --format json` mixed CheckID with run_id).
func TestJSONNamesAreSnakeCase(t *testing.T) {
	t.Parallel()
	outputs := []any{
		pipeline.CheckRun{}, pipeline.Summary{}, lake.Manifest{}, report.DeckFiles{},
		server.Bundle{}, server.Freshness{}, server.FilterLists{}, catalog.Bill{}, catalog.Footprint{},
		transform.ColumnLineage{}, transform.TraceNode{},
	}
	// Results holds one field per analysis of the registry: every result type.
	outputs = append(outputs, analytics.Results{}, analytics.Filter{})
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type, path string)
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map || typ.Kind() == reflect.Array {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] || typ == reflect.TypeFor[time.Time]() {
			return
		}
		seen[typ] = true
		// A type with its own MarshalJSON (analytics.Results: keyed by
		// analysis name) names nothing by its fields; their types still count.
		custom := reflect.PointerTo(typ).Implements(reflect.TypeFor[json.Marshaler]())
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			if !f.IsExported() {
				continue
			}
			if custom {
				walk(f.Type, path+"."+f.Name)
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if f.Anonymous && name == "" {
				walk(f.Type, path)
				continue
			}
			if !snakeCase.MatchString(name) {
				t.Errorf("%s.%s (%s) has JSON name %q, want snake_case", path, f.Name, typ, name)
			}
			walk(f.Type, path+"."+f.Name)
		}
	}
	for _, o := range outputs {
		walk(reflect.TypeOf(o), reflect.TypeOf(o).String())
	}
}
