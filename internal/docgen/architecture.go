package docgen

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"regexp"
	"slices"
	"strings"

	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/transform"
)

// ArchitectureDoc is what Architecture derives from the code: the diagram's
// Graphviz source and the generated regions of architecture.md.
type ArchitectureDoc struct {
	Dot     string
	Regions map[string]string
}

// commandStage says in which package's box of the diagram each command is
// drawn: the package that does its work (a test checks that the command's
// file imports it). A command missing here (a new one) is drawn in the most
// specific package its file imports (stagePriority).
var commandStage = map[string]string{
	"generate": "olist", "ingest": "ingest", "query": "engine", "tables": "lake", "demo": "pipeline",
	"transform": "transform", "run": "pipeline", "lineage": "transform", "check": "quality", "quarantine": "quality",
	"report": "outputs", "serve": "server", "analyze": "analytics", "snapshots": "lake", "rollback": "lake",
	"doctor": "pipeline", "scheduler": "schedule", "runs": "schedule/runstore", "trigger": "schedule",
	"backfill": "schedule", "export": "schedule", "stream": "stream", "catalog": "catalog",
}

// stagePriority orders packages from the most specific to the most general,
// for commands commandStage does not place.
var stagePriority = []string{"stream", "schedule", "schedule/runstore", "catalog", "server", "analytics", "report", "outputs",
	"quality", "transform", "ingest", "olist", "pipeline", "lake", "engine"}

// StageOf is the package a command is drawn in.
func StageOf(c Command) string {
	if s, ok := commandStage[c.Name]; ok {
		return s
	}
	for _, p := range stagePriority {
		if slices.Contains(c.Packages, p) {
			return p
		}
	}
	return "pipeline"
}

// flow is an edge of the diagram between two of its nodes: packages by
// their path, the other nodes by their id.
type flow struct {
	from, to, label string
	style           string // "" solid (data), "dashed" (control), "dotted" (reads)
}

// flows are how data and control move through the system. The nodes they
// name must exist (a test): packages are checked against the code.
var flows = []flow{
	{"csv", "olist", "", "dotted"},
	{"csv", "ingest", "9 files", ""},
	{"landing", "ingest", "one batch per dt= folder", ""},
	{"events", "stream", "gRPC", ""},
	{"stream", "kafka", "produce / consume", ""},
	{"stream", "bronze", "micro-batch + offsets,\none commit", ""},
	{"ingest", "bronze", "typed Parquet", ""},
	{"ingest", "quarantine", "malformed records", ""},
	{"bronze", "transform", "", ""},
	{"transform", "silver", "", ""},
	{"transform", "gold", "", ""},
	{"transform", "quality", "each model through its gate", "dashed"},
	{"quality", "quarantine", "rows failing a rule", ""},
	{"pipeline", "ingest", "runs", "dashed"},
	{"pipeline", "transform", "runs", "dashed"},
	{"schedule", "pipeline", "daily cycle, retries, alerts", "dashed"},
	{"gold", "analytics", "", ""},
	{"analytics", "server", "", ""},
	{"analytics", "report", "", ""},
	{"outputs", "report", "", "dashed"},
	{"server", "browser", "HTTP JSON + pages", ""},
	{"report", "files", "", ""},
	{"engine", "meta", "views over the files\nof one snapshot", "dotted"},
	{"lake", "meta", "atomic commit, lock", "dashed"},
	{"meta", "s3", "same layout;\ncommit = conditional PUT", "dotted"},
	{"catalog", "glue", "catalog sync", ""},
	{"glue", "athena", "", ""},
	{"athena", "s3", "reads Parquet", "dotted"},
	{"schedule", "host", "", "dotted"},
}

// extraNodes are the nodes of the diagram that are not packages or layers.
var extraNodes = map[string]string{
	"csv":     "Olist CSV files\n(real, or nexus generate)",
	"landing": "landing zone\ndt=YYYY-MM-DD/ folders",
	"events":  "order events\n(gRPC clients, nexus stream load)",
	"browser": "browser:\ndashboard, Runs page",
	"files":   "HTML + PDF files:\nquality report, charts, deck",
	"kafka":   "Kafka topic\n(embedded broker, or MSK)",
	"s3":      "S3 bucket\ns3://bucket/prefix",
	"glue":    "Glue Data Catalog",
	"athena":  "Athena / Trino",
	"host":    "a host or container:\nsystemd unit, /metrics, alerts",
}

// Architecture derives the diagram and the generated regions of
// architecture.md from the code under root and the model graph g.
func Architecture(root string, g *transform.Graph) (*ArchitectureDoc, error) {
	cmds, err := Commands(root)
	if err != nil {
		return nil, err
	}
	pkgs, err := Packages(root)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{"bronze": true, "silver": true, "gold": true, "quarantine": true, "meta": true}
	for id := range extraNodes {
		known[id] = true
	}
	for _, p := range pkgs {
		known[p.Path] = true
	}
	for _, f := range flows {
		for _, n := range []string{f.from, f.to} {
			if !known[n] {
				return nil, fmt.Errorf("docgen: the diagram's flow %s -> %s names %s, which is no package cmd/nexus reaches nor a node of the diagram", f.from, f.to, n)
			}
		}
	}
	for _, c := range cmds {
		if !known[StageOf(c)] {
			return nil, fmt.Errorf("docgen: command %s is drawn in package %s, which cmd/nexus does not reach", c.Name, StageOf(c))
		}
	}
	dot := diagram(cmds, pkgs, g)
	regions := map[string]string{
		"commands": commandsTable(cmds),
		"packages": packagesTable(pkgs),
		"models":   modelsMermaid(g),
		"layout":   layoutText(g),
	}
	return &ArchitectureDoc{Dot: dot, Regions: regions}, nil
}

// dotHashPrefix starts the comment that carries the hash of the diagram's
// source; dot copies it into the SVG, so a test can tell that the committed
// SVG was drawn from the committed source.
const dotHashPrefix = "source sha256 "

// DotHash is the hash a diagram's source carries, of everything but the
// line that carries it.
func DotHash(dot string) string {
	var kept []string
	for _, l := range strings.Split(dot, "\n") {
		if !strings.Contains(l, dotHashPrefix) {
			kept = append(kept, l)
		}
	}
	sum := sha256.Sum256([]byte(strings.Join(kept, "\n")))
	return hex.EncodeToString(sum[:8])
}

func diagram(cmds []Command, pkgs []Package, g *transform.Graph) string {
	var b strings.Builder
	b.WriteString("// Generated by internal/docgen (go run ./internal/docgen/cmd/docgen -dir docs); do not edit.\n")
	b.WriteString("digraph nexus {\n")
	b.WriteString("  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=12, nodesep=0.25, ranksep=0.6, newrank=true, labelloc=t,\n")
	b.WriteString("         label=<<B>Keystone Nexus</B>: one binary (nexus), its packages and commands, the lake, and the AWS path>];\n")
	b.WriteString("  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", fontname=\"Helvetica\", fontsize=10];\n")
	b.WriteString("  edge [fontname=\"Helvetica\", fontsize=9, color=\"#555555\", fontcolor=\"#333333\"];\n")
	b.WriteString("  HASH\n")

	byStage := map[string][]string{}
	for _, c := range cmds {
		byStage[StageOf(c)] = append(byStage[StageOf(c)], c.Name)
	}
	b.WriteString("\n  subgraph cluster_sources {\n    label=\"sources\"; style=dashed; color=\"#999999\";\n")
	for _, id := range []string{"csv", "landing", "events"} {
		fmt.Fprintf(&b, "    %s [label=%q, fillcolor=\"#f4f4f4\"];\n", id, extraNodes[id])
	}
	b.WriteString("  }\n")

	b.WriteString("\n  subgraph cluster_binary {\n    label=\"nexus: internal/<package> [commands]\"; style=\"rounded\"; color=\"#4a6fa5\";\n")
	for _, p := range pkgs {
		fmt.Fprintf(&b, "    %s [label=<%s>, fillcolor=%q];\n", nodeID(p.Path), packageLabel(p, byStage[p.Path]), packageColor(p.Path, byStage[p.Path]))
	}
	b.WriteString("  }\n")

	b.WriteString("\n  subgraph cluster_lake {\n    label=\"the lake: ./lake or s3://bucket/prefix\"; style=\"rounded\"; color=\"#8a6d3b\";\n")
	for _, layer := range []string{lake.Bronze, lake.Silver, lake.Gold} {
		fmt.Fprintf(&b, "    %s [shape=plain, label=<%s>];\n", layer, layerLabel(layer, g))
	}
	fmt.Fprintf(&b, "    quarantine [shape=plain, label=<%s>];\n", quarantineLabel(g))
	fmt.Fprintf(&b, "    meta [shape=plain, label=<%s>];\n", metaLabel())
	b.WriteString("  }\n")

	b.WriteString("\n  subgraph cluster_aws {\n    label=\"the AWS path\"; style=\"rounded\"; color=\"#d08700\";\n")
	for _, id := range []string{"s3", "glue", "athena", "kafka", "host"} {
		fmt.Fprintf(&b, "    %s [label=%q, fillcolor=\"#fff4e0\"];\n", id, extraNodes[id])
	}
	b.WriteString("  }\n")

	b.WriteString("\n  subgraph cluster_users {\n    label=\"people\"; style=dashed; color=\"#999999\";\n")
	for _, id := range []string{"browser", "files"} {
		fmt.Fprintf(&b, "    %s [label=%q, fillcolor=\"#f4f4f4\"];\n", id, extraNodes[id])
	}
	b.WriteString("  }\n\n")
	for _, f := range flows {
		attrs := []string{}
		if f.label != "" {
			attrs = append(attrs, fmt.Sprintf("label=%q", f.label))
		}
		if f.style != "" {
			attrs = append(attrs, "style="+f.style)
		}
		if f.style == "dotted" {
			attrs = append(attrs, "arrowhead=vee")
		}
		fmt.Fprintf(&b, "  %s -> %s", nodeID(f.from), nodeID(f.to))
		if len(attrs) > 0 {
			b.WriteString(" [" + strings.Join(attrs, ", ") + "]")
		}
		b.WriteString(";\n")
	}
	b.WriteString("  bronze -> silver [style=invis];\n  silver -> gold [style=invis];\n")
	b.WriteString("}\n")
	out := b.String()
	hash := DotHash(strings.Replace(out, "  HASH\n", "", 1))
	return strings.Replace(out, "  HASH\n", fmt.Sprintf("  comment=%q;\n", dotHashPrefix+hash), 1)
}

func nodeID(s string) string { return strings.ReplaceAll(s, "/", "_") }

// packageColor: packages with commands stand out.
func packageColor(path string, cmds []string) string {
	if len(cmds) > 0 {
		return "#e8f0fb"
	}
	return "#ffffff"
}

// packageLabel: the path, a short role, and the commands drawn in it.
func packageLabel(p Package, cmds []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<B>%s</B>", html.EscapeString(p.Path))
	for _, l := range wrap(shortRole(p.Doc), 34) {
		fmt.Fprintf(&b, "<BR/><FONT POINT-SIZE=\"8\">%s</FONT>", html.EscapeString(l))
	}
	if len(cmds) > 0 {
		slices.Sort(cmds)
		for _, l := range wrap(strings.Join(cmds, " "), 30) {
			fmt.Fprintf(&b, "<BR/><FONT FACE=\"Courier\" COLOR=\"#1f4e8c\">%s</FONT>", html.EscapeString(l))
		}
	}
	return b.String()
}

// shortRole is a package doc cut to its main clause.
func shortRole(doc string) string {
	for _, sep := range []string{": ", " — ", " with ", ", ", " (", "; "} {
		if i := strings.Index(doc, sep); i > 0 {
			doc = doc[:i]
		}
	}
	return doc
}

func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = w
			continue
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

var layerColors = map[string]string{lake.Bronze: "#e9d3b8", lake.Silver: "#e3e6ea", lake.Gold: "#f6e3a1"}

// layerLabel lists the tables of a layer: Bronze the sources, Silver and
// Gold the models, each with its partitioning and incremental rule.
func layerLabel(layer string, g *transform.Graph) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<TABLE BORDER=\"0\" CELLBORDER=\"1\" CELLSPACING=\"0\" CELLPADDING=\"3\" BGCOLOR=\"#ffffff\"><TR><TD BGCOLOR=%q><B>%s/</B></TD></TR>", layerColors[layer], layer)
	if layer == lake.Bronze {
		for _, s := range g.Sources {
			fmt.Fprintf(&b, "<TR><TD ALIGN=\"LEFT\"><FONT POINT-SIZE=\"9\">%s</FONT></TD></TR>", strings.TrimPrefix(s, "bronze."))
		}
	}
	for _, name := range sortedModels(g) {
		m := g.Models[name]
		if m.Layer != layer {
			continue
		}
		var notes []string
		if m.PartitionBy != "" {
			notes = append(notes, "year=/month=")
		}
		if m.Incremental != "" {
			notes = append(notes, "incr. "+m.Incremental)
		}
		note := ""
		if len(notes) > 0 {
			note = " <FONT POINT-SIZE=\"7\" COLOR=\"#666666\">" + strings.Join(notes, ", ") + "</FONT>"
		}
		fmt.Fprintf(&b, "<TR><TD ALIGN=\"LEFT\"><FONT POINT-SIZE=\"9\">%s</FONT>%s</TD></TR>", m.Table, note)
	}
	b.WriteString("</TABLE>")
	return b.String()
}

func quarantineLabel(g *transform.Graph) string {
	return fmt.Sprintf("<TABLE BORDER=\"0\" CELLBORDER=\"1\" CELLSPACING=\"0\" CELLPADDING=\"3\" BGCOLOR=\"#ffffff\"><TR><TD BGCOLOR=\"#f2c4c4\"><B>quarantine/</B></TD></TR>"+
		"<TR><TD ALIGN=\"LEFT\"><FONT POINT-SIZE=\"9\">bronze_&lt;table&gt; (%d): malformed records</FONT></TD></TR>"+
		"<TR><TD ALIGN=\"LEFT\"><FONT POINT-SIZE=\"9\">&lt;layer&gt;_&lt;table&gt;: rows a gate took out,<BR/>with check_id and reason</FONT></TD></TR></TABLE>", len(g.Sources))
}

func metaLabel() string {
	rows := []string{
		"CURRENT → snapshots/&lt;id&gt;.json",
		"manifests/&lt;layer&gt;.&lt;table&gt;/v&lt;N&gt;-&lt;run&gt;.json",
		"lock, commit.lock (one writer)",
		"runs/&lt;run&gt;.json, runs.db (scheduler)",
		"reports/ (HTML, charts, deck)",
	}
	var b strings.Builder
	b.WriteString("<TABLE BORDER=\"0\" CELLBORDER=\"1\" CELLSPACING=\"0\" CELLPADDING=\"3\" BGCOLOR=\"#ffffff\"><TR><TD BGCOLOR=\"#d9e7d3\"><B>_nexus/</B></TD></TR>")
	for _, r := range rows {
		fmt.Fprintf(&b, "<TR><TD ALIGN=\"LEFT\"><FONT POINT-SIZE=\"9\">%s</FONT></TD></TR>", r)
	}
	b.WriteString("</TABLE>")
	return b.String()
}

func commandsTable(cmds []Command) string {
	var b strings.Builder
	b.WriteString("| command | what it does | drawn in | packages its file uses |\n|---|---|---|---|\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "| `nexus %s` | %s | `%s` | %s |\n", c.Name, cell(c.Short), StageOf(c), strings.Join(codes(c.Packages), ", "))
	}
	return b.String()
}

func packagesTable(pkgs []Package) string {
	var b strings.Builder
	b.WriteString("| package | what it owns | imports |\n|---|---|---|\n")
	for _, p := range pkgs {
		fmt.Fprintf(&b, "| `internal/%s` | %s | %s |\n", p.Path, cell(p.Doc), strings.Join(codes(p.Imports), ", "))
	}
	return b.String()
}

func modelsMermaid(g *transform.Graph) string {
	var b strings.Builder
	b.WriteString("```mermaid\n")
	if err := (&transform.Lineage{Graph: g}).WriteGraph(&b, "mermaid", ""); err != nil {
		// WriteGraph fails only on an unknown format or focus.
		panic(err)
	}
	b.WriteString("```\n")
	return b.String()
}

// layoutText lists the model tables with their folders in the lake.
func layoutText(g *transform.Graph) string {
	var b strings.Builder
	b.WriteString("```\nlake/\n")
	fmt.Fprintf(&b, "%-62s %s\n", "  bronze/<table>/v<N>-<run>/[batch=YYYY-MM-DD/]part-*.parquet", fmt.Sprintf("%d tables, one per source file", len(g.Sources)))
	for _, layer := range []string{lake.Silver, lake.Gold} {
		for _, name := range sortedModels(g) {
			m := g.Models[name]
			if m.Layer != layer {
				continue
			}
			dir := fmt.Sprintf("  %s/%s/v<N>-<run>/", m.Layer, m.Table)
			if m.PartitionBy != "" {
				dir += "year=YYYY/month=M/"
			}
			dir += "part-*.parquet"
			note := ""
			if m.Incremental != "" {
				note = "incremental by " + m.Incremental
			}
			b.WriteString(strings.TrimRight(fmt.Sprintf("%-62s %s", dir, note), " ") + "\n")
		}
	}
	b.WriteString("  quarantine/<layer>_<table>/v<N>-<run>/part-*.parquet\n")
	b.WriteString("  _nexus/CURRENT  snapshots/  manifests/  runs/  runs.db  lock  commit.lock  staging  reports/  tmp/\n```\n")
	return b.String()
}

// regionPattern matches a generated region of a hand-written document.
var regionPattern = regexp.MustCompile(`(?s)<!-- generated:([a-z-]+) -->\n.*?<!-- /generated:([a-z-]+) -->`)

// FillRegions replaces the generated regions of doc (between
// "<!-- generated:NAME -->" and "<!-- /generated:NAME -->") with regions'
// texts. Every region must be in doc once, and doc must have no other.
func FillRegions(doc string, regions map[string]string) (string, error) {
	seen := map[string]int{}
	var errs []string
	out := regionPattern.ReplaceAllStringFunc(doc, func(m string) string {
		sub := regionPattern.FindStringSubmatch(m)
		name := sub[1]
		if sub[2] != name {
			errs = append(errs, fmt.Sprintf("region %s ends with /generated:%s", name, sub[2]))
			return m
		}
		seen[name]++
		text, ok := regions[name]
		if !ok {
			errs = append(errs, fmt.Sprintf("no generated region is called %s", name))
			return m
		}
		return "<!-- generated:" + name + " -->\n" + text + "<!-- /generated:" + name + " -->"
	})
	for name := range regions {
		if seen[name] != 1 {
			errs = append(errs, fmt.Sprintf("region %s appears %d times (want once: <!-- generated:%s --> … <!-- /generated:%s -->)", name, seen[name], name, name))
		}
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		return "", fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return out, nil
}
