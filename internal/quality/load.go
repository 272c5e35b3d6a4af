package quality

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

//go:embed suites/*.yaml
var embedded embed.FS

// LoadSuites reads the embedded default suites and, when projectDir is not
// empty, the suites in projectDir/suites/*.yaml (the directory may be
// absent). A project suite for a table that already has one merges into it:
// a check with the id of an existing check replaces it (disabled: true removes
// it), other checks are added. Suites are returned sorted by table.
//
// Every problem (YAML syntax, unknown key or kind, missing id or required
// field, duplicate id, bad severity/on_fail, a field that does not apply to
// the kind) is an error naming FILE:LINE and the reason; all problems found
// are reported, one per line.
func LoadSuites(projectDir string) ([]*Suite, error) {
	var suites []*Suite
	var errs []error
	load := func(fsys fs.FS, display string) {
		names, err := fs.Glob(fsys, "*.yaml")
		if err != nil {
			errs = append(errs, err)
			return
		}
		sort.Strings(names)
		for _, n := range names {
			src, err := fs.ReadFile(fsys, n)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			s, err := ParseSuite(path.Join(display, n), src)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			suites = append(suites, s)
		}
	}
	sub, err := fs.Sub(embedded, "suites")
	if err != nil {
		return nil, err
	}
	load(sub, "suites")
	if projectDir != "" {
		dir := filepath.Join(projectDir, "suites")
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			load(os.DirFS(dir), filepath.ToSlash(dir))
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("project suites: %w", err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return mergeSuites(suites), nil
}

// mergeSuites merges suites of the same table in order: later checks replace
// earlier ones with the same id; disabled checks are dropped.
func mergeSuites(in []*Suite) []*Suite {
	byTable := map[string]*Suite{}
	var order []string
	for _, s := range in {
		m, ok := byTable[s.Table]
		if !ok {
			m = &Suite{Table: s.Table, File: s.File, Line: s.Line}
			byTable[s.Table] = m
			order = append(order, s.Table)
		}
		for _, c := range s.Checks {
			replaced := false
			for i := range m.Checks {
				if m.Checks[i].ID == c.ID {
					m.Checks[i] = c
					replaced = true
					break
				}
			}
			if !replaced {
				m.Checks = append(m.Checks, c)
			}
		}
	}
	sort.Strings(order)
	out := make([]*Suite, 0, len(order))
	for _, t := range order {
		s := byTable[t]
		kept := s.Checks[:0]
		for _, c := range s.Checks {
			if !c.Disabled {
				kept = append(kept, c)
			}
		}
		s.Checks = kept
		out = append(out, s)
	}
	return out
}

// posError is an error at FILE:LINE.
type posError struct {
	file string
	line int
	msg  string
}

func (e *posError) Error() string { return pos(e.file, e.line) + ": " + e.msg }

func errAt(file string, line int, format string, args ...any) error {
	return &posError{file: file, line: line, msg: fmt.Sprintf(format, args...)}
}

// yamlError turns a go-yaml error into FILE:LINE: message.
func yamlError(file string, err error) error {
	var ye yaml.Error
	if errors.As(err, &ye) {
		line := 0
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			line = tk.Position.Line
		}
		return errAt(file, line, "%s", friendlyYAML(strings.TrimSpace(ye.GetMessage())))
	}
	return errAt(file, 0, "%v", err)
}

var goTypeErr = regexp.MustCompile(`cannot unmarshal (.+?) into Go struct field Check\.(\w+) of type (\S+)`)

// friendlyYAML rewrites go-yaml's Go-speak type errors in terms of the suite
// format, with the types of the check reference: "min_rows: want an integer,
// got string", "severity: want a string, got a list".
func friendlyYAML(msg string) string {
	m := goTypeErr.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	f, ok := reflect.TypeFor[Check]().FieldByName(m[2])
	if !ok {
		return msg
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	want := yamlType(f.Type)
	switch {
	case want == "boolean":
		want = "true or false"
	case want == "integer":
		want = "an integer"
	default:
		want = "a " + want
	}
	got := m[1]
	switch {
	case strings.HasPrefix(got, "[]"):
		got = "a list"
	case strings.HasPrefix(got, "map["):
		got = "a mapping"
	case strings.HasPrefix(got, "int"), strings.HasPrefix(got, "uint"), strings.HasPrefix(got, "float"):
		got = "a number"
	}
	return fmt.Sprintf("%s: want %s, got %s", name, want, got)
}

func nodeLine(n ast.Node) int {
	if n == nil {
		return 0
	}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return tk.Position.Line
	}
	return 0
}

// mappingPairs returns the key/value pairs of a mapping node, or false when
// the node is not a mapping.
func mappingPairs(n ast.Node) ([]*ast.MappingValueNode, bool) {
	switch m := n.(type) {
	case *ast.MappingNode:
		return m.Values, true
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{m}, true
	case *ast.TagNode:
		return mappingPairs(m.Value)
	case *ast.AnchorNode:
		return mappingPairs(m.Value)
	}
	return nil, false
}

func keyName(mv *ast.MappingValueNode) string {
	if mv.Key == nil {
		return ""
	}
	return strings.TrimSpace(mv.Key.String())
}

// ParseSuite parses one suite file. file is the name used in errors.
//
// The file holds one mapping: table (layer.table), an optional description,
// and checks, a list of checks. Each check is a mapping of the Check fields by
// their yaml names.
func ParseSuite(file string, src []byte) (*Suite, error) {
	f, err := parser.ParseBytes(src, 0)
	if err != nil {
		return nil, yamlError(file, err)
	}
	if len(f.Docs) != 1 || f.Docs[0].Body == nil {
		return nil, errAt(file, 1, "a suite file holds exactly one YAML document (table: and checks:)")
	}
	body := f.Docs[0].Body
	pairs, ok := mappingPairs(body)
	if !ok {
		return nil, errAt(file, nodeLine(body), "a suite is a mapping with table: and checks:, not a %s", body.Type())
	}
	s := &Suite{File: file, Line: nodeLine(body)}
	var checksNode ast.Node
	var errs []error
	for _, mv := range pairs {
		switch k := keyName(mv); k {
		case "table":
			s.Line = nodeLine(mv.Key)
			if err := yaml.NodeToValue(mv.Value, &s.Table); err != nil {
				errs = append(errs, yamlError(file, err))
			}
		case "description":
		case "checks":
			checksNode = mv.Value
		default:
			errs = append(errs, errAt(file, nodeLine(mv.Key), "unknown key %q (want table, description, checks)", k))
		}
	}
	if s.Table == "" {
		errs = append(errs, errAt(file, s.Line, "missing table: (layer.table)"))
	} else if !tableName.MatchString(s.Table) {
		errs = append(errs, errAt(file, s.Line, "table %q is not layer.table", s.Table))
	}
	var items []ast.Node
	switch n := checksNode.(type) {
	case nil:
		errs = append(errs, errAt(file, s.Line, "missing checks:"))
	case *ast.SequenceNode:
		items = n.Values
	case *ast.NullNode:
	default:
		errs = append(errs, errAt(file, nodeLine(checksNode), "checks: must be a list of checks"))
	}
	seen := map[string]int{}
	for _, item := range items {
		c, err := parseCheck(file, item)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, dup := seen[c.ID]; dup {
			errs = append(errs, errAt(file, c.Line, "duplicate check id %q (first defined at line %d)", c.ID, prev))
			continue
		}
		seen[c.ID] = c.Line
		s.Checks = append(s.Checks, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

var (
	tableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$`)
	checkID   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
)

func parseCheck(file string, item ast.Node) (Check, error) {
	line := nodeLine(item)
	pairs, ok := mappingPairs(item)
	if !ok {
		return Check{}, errAt(file, line, "a check is a mapping (id:, kind:, ...), not a %s", item.Type())
	}
	keyLine := map[string]int{}
	for _, mv := range pairs {
		keyLine[keyName(mv)] = nodeLine(mv.Key)
	}
	if len(pairs) > 0 {
		line = nodeLine(pairs[0].Key)
	}
	var c Check
	if err := yaml.NodeToValue(item, &c, yaml.DisallowUnknownField()); err != nil {
		return Check{}, yamlError(file, err)
	}
	c.File, c.Line = file, line
	at := func(field string) int {
		if l, ok := keyLine[field]; ok {
			return l
		}
		return line
	}
	if c.ID == "" {
		return c, errAt(file, line, "check without id")
	}
	if !checkID.MatchString(c.ID) {
		return c, errAt(file, at("id"), "check id %q: use letters, digits, _ . -", c.ID)
	}
	if c.Disabled {
		// An override that switches a check off needs nothing else.
		return c, nil
	}
	if c.Kind == "" {
		return c, errAt(file, line, "check %s: missing kind", c.ID)
	}
	spec, known := lookupKind(c.Kind)
	if !known {
		return c, errAt(file, at("kind"), "check %s: unknown kind %q (want one of %s)", c.ID, c.Kind, strings.Join(kindNames(), ", "))
	}
	switch c.Severity {
	case "":
		c.Severity = SeverityError
	case SeverityError, SeverityWarn:
	default:
		return c, errAt(file, at("severity"), "check %s: severity %q: want error or warn", c.ID, c.Severity)
	}
	if c.RowLevel() {
		switch c.OnFail {
		case "":
			c.OnFail = OnFailQuarantine
		case OnFailQuarantine, OnFailKeep:
		default:
			return c, errAt(file, at("on_fail"), "check %s: on_fail %q: want quarantine or keep", c.ID, c.OnFail)
		}
	}
	allowed := map[string]bool{}
	for _, f := range spec.fields {
		allowed[f.Name] = true
	}
	for _, mv := range pairs {
		k := keyName(mv)
		if !registry.common[k] && !allowed[k] {
			return c, errAt(file, at(k), "check %s: %s does not apply to kind %s", c.ID, k, c.Kind)
		}
	}
	for _, f := range spec.fields {
		if _, ok := keyLine[f.Name]; f.Required && !ok {
			return c, errAt(file, line, "check %s: kind %s needs %s", c.ID, c.Kind, f.Name)
		}
	}
	if spec.check != nil {
		if err := spec.check(&c, checkAt{file: file, line: line, keyLine: keyLine, id: c.ID}); err != nil {
			return c, err
		}
	}
	if len(c.Nulls) > 0 && c.Quarantine() {
		// A quarantined row is not published: nulling its measures means nothing.
		return c, errAt(file, at("nulls"), "check %s: nulls applies to on_fail: keep (the row stays, its corrupted measures become NULL)", c.ID)
	}
	if c.MaxFailedRatio != nil && (*c.MaxFailedRatio < 0 || *c.MaxFailedRatio > 1) {
		return c, errAt(file, at("max_failed_ratio"), "check %s: max_failed_ratio must be between 0 and 1", c.ID)
	}
	return c, nil
}
