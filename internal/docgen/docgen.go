package docgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/pipeline"
)

// Options say where the sources and the documents are.
type Options struct {
	// Root is the repository's root (the module): the Go sources the
	// architecture and the API's field docs are read from.
	Root string
	// Dir is the documents' directory (docs/): the hand-written parts of
	// architecture.md are read from there.
	Dir string
	// Analysis is the analysis directory (analysis/), where key_insights.md
	// goes; default: Root/analysis.
	Analysis string
	Logger   *slog.Logger
}

// The documents docgen owns, in docs/.
const (
	FileQuality      = "quality_checks.md"
	FileDictionary   = "data_dictionary.md"
	FileAPI          = "api.md"
	FileArchitecture = "architecture.md"
	FileDiagramDot   = "architecture.dot"
	FileDiagramSVG   = "architecture_diagram.svg"
	FileDiagramPNG   = "architecture_diagram.png"
)

// Text renders every text document docgen owns: its path (in Dir or
// Analysis) → content. The diagram's pictures are rendered from
// FileDiagramDot by Write.
func Text(ctx context.Context, o Options) (map[string][]byte, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Analysis == "" {
		o.Analysis = filepath.Join(o.Root, "analysis")
	}
	doc := func(name string) string { return filepath.Join(o.Dir, name) }
	// The graph of the SQL alone: LoadGated's has the gates' extra edges.
	_, suites, err := pipeline.LoadGated("")
	if err != nil {
		return nil, err
	}
	g, err := pipeline.LoadGraph("")
	if err != nil {
		return nil, err
	}
	eng, err := engine.Open(ctx, nil, engine.Options{Threads: 1, MemoryLimit: "512MB"})
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	out := map[string][]byte{}

	q, err := QualityChecks(ctx, eng.DB())
	if err != nil {
		return nil, err
	}
	out[doc(FileQuality)] = []byte(q)

	lk, cleanup, err := buildLake(ctx, o.Logger)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	d, err := DataDictionary(g, suites, lk)
	if err != nil {
		return nil, err
	}
	out[doc(FileDictionary)] = []byte(d)

	api, err := APIDoc(o.Root)
	if err != nil {
		return nil, err
	}
	out[doc(FileAPI)] = []byte(api)

	arch, err := Architecture(o.Root, g)
	if err != nil {
		return nil, err
	}
	out[doc(FileDiagramDot)] = []byte(arch.Dot)
	prev, err := os.ReadFile(filepath.Join(o.Dir, FileArchitecture))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	md, err := FillRegions(string(prev), arch.Regions)
	if err != nil {
		return nil, fmt.Errorf("docgen: %s: %w", FileArchitecture, err)
	}
	out[doc(FileArchitecture)] = []byte(md)

	deck, err := deckData(ctx, lk)
	if err != nil {
		return nil, err
	}
	out[doc(FileQA)] = QADoc(deck)
	if out[filepath.Join(o.Analysis, FileInsights)], err = KeyInsights(deck); err != nil {
		return nil, err
	}
	return out, nil
}

// Write renders every document into o.Dir and o.Analysis, the diagram's SVG
// and PNG with Graphviz's dot.
func Write(ctx context.Context, o Options) error {
	files, err := Text(ctx, o)
	if err != nil {
		return err
	}
	for path, b := range files {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return fmt.Errorf("docgen: %w", err)
		}
	}
	dot := files[filepath.Join(o.Dir, FileDiagramDot)]
	for _, f := range []struct{ name, format string }{{FileDiagramSVG, "svg"}, {FileDiagramPNG, "png"}} {
		b, err := RenderDot(ctx, dot, f.format)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(o.Dir, f.name), b, 0o644); err != nil {
			return fmt.Errorf("docgen: %w", err)
		}
	}
	return nil
}

// RenderDot runs Graphviz's dot on src.
func RenderDot(ctx context.Context, src []byte, format string) ([]byte, error) {
	path, err := exec.LookPath("dot")
	if err != nil {
		return nil, fmt.Errorf("docgen: Graphviz's dot is needed to draw the diagram (apt-get install graphviz): %w", err)
	}
	cmd := exec.CommandContext(ctx, path, "-T"+format)
	cmd.Stdin = bytes.NewReader(src)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("docgen: dot -T%s: %w: %s", format, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}
