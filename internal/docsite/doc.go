// Package docsite owns the lake's documentation site: one static HTML page
// per table of every layer (description, grain, key, columns with their
// types, documentation and example values, the model's SQL, table and column
// lineage, the checks with their latest verdicts and a link to the
// quarantined rows, freshness, rows and bytes per snapshot, the runs that
// built it), a lineage page drawn as inline SVG with a layered layout, and a
// search over tables and columns. Everything comes from the existing sources
// of truth: model headers and lineage (internal/transform), the source
// contract (internal/olist), the quality suites and verdicts
// (internal/quality, internal/pipeline), the manifests and snapshots
// (internal/lake). No asset is loaded from outside the site.
//
// `nexus docs --out DIR` writes it; `nexus serve` serves it at /docs.
package docsite
