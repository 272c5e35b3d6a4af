// Command docgen regenerates the generated documents of docs/ and
// analysis/key_insights.md (see package internal/docgen):
// go run ./internal/docgen/cmd/docgen -dir docs, from the repository's root.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"

	"github.com/keystone/nexus/internal/docgen"
)

func main() {
	dir := flag.String("dir", "docs", "the documents' directory")
	analysis := flag.String("analysis", "analysis", "the analysis directory (key_insights.md)")
	root := flag.String("root", ".", "the repository's root")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := docgen.Write(ctx, docgen.Options{Root: *root, Dir: *dir, Analysis: *analysis, Logger: log}); err != nil {
		fmt.Fprintln(os.Stderr, "docgen:", err)
		os.Exit(1)
	}
}
