// Package docgen owns the generated documents of docs/: it renders them from
// the sources of truth the code already has, so that they cannot drift (a
// test compares the committed files with fresh output).
//
//   - quality_checks.md: the check-kind registry (quality.Reference), plus
//     what the gate does with each combination of severity, on_fail and
//     max_failed_ratio, measured on the real gate.
//   - data_dictionary.md: every Silver and Gold table and column, with the
//     descriptions, key, partitioning and incremental rule of the model
//     headers and the types of the Parquet files the pipeline publishes
//     (the manifests of a lake built from a fixed generated data set).
//   - api.md: the HTTP API, rendered from the OpenAPI document the server
//     serves at /api/openapi.json (server.OpenAPI), with the Go doc comments
//     of the response types.
//   - architecture.dot (rendered by Graphviz to architecture_diagram.svg and
//     .png) and the generated regions of architecture.md: the commands
//     (cmd/nexus), the packages and their imports (go list), the model graph
//     (internal/transform).
//   - qa.md: the executive Q&A, the questions and answers of the deck's Q&A
//     slide (report.DeckData.QA), with the numbers of the sample lake.
//   - ../analysis/key_insights.md: the deck's findings with their numbers
//     and the tables of the analyses behind them (report.BuildDeck on the
//     sample lake).
//
// Regenerate them all with
//
//	go run ./internal/docgen/cmd/docgen -dir docs
//
// (or go generate ./internal/docgen); Graphviz's dot must be installed.
package docgen

//go:generate go run ./cmd/docgen -dir ../../docs -analysis ../../analysis -root ../..
