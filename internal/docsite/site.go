package docsite

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/keystone/nexus/internal/ingest"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/olist"
	"github.com/keystone/nexus/internal/pipeline"
	"github.com/keystone/nexus/internal/quality"
	"github.com/keystone/nexus/internal/transform"
)

// Site is the documentation of one snapshot, ready to render.
type Site struct {
	Lake         string
	Snapshot     int64
	SnapshotTime time.Time
	Generated    time.Time
	Tables       []*Table // layer order, then name
	Layers       []LayerGroup
	Lineage      *Layout // the whole model graph
	Pass, Warn   int
	Fail         int
	VerdictsFrom pipeline.TableSource // the newest run that gave verdicts
	pages        map[string]*Table
}

// LayerGroup is the tables of one layer, for the index.
type LayerGroup struct {
	Layer  string
	Tables []*Table
}

// Table is one table's page.
type Table struct {
	Name, Layer, Short string
	Page               string // file name of its page
	Description        string
	Grain              string
	Key                []string
	Damaged            string
	Version            int64
	Rows, Bytes        int64
	Files              int
	PartitionBy        []string
	Created            time.Time
	RunID              string
	Model              *transform.Model // nil: not built by a model (Bronze, quarantine)
	Columns            []*Column
	Upstream           []Link // tables it reads directly
	Downstream         []Link // tables that read it directly
	UpstreamAll        []Link // transitively, down to Bronze
	DownstreamAll      []Link
	Graph              *Layout // its neighbourhood: everything up- and downstream
	Checks             []*Check
	Pass, Warn, Fail   int
	VerdictsFrom       *pipeline.TableSource
	Freshness          Freshness
	Snapshots          []SnapRow
	Runs               []RunRow
	// QuarantineOf is, on a quarantine table's page, the table whose rows it
	// holds; QuarantinePage is, on that table's page, its quarantine.
	QuarantineOf   *Link
	QuarantinePage *Link
	QuarantineRows int64
	Quarantine     []QuarantineGroup
	schema         map[string]bool // the columns its page lists
}

// Link names a table (or a column of it) and its page; Href is empty when
// the table has no page (a model never built).
type Link struct {
	Name, Href string
}

// Column is one column of a table.
type Column struct {
	Name, Type, Description string
	Examples                []string
	InKey                   bool
	// Lineage: the input columns it is computed from (models only).
	Traced  bool // the model's lineage knows the column
	Direct  bool // a copy (or rename) of one input column
	Sources []Link
}

// Check is one check of the table's suite with its latest verdict.
type Check struct {
	ID, Description string
	Kind            quality.Kind
	Severity        quality.Severity
	OnFail          quality.OnFail
	Where           string // suite file:line
	Verdict         quality.Verdict
	Known           bool // a run gave it a verdict
	RowsChecked     int64
	RowsFailed      int64
	Observed        string
	Blocking        bool
	RunID           string
	Examples        []quality.Example
	Quarantined     *Link // the check's rows in the quarantine table
}

// Freshness says how recent the table is.
type Freshness struct {
	Published   time.Time
	Age         string // at generation
	RunID       string
	InSnapshot  int64  // the oldest retained snapshot with this version
	Newest      string // greatest partition value
	Checks      []*Check
	NotBuiltYet bool
}

// SnapRow is the table in one snapshot.
type SnapRow struct {
	ID               int64
	Time             time.Time
	Kind             lake.CommitKind
	Version          int64
	Rows, Bytes      int64
	Changed, Current bool
}

// RunRow is a run that built (or tried to build) the table.
type RunRow struct {
	RunID            string
	Started          time.Time
	Kind             string
	RunStatus        pipeline.RunStatus
	Step             pipeline.StepStatus
	RowsIn, RowsOut  int64
	Quarantined      int64
	Duration         time.Duration
	Incremental      string
	Error            string
	BuiltThisVersion bool
}

// PageOf is the file name of a table's page.
func PageOf(name string) string { return name + ".html" }

// Inputs is what the site is assembled from besides the lake's facts: the
// model graph with its column lineage, and the quality suites by table.
type Inputs struct {
	Lineage *transform.Lineage
	Suites  map[string]*quality.Suite
}

// maxRuns is the most runs a table page lists.
const maxRuns = 20

// Assemble builds the site from the facts of a snapshot and the models,
// lineage and suites. It reads nothing.
func Assemble(f *Facts, in Inputs) *Site {
	s := &Site{Lake: f.Lake, Generated: f.Generated, pages: map[string]*Table{}}
	if f.Snapshot != nil {
		s.Snapshot, s.SnapshotTime = f.Snapshot.ID, f.Snapshot.CreatedAt
	}
	g := in.Lineage.Graph
	contract := map[string]olist.Table{}
	for _, t := range olist.Tables() {
		contract[lake.Bronze+"."+t.Name] = t
	}
	for _, tf := range f.Tables {
		layer, short, _ := strings.Cut(tf.Name, ".")
		t := &Table{Name: tf.Name, Layer: layer, Short: short, Page: PageOf(tf.Name), Damaged: tf.Damaged, Model: g.Models[tf.Name]}
		if m := tf.Manifest; m != nil {
			t.Description, t.Version, t.Rows, t.Bytes, t.Files = m.Description, m.Version, m.Rows, m.Bytes, len(m.Files)
			t.PartitionBy, t.Created, t.RunID = m.PartitionBy, m.CreatedAt, m.RunID
			t.schema = map[string]bool{}
			for _, c := range m.Schema {
				t.schema[c.Name] = true
			}
		}
		s.Tables = append(s.Tables, t)
		s.pages[t.Name] = t
	}
	sort.SliceStable(s.Tables, func(i, j int) bool {
		a, b := s.Tables[i], s.Tables[j]
		if ra, rb := layerRank(a.Layer), layerRank(b.Layer); ra != rb {
			return ra < rb
		}
		return a.Name < b.Name
	})
	verdicts := pipeline.LatestVerdicts(f.History)
	s.VerdictsFrom = verdicts.Newest()
	from := map[string]pipeline.TableSource{}
	for _, ts := range verdicts.Tables {
		from[ts.Table] = ts
	}
	results := map[string][]quality.Result{}
	for _, r := range verdicts.Results {
		results[r.Table] = append(results[r.Table], r)
	}
	facts := map[string]TableFacts{}
	for _, tf := range f.Tables {
		facts[tf.Name] = tf
	}

	for _, t := range s.Tables {
		tf := facts[t.Name]
		model := t.Model
		// What the table holds and its columns' documentation.
		docs := map[string]string{}
		switch {
		case model != nil:
			if model.Description != "" {
				t.Description = model.Description
			}
			t.Key = model.Key
			for _, c := range model.Columns {
				docs[c.Name] = c.Description
			}
		case t.Layer == lake.Bronze:
			if ct, ok := contract[t.Name]; ok {
				t.Key = ct.Key
				if t.Description == "" {
					t.Description = ct.Doc
				}
				for _, c := range ct.Columns {
					docs[c.Name] = c.Doc
				}
			}
		case t.Layer == lake.Quarantine:
			of := pipeline.ModelOfQuarantine(t.Short)
			l := s.link(of)
			t.QuarantineOf = &l
			if m := g.Models[of]; m != nil {
				for _, c := range m.Columns {
					docs[c.Name] = c.Description
				}
			}
			t.Quarantine = tf.Quarantine
		}
		t.Grain = grain(t)
		lin := map[string]transform.ColumnLineage{}
		if model != nil {
			for _, c := range in.Lineage.Columns[t.Name] {
				lin[c.Column] = c
			}
		}
		if tf.Manifest != nil {
			for _, c := range tf.Manifest.Schema {
				col := &Column{Name: c.Name, Type: c.Type, Description: docs[c.Name], Examples: tf.Examples[c.Name], InKey: slices.Contains(t.Key, c.Name)}
				if col.Description == "" {
					col.Description = systemColumnDoc(c.Name)
				}
				if col.Description == "" && slices.Contains(tf.Manifest.PartitionBy, c.Name) {
					col.Description = "Hive partition column (" + c.Name + "=… directories)"
					if model != nil && model.PartitionBy != "" {
						col.Description += ", derived from " + model.PartitionBy
					}
					col.Description += "."
				}
				if cl, ok := lin[c.Name]; ok {
					col.Traced, col.Direct = true, cl.Direct
					for _, src := range cl.Sources {
						col.Sources = append(col.Sources, s.columnLink(src))
					}
				}
				t.Columns = append(t.Columns, col)
			}
		}
		// Lineage: the model graph's parents and children, direct and all.
		if model != nil || len(g.Children(t.Name)) > 0 {
			for _, p := range g.Parents[t.Name] {
				t.Upstream = append(t.Upstream, s.link(p))
			}
			for _, c := range g.Children(t.Name) {
				t.Downstream = append(t.Downstream, s.link(c))
			}
			for _, p := range g.Upstream(t.Name) {
				t.UpstreamAll = append(t.UpstreamAll, s.link(p))
			}
			for _, c := range g.Downstream(t.Name) {
				t.DownstreamAll = append(t.DownstreamAll, s.link(c))
			}
			keep := append(append([]string{t.Name}, g.Upstream(t.Name)...), g.Downstream(t.Name)...)
			t.Graph = s.layout(g, keep, t.Name)
		}
		if q := s.pages[lake.Quarantine+"."+pipeline.QuarantineTable(t.Name)]; q != nil && t.Layer != lake.Quarantine {
			t.QuarantinePage = &Link{Name: q.Name, Href: q.Page}
			t.QuarantineRows = q.Rows
		}
		if ts, ok := from[t.Name]; ok {
			t.VerdictsFrom = &ts
		}
		s.checks(t, in.Suites[t.Name], results[t.Name], facts)
		s.Pass += t.Pass
		s.Warn += t.Warn
		s.Fail += t.Fail
		t.Freshness = freshness(t, tf, f)
		t.Snapshots = snapRows(t, f)
		t.Runs = runRows(t, f)
	}

	// The index's groups and the whole graph.
	for _, t := range s.Tables {
		if n := len(s.Layers); n == 0 || s.Layers[n-1].Layer != t.Layer {
			s.Layers = append(s.Layers, LayerGroup{Layer: t.Layer})
		}
		s.Layers[len(s.Layers)-1].Tables = append(s.Layers[len(s.Layers)-1].Tables, t)
	}
	var all []string
	for _, t := range s.Tables {
		if t.Layer != lake.Quarantine {
			all = append(all, t.Name)
		}
	}
	for n := range g.Models {
		if s.pages[n] == nil {
			all = append(all, n) // a model not built yet: drawn, without a page
		}
	}
	s.Lineage = s.layout(g, all, "")
	return s
}

// link is a table's link, to its page when it has one.
func (s *Site) link(name string) Link {
	if t := s.pages[name]; t != nil {
		return Link{Name: name, Href: t.Page}
	}
	return Link{Name: name}
}

// columnLink links layer.table.column to the column's row on its table's page.
func (s *Site) columnLink(full string) Link {
	i := strings.LastIndex(full, ".")
	if i < 0 {
		return Link{Name: full}
	}
	l := s.link(full[:i])
	l.Name = full
	if t := s.pages[full[:i]]; t != nil && t.Damaged == "" {
		// Only to a column the page lists: the lake's schema decides.
		if t.schema[full[i+1:]] {
			l.Href = t.Page + "#" + ColumnAnchor(full[i+1:])
		}
	}
	return l
}

// ColumnAnchor is the id of a column's row on its table's page.
func ColumnAnchor(col string) string { return "col-" + col }

// layout lays out the model graph restricted to names.
func (s *Site) layout(g *transform.Graph, names []string, focus string) *Layout {
	keep := map[string]bool{}
	var nodes []Node
	for _, n := range names {
		if keep[n] {
			continue
		}
		keep[n] = true
		layer, _, _ := strings.Cut(n, ".")
		nodes = append(nodes, Node{Name: n, Layer: layer, Href: s.link(n).Href})
	}
	var edges []Edge
	for _, n := range g.Order {
		if !keep[n] {
			continue
		}
		for _, p := range g.Parents[n] {
			if keep[p] {
				edges = append(edges, Edge{From: p, To: n})
			}
		}
	}
	return LayoutGraph(nodes, edges, focus)
}

// grain says what one row of the table is.
func grain(t *Table) string {
	switch {
	case t.Layer == lake.Quarantine && strings.HasPrefix(t.Short, lake.Bronze+"_"):
		return "One row per malformed source record, with where it was and why it was rejected."
	case t.Layer == lake.Quarantine:
		return "One row per row of " + t.QuarantineOf.Name + " taken out of the flow by its quality gate, with every check it failed."
	case t.Layer == lake.Bronze && len(t.Key) > 0:
		return "One row per source record: every version of a row, with the batch it came in (source key: " + strings.Join(t.Key, ", ") + ")."
	case t.Layer == lake.Bronze:
		return "One row per source record (the source has no key)."
	case len(t.Key) > 0:
		return "One row per " + strings.Join(t.Key, " × ") + "."
	}
	return "Not declared (the model's header has no key)."
}

// systemColumnDoc documents the columns the pipeline adds to tables.
func systemColumnDoc(name string) string {
	if d := ingest.ColumnDoc(name); d != "" {
		return d
	}
	if d := transform.QuarantineColumnDoc(name); d != "" {
		return d
	}
	if name == quality.FlagsColumn {
		return quality.FlagsColumnDoc
	}
	return ""
}

// checks lists the suite's checks with their latest verdicts, then any
// verdict of a check the suite no longer has (a damaged table's readable).
func (s *Site) checks(t *Table, suite *quality.Suite, results []quality.Result, facts map[string]TableFacts) {
	byID := map[string]quality.Result{}
	for _, r := range results {
		byID[r.CheckID] = r
	}
	var qfacts TableFacts
	if t.QuarantinePage != nil {
		qfacts = facts[t.QuarantinePage.Name]
	}
	add := func(c *Check) {
		if r, ok := byID[c.ID]; ok {
			c.Known, c.Verdict, c.RowsChecked, c.RowsFailed = true, r.Verdict, r.RowsChecked, r.RowsFailed
			c.Observed, c.Blocking, c.Examples = r.Observed, r.Blocking, r.Examples
			if t.VerdictsFrom != nil {
				c.RunID = t.VerdictsFrom.RunID
			}
			switch r.Verdict {
			case quality.VerdictPass:
				t.Pass++
			case quality.VerdictWarn:
				t.Warn++
			case quality.VerdictFail:
				t.Fail++
			}
			delete(byID, c.ID)
		}
		for _, g := range qfacts.Quarantine {
			if g.Check == c.ID && g.Rows > 0 {
				c.Quarantined = &Link{Name: t.QuarantinePage.Name, Href: t.QuarantinePage.Href + "#" + checkAnchor(c.ID)}
			}
		}
		t.Checks = append(t.Checks, c)
	}
	if suite != nil {
		for _, c := range suite.Checks {
			ch := &Check{ID: c.ID, Kind: c.Kind, Description: c.Description, Severity: c.Severity, Where: c.Pos()}
			if c.RowLevel() {
				ch.OnFail = quality.OnFailQuarantine
				if !c.Quarantine() {
					ch.OnFail = quality.OnFailKeep
				}
			}
			add(ch)
		}
	}
	for _, r := range results {
		if _, left := byID[r.CheckID]; left {
			c := &Check{ID: r.CheckID, Kind: r.Kind, Description: r.Description, Severity: r.Severity, OnFail: r.OnFail}
			if r.File != "" {
				c.Where = fmt.Sprintf("%s:%d", r.File, r.Line)
			}
			add(c)
		}
	}
	// Failures first, then warnings: what a reader looks for.
	sort.SliceStable(t.Checks, func(i, j int) bool { return verdictRank(t.Checks[i]) < verdictRank(t.Checks[j]) })
}

func verdictRank(c *Check) int {
	switch {
	case c.Verdict == quality.VerdictFail:
		return 0
	case c.Verdict == quality.VerdictWarn:
		return 1
	case !c.Known:
		return 3
	}
	return 2
}

// checkAnchor is the id of a check's rows on a quarantine page.
func checkAnchor(id string) string { return "check-" + id }

func freshness(t *Table, tf TableFacts, f *Facts) Freshness {
	fr := Freshness{Published: t.Created, RunID: t.RunID, Newest: tf.Newest, NotBuiltYet: tf.Manifest == nil}
	if !t.Created.IsZero() {
		fr.Age = age(f.Generated.Sub(t.Created))
	}
	for _, s := range f.Snapshots { // newest first: the last match is the oldest
		if ref, ok := s.Tables[t.Name]; ok && ref.Version == t.Version {
			fr.InSnapshot = s.ID
		}
	}
	for _, c := range t.Checks {
		if c.Kind == quality.KindFreshness {
			fr.Checks = append(fr.Checks, c)
		}
	}
	return fr
}

// age is a duration as people say it.
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%.1f h", d.Hours())
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

func snapRows(t *Table, f *Facts) []SnapRow {
	var out []SnapRow
	for _, s := range f.Snapshots {
		ref, ok := s.Tables[t.Name]
		if !ok {
			continue
		}
		out = append(out, SnapRow{ID: s.ID, Time: s.CreatedAt, Kind: s.Kind, Version: ref.Version, Rows: ref.Rows, Bytes: ref.Bytes,
			Changed: slices.Contains(s.Changed, t.Name), Current: f.Snapshot != nil && s.ID == f.Snapshot.ID})
	}
	return out
}

// runRows are the runs whose steps built (or failed to build) the table,
// newest first. A quarantine table is built by its table's step.
func runRows(t *Table, f *Facts) []RunRow {
	step := t.Name
	if t.QuarantineOf != nil {
		step = t.QuarantineOf.Name
	}
	var out []RunRow
	for _, h := range f.History {
		for _, st := range h.Steps {
			if st.Name != step || (st.Status != pipeline.StepBuilt && st.Status != pipeline.StepIngested && st.Status != pipeline.StepFailed) {
				continue
			}
			r := RunRow{RunID: h.RunID, Started: h.Started, Kind: h.Kind, RunStatus: h.Status, Step: st.Status, RowsIn: st.RowsIn, RowsOut: st.RowsOut,
				Quarantined: st.Quarantined, Duration: st.Duration, Error: clipText(st.Error, 300), BuiltThisVersion: h.RunID == t.RunID}
			if st.Incremental != nil {
				r.Incremental = fmt.Sprintf("incremental: %d %s value(s)", st.Incremental.Keys, st.Incremental.Column)
			} else if st.FullReason != "" {
				r.Incremental = "full: " + st.FullReason
			}
			out = append(out, r)
		}
		if len(out) >= maxRuns {
			break
		}
	}
	return out
}
