package docgen

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Command is a top-level command of cmd/nexus, read from its source: what
// newRoot adds, the Use and Short of its cobra.Command, and the internal
// packages the file that defines it imports.
type Command struct {
	Name     string
	Short    string
	Func     string   // newXxxCmd
	File     string   // cmd/nexus/xxx.go
	Packages []string // internal packages the file imports: "lake", "schedule/runstore"
}

// Package is an internal package reachable from cmd/nexus.
type Package struct {
	Path    string   // "lake", "schedule/runstore"
	Doc     string   // the package doc's first sentence, without "Package x"
	Imports []string // internal packages it imports (non-test files)
}

// Commands reads the top-level commands of cmd/nexus under root.
func Commands(root string) ([]Command, error) {
	dir := filepath.Join(root, "cmd", "nexus")
	files, err := parseDir(dir)
	if err != nil {
		return nil, err
	}
	funcs := map[string]*ast.FuncDecl{}
	fileOf := map[string]string{}
	importsOf := map[string][]string{}
	for name, f := range files {
		importsOf[name] = internalImports(f)
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil {
				funcs[fd.Name.Name] = fd
				fileOf[fd.Name.Name] = name
			}
		}
	}
	root2, ok := funcs["newRoot"]
	if !ok {
		return nil, fmt.Errorf("docgen: %s: no func newRoot", dir)
	}
	var out []Command
	var perr error
	ast.Inspect(root2, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || !isSelector(call.Fun, "AddCommand") {
			return true
		}
		for _, arg := range call.Args {
			c, ok := arg.(*ast.CallExpr)
			id, isIdent := c.Fun.(*ast.Ident)
			if !ok || !isIdent {
				perr = fmt.Errorf("docgen: newRoot adds a command that is not newXxxCmd(a)")
				return false
			}
			fd, ok := funcs[id.Name]
			if !ok {
				perr = fmt.Errorf("docgen: newRoot adds %s, which cmd/nexus does not define", id.Name)
				return false
			}
			use, short := cobraStrings(fd)
			if use == "" {
				perr = fmt.Errorf("docgen: %s: no cobra.Command literal with a Use string", id.Name)
				return false
			}
			name, _, _ := strings.Cut(use, " ")
			out = append(out, Command{Name: name, Short: short, Func: id.Name,
				File: "cmd/nexus/" + filepath.Base(fileOf[id.Name]), Packages: importsOf[fileOf[id.Name]]})
		}
		return false
	})
	return out, perr
}

// cobraStrings are the Use and Short of the first &cobra.Command{...} of fd.
func cobraStrings(fd *ast.FuncDecl) (use, short string) {
	ast.Inspect(fd, func(n ast.Node) bool {
		cl, ok := n.(*ast.CompositeLit)
		if !ok || use != "" || !isSelector(cl.Type, "Command") {
			return use == ""
		}
		for _, e := range cl.Elts {
			kv, ok := e.(*ast.KeyValueExpr)
			if !ok {
				continue
			}
			k, _ := kv.Key.(*ast.Ident)
			lit, _ := kv.Value.(*ast.BasicLit)
			if k == nil || lit == nil || lit.Kind != token.STRING {
				continue
			}
			v, err := strconv.Unquote(lit.Value)
			if err != nil {
				continue
			}
			switch k.Name {
			case "Use":
				use = v
			case "Short":
				short = v
			}
		}
		return false
	})
	return use, short
}

func isSelector(e ast.Expr, name string) bool {
	s, ok := e.(*ast.SelectorExpr)
	return ok && s.Sel.Name == name
}

// Packages reads the internal packages that cmd/nexus reaches (directly or
// through other packages), in path order: what the binary is made of, test
// support and tools left out.
func Packages(root string) ([]Package, error) {
	all := map[string]*Package{}
	err := filepath.WalkDir(filepath.Join(root, "internal"), func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		files, err := parseDir(p)
		if err != nil || len(files) == 0 {
			return err
		}
		rel, err := filepath.Rel(filepath.Join(root, "internal"), p)
		if err != nil {
			return err
		}
		pkg := &Package{Path: filepath.ToSlash(rel)}
		for _, f := range files {
			for _, imp := range internalImports(f) {
				if !slices.Contains(pkg.Imports, imp) {
					pkg.Imports = append(pkg.Imports, imp)
				}
			}
			if f.Doc != nil && pkg.Doc == "" {
				pkg.Doc = docSentence(f.Doc.Text())
			}
		}
		slices.Sort(pkg.Imports)
		all[pkg.Path] = pkg
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("docgen: packages: %w", err)
	}
	cmdFiles, err := parseDir(filepath.Join(root, "cmd", "nexus"))
	if err != nil {
		return nil, err
	}
	reached := map[string]bool{}
	var visit func(string)
	visit = func(p string) {
		if reached[p] || all[p] == nil {
			return
		}
		reached[p] = true
		for _, imp := range all[p].Imports {
			visit(imp)
		}
	}
	for _, f := range cmdFiles {
		for _, imp := range internalImports(f) {
			visit(imp)
		}
	}
	var out []Package
	for p := range reached {
		out = append(out, *all[p])
	}
	slices.SortFunc(out, func(a, b Package) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// parseDir parses the non-test Go files of dir (imports and comments).
func parseDir(dir string) (map[string]*ast.File, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	out := map[string]*ast.File{}
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, n, nil, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("docgen: %w", err)
		}
		out[n] = f
	}
	return out, nil
}

func internalImports(f *ast.File) []string {
	var out []string
	for _, imp := range f.Imports {
		p, err := strconv.Unquote(imp.Path.Value)
		if err == nil && strings.HasPrefix(p, modulePath+"/internal/") {
			out = append(out, strings.TrimPrefix(p, modulePath+"/internal/"))
		}
	}
	slices.Sort(out)
	return out
}

// docSentence is the first sentence of a package doc, without "Package x".
func docSentence(doc string) string {
	doc = strings.Join(strings.Fields(doc), " ")
	if i := strings.Index(doc, ". "); i >= 0 {
		doc = doc[:i]
	}
	doc = strings.TrimSuffix(doc, ".")
	if f := strings.Fields(doc); len(f) > 2 && f[0] == "Package" {
		doc = strings.Join(f[2:], " ")
	}
	return doc
}
