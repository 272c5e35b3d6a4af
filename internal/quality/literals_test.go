package quality

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// pendingVerdictLiterals are files outside this package still allowed verdict
// literals, with the reason. An entry whose file no longer has one fails the
// test, so the list only shrinks.
var pendingVerdictLiterals = map[string]string{}

// No code outside this package spells a verdict as a string literal
// ("pass", "fail", "warn"): it compares with and assigns the Verdict
// constants, so a renamed or added verdict cannot be missed.
func TestNoVerdictLiteralsOutsideQuality(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	verdicts := map[string]bool{}
	for _, v := range []Verdict{VerdictPass, VerdictFail, VerdictWarn} {
		verdicts[strconv.Quote(string(v))] = true
	}
	isVerdict := func(e ast.Expr) bool {
		lit, ok := e.(*ast.BasicLit)
		return ok && lit.Kind == token.STRING && verdicts[lit.Value]
	}
	isVerdictField := func(e ast.Expr) bool {
		sel, ok := e.(*ast.SelectorExpr)
		return ok && sel.Sel.Name == "Verdict"
	}
	found := map[string][]string{} // file → positions
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			switch {
			case rel == "internal/quality", d.Name() == "testdata", strings.HasPrefix(d.Name(), ".") && rel != ".":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		report := func(n ast.Node) {
			p := fset.Position(n.Pos())
			found[rel] = append(found[rel], fmt.Sprintf("%s:%d:%d", rel, p.Line, p.Column))
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BinaryExpr:
				if (n.Op == token.EQL || n.Op == token.NEQ) &&
					(isVerdict(n.X) && isVerdictField(n.Y) || isVerdict(n.Y) && isVerdictField(n.X)) {
					report(n)
				}
			case *ast.SwitchStmt:
				if n.Tag != nil && isVerdictField(n.Tag) {
					for _, s := range n.Body.List {
						for _, e := range s.(*ast.CaseClause).List {
							if isVerdict(e) {
								report(e)
							}
						}
					}
				}
			case *ast.KeyValueExpr:
				if id, ok := n.Key.(*ast.Ident); ok && id.Name == "Verdict" && isVerdict(n.Value) {
					report(n)
				}
			case *ast.AssignStmt:
				for i, l := range n.Lhs {
					if i < len(n.Rhs) && isVerdictField(l) && isVerdict(n.Rhs[i]) {
						report(n)
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for f := range found {
		files = append(files, f)
	}
	slices.Sort(files)
	for _, f := range files {
		if _, ok := pendingVerdictLiterals[f]; !ok {
			t.Errorf("verdict string literal (use quality.VerdictPass/Fail/Warn): %s", strings.Join(found[f], ", "))
		}
	}
	for f, why := range pendingVerdictLiterals {
		if len(found[f]) == 0 {
			t.Errorf("%s has no verdict literal left: remove it from pendingVerdictLiterals (%s)", f, why)
		}
	}
}
