package docgen

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/pipeline"
	"github.com/keystone/nexus/internal/quality"
)

const (
	repoRoot    = "../.."
	docsDir     = "../../docs"
	analysisDir = "../../analysis"
)

const regenerate = "go run ./internal/docgen/cmd/docgen -dir docs"

// TestDocsUpToDate: every generated document in docs/ and analysis/ is
// what the code generates now, and the diagram's SVG was drawn from the
// committed source.
func TestDocsUpToDate(t *testing.T) {
	files, err := Text(context.Background(), Options{Root: repoRoot, Dir: docsDir, Analysis: analysisDir})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, name := range []string{FileQuality, FileDictionary, FileAPI, FileArchitecture, FileDiagramDot, FileQA} {
		paths = append(paths, filepath.Join(docsDir, name))
	}
	paths = append(paths, filepath.Join(analysisDir, FileInsights))
	if len(files) != len(paths) {
		t.Errorf("generated %d documents, the test compares %d", len(files), len(paths))
	}
	for _, path := range paths {
		name, _ := filepath.Rel(repoRoot, path)
		got, ok := files[path]
		if !ok {
			t.Errorf("%s: not generated", name)
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v (regenerate: %s)", name, err, regenerate)
			continue
		}
		if string(got) != string(want) {
			t.Errorf("%s differs from what the code generates; regenerate: %s\nfirst difference: %s", name, regenerate, firstDiff(string(want), string(got)))
		}
	}
	dot, err := os.ReadFile(filepath.Join(docsDir, FileDiagramDot))
	if err != nil {
		t.Fatal(err)
	}
	svg, err := os.ReadFile(filepath.Join(docsDir, FileDiagramSVG))
	if err != nil {
		t.Fatal(err)
	}
	if want := dotHashPrefix + DotHash(string(dot)); !strings.Contains(string(svg), want) {
		t.Errorf("docs/%s was not drawn from docs/%s (no %q); regenerate: %s", FileDiagramSVG, FileDiagramDot, want, regenerate)
	}
	if st, err := os.Stat(filepath.Join(docsDir, FileDiagramPNG)); err != nil || st.Size() == 0 {
		t.Errorf("docs/%s: missing or empty (%v)", FileDiagramPNG, err)
	}
}

// TestDiagramRenders: Graphviz accepts the diagram's source (skipped without
// dot, unless NEXUS_REQUIRE_TOOLS is set, as in CI).
func TestDiagramRenders(t *testing.T) {
	if _, err := exec.LookPath("dot"); err != nil {
		if os.Getenv("NEXUS_REQUIRE_TOOLS") != "" {
			t.Fatal("Graphviz's dot is not installed (apt-get install graphviz)")
		}
		t.Skip("no dot (apt-get install graphviz)")
	}
	dot, err := os.ReadFile(filepath.Join(docsDir, FileDiagramDot))
	if err != nil {
		t.Fatal(err)
	}
	svg, err := RenderDot(context.Background(), dot, "svg")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(svg), dotHashPrefix+DotHash(string(dot))) {
		t.Error("dot does not copy the source's hash comment into the SVG")
	}
}

// TestCommandStages: every command placed by commandStage exists, and its
// file imports the package it is drawn in.
func TestCommandStages(t *testing.T) {
	cmds, err := Commands(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Command{}
	for _, c := range cmds {
		byName[c.Name] = c
	}
	for name, stage := range commandStage {
		c, ok := byName[name]
		if !ok {
			t.Errorf("commandStage places %s, which cmd/nexus does not define", name)
			continue
		}
		if !slices.Contains(c.Packages, stage) {
			t.Errorf("command %s is drawn in %s, which %s does not import (%v)", name, stage, c.File, c.Packages)
		}
	}
}

// TestRegionsMustMatch: a document loses no generated region silently.
func TestRegionsMustMatch(t *testing.T) {
	for _, tc := range []struct {
		doc     string
		regions map[string]string
		want    string // "" = ok
	}{
		{"a\n<!-- generated:x -->\nold\n<!-- /generated:x -->\nb", map[string]string{"x": "new\n"}, ""},
		{"a", map[string]string{"x": "new\n"}, "region x appears 0 times"},
		{"<!-- generated:y -->\n<!-- /generated:y -->", map[string]string{}, "no generated region is called y"},
		{"<!-- generated:x -->\n<!-- /generated:x -->\n<!-- generated:x -->\n<!-- /generated:x -->", map[string]string{"x": ""}, "appears 2 times"},
	} {
		out, err := FillRegions(tc.doc, tc.regions)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.doc, err)
		case tc.want == "" && !strings.Contains(out, "new") && tc.regions["x"] != "":
			t.Errorf("%q: not filled: %q", tc.doc, out)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: error %v, want %q", tc.doc, err, tc.want)
		}
	}
}

// TestQualityExamplesRun: the example of every check kind in the reference
// names real tables and columns, and the SQL shown for it runs on a built
// lake.
func TestQualityExamplesRun(t *testing.T) {
	ctx := context.Background()
	g, err := pipeline.LoadGraph("")
	if err != nil {
		t.Fatal(err)
	}
	lk, cleanup, err := buildLake(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	eng, err := engine.Open(ctx, lk, engine.Options{MemoryLimit: "1GB", Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	for _, k := range quality.Kinds() {
		s, err := quality.ExampleSuite(k.Example)
		if err != nil {
			t.Fatal(err)
		}
		if err := quality.Validate([]*quality.Suite{s}, pipeline.Schemas(g)); err != nil {
			t.Errorf("example of %s: %v", k.Kind, err)
			continue
		}
		rel, built := quality.ExampleRelations(s.Table)
		c, err := quality.Compile(s, s.Checks[0], rel, built)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		if err := eng.DB().QueryRowContext(ctx, "SELECT count(*) FROM ("+c.Query+")").Scan(&n); err != nil {
			t.Errorf("example of %s: %v\n%s", k.Kind, err, c.Query)
		}
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n  committed: " + x + "\n  generated: " + y
		}
	}
	return "(none)"
}
