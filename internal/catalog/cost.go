package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/keystone/nexus/internal/analytics"
	"github.com/keystone/nexus/internal/lake"
)

// List prices of the services the lake uses on AWS: us-east-1, on-demand,
// as AWS publishes them (Athena's are in estimate.go).
const (
	// https://aws.amazon.com/s3/pricing/: S3 Standard, first 50 TB a month.
	S3USDPerGBMonth = 0.023
	// https://aws.amazon.com/s3/pricing/: PUT, COPY, POST, LIST requests.
	S3USDPer1000Writes = 0.005
	// https://aws.amazon.com/s3/pricing/: GET, SELECT and all other requests (HEAD).
	S3USDPer1000Reads = 0.0004
	// https://aws.amazon.com/glue/pricing/: Data Catalog requests, the
	// first million a month free.
	GlueUSDPerMillionRequests = 1.0
	GlueFreeRequests          = 1_000_000
	// https://aws.amazon.com/glue/pricing/: Data Catalog storage, the first
	// million objects (databases, tables, table versions, partitions) free.
	GlueUSDPer100kObjects = 1.0
	GlueFreeObjects       = 1_000_000
)

// DaysPerMonth: a month of the bill.
const DaysPerMonth = 30

// Stated defaults of the usage the bill prices (flags of `nexus catalog
// cost`; the deck uses them as they are).
const (
	DefaultDashboardViewsPerDay = 100
	DefaultAnalystQueriesPerDay = 100
	DefaultReaderHosts          = 1
	DefaultRunsPerMonth         = DaysPerMonth // daily: the default schedule
)

// Usage is what the bill assumes about how the lake is used.
type Usage struct {
	// DashboardViewsPerDay: each view runs every statement of the
	// dashboard's analyses (default view, no filter) on Athena.
	DashboardViewsPerDay float64 `json:"dashboard_views_per_day"`
	// AnalystQueriesPerDay: ad hoc queries on Athena, each priced as the
	// average dashboard statement.
	AnalystQueriesPerDay float64 `json:"analyst_queries_per_day"`
	// RunsPerMonth: scheduled runs, each committing what the lake's last
	// commit did.
	RunsPerMonth float64 `json:"runs_per_month"`
	// RunsFrom says where RunsPerMonth comes from (the schedule's cron).
	RunsFrom string `json:"runs_from"`
	// ReaderHosts: machines that mirror the lake (the dashboard's server);
	// each fetches every run's new files once.
	ReaderHosts float64 `json:"reader_hosts"`
}

// DefaultUsage is the usage the deck prices, and the command's defaults.
func DefaultUsage() Usage {
	return Usage{DashboardViewsPerDay: DefaultDashboardViewsPerDay, AnalystQueriesPerDay: DefaultAnalystQueriesPerDay,
		RunsPerMonth: DefaultRunsPerMonth, RunsFrom: "daily (the default schedule)", ReaderHosts: DefaultReaderHosts}
}

// QueryScan is one statement of the dashboard, measured: what Estimate says
// Athena scans for it, and the objects it reads.
type QueryScan struct {
	Analysis string `json:"analysis"`
	SQL      string `json:"sql"`
	Bytes    int64  `json:"bytes"`  // Estimate's bytes scanned
	Tables   int    `json:"tables"` // distinct tables read (a Glue GetTable each)
	Files    int    `json:"files"`  // data files read
	// Symlinks are the symlink manifests of the tables read: Athena lists
	// each prefix and reads each manifest.
	Symlinks int `json:"symlinks"`
}

// Footprint is what the bill is computed from, measured on the lake.
type Footprint struct {
	Lake     string `json:"lake"`
	Snapshot int64  `json:"snapshot"`
	Tables   int    `json:"tables"`
	// The current snapshot's data files, and the files only older kept
	// snapshots list.
	Files     int   `json:"files"`
	Bytes     int64 `json:"bytes"`
	GoldBytes int64 `json:"gold_bytes"`
	KeptFiles int   `json:"kept_files"`
	KeptBytes int64 `json:"kept_bytes"`
	// KeptSnapshots: snapshots kept besides the current one; -1 when the
	// lake's handle cannot see them (the mirror of a lake on S3).
	KeptSnapshots int `json:"kept_snapshots"`
	// What one run writes: the last commit's changed tables, their new data
	// files (not the ones a version carries from earlier ones) and symlink
	// manifests.
	RunCommit   int64           `json:"run_commit"`
	RunKind     lake.CommitKind `json:"run_kind"`
	RunChanged  int             `json:"run_changed"`
	RunFiles    int             `json:"run_files"`
	RunBytes    int64           `json:"run_bytes"`
	RunSymlinks int             `json:"run_symlinks"`
	// RunRecords: the run records a mirror's pull copies.
	RunRecords int `json:"run_records"`
	// What the vacuum after each commit reads: the manifests the kept
	// snapshots list, and the pages of its listings of the data, manifest
	// and symlink prefixes (1,000 keys a page).
	KeptManifests int `json:"kept_manifests"`
	ListPages     int `json:"list_pages"`
	// Queries: every statement the dashboard's default view runs.
	Queries []QueryScan `json:"queries"`
}

// lastRun is the newest snapshot a run committed, and the lake at it: a
// schedule's runs write what a run writes, not what a rollback or a repair
// did (a rollback writes no data file). The current snapshot when none is
// of a run.
func lastRun(ctx context.Context, lk *lake.Lake) (*lake.Snapshot, *lake.Lake, error) {
	cur := lk.Snapshot()
	if cur == nil || cur.Kind == lake.CommitRun || cur.Kind == "" {
		return cur, lk, nil
	}
	// Back along the parents: the snapshots that were current before it.
	for s := cur; s.Parent > 0 && s.Parent < s.ID; {
		p, err := lk.ReadSnapshot(s.Parent)
		if err != nil {
			break // retention took it: the current snapshot stands for a run
		}
		if p.Kind == lake.CommitRun || p.Kind == "" {
			at, err := lk.At(ctx, p.ID)
			if err != nil {
				break
			}
			return p, at, nil
		}
		s = p
	}
	return cur, lk, nil
}

// Measure reads what the bill needs from the lake and, through db (a
// session with the lake's views), the statements of the dashboard's
// analyses, each estimated as Athena would scan it. It writes nothing.
func Measure(ctx context.Context, db *sql.DB, lk *lake.Lake, tables []*lake.Manifest) (*Footprint, error) {
	fp := &Footprint{Lake: lk.Location(), Snapshot: lk.SnapshotID(), Tables: len(tables), KeptSnapshots: -1}
	byName := map[string]*lake.Manifest{}
	st := newStored()
	for _, m := range tables {
		byName[m.Name()] = m
		for _, f := range st.add(m) {
			fp.Files++
			fp.Bytes += f.Bytes
			if m.Layer == lake.Gold {
				fp.GoldBytes += f.Bytes
			}
		}
	}
	if err := fp.measureKept(lk, st); err != nil {
		return nil, err
	}
	fp.KeptManifests, fp.ListPages = len(st.manifests), st.listPages()
	snap, at, err := lastRun(ctx, lk)
	if err != nil {
		return nil, err
	}
	if snap != nil {
		fp.RunCommit, fp.RunKind = snap.ID, snap.Kind
		for _, name := range snap.Changed {
			m := byName[name]
			if at != lk {
				layer, table, _ := strings.Cut(name, ".")
				if m, err = at.Manifest(layer, table); err != nil {
					continue // a table that version no longer has, or a damaged one
				}
			}
			if m == nil {
				continue
			}
			fp.RunChanged++
			for _, f := range m.Files {
				if f.VersionDir() == m.Dir {
					fp.RunFiles++
					fp.RunBytes += f.Bytes
				}
			}
			fp.RunSymlinks += symlinks(m)
		}
	}
	runs, err := os.ReadDir(lk.MetaDir("runs"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("cost: run records: %w", err)
	}
	for _, e := range runs {
		if strings.HasSuffix(e.Name(), ".json") && !strings.HasPrefix(e.Name(), ".") {
			fp.RunRecords++
		}
	}
	stmts, err := analytics.Statements(ctx, db, analytics.Filter{}, analytics.InDashboard)
	if err != nil {
		return nil, fmt.Errorf("cost: the dashboard's statements: %w", err)
	}
	cols := footers{}
	for _, s := range stmts {
		if len(s.Args) > 0 {
			return nil, fmt.Errorf("cost: %s: a statement with parameters cannot be estimated", s.Analysis)
		}
		est, err := estimate(ctx, db, lk, tables, s.SQL, cols)
		if err != nil {
			return nil, fmt.Errorf("cost: %s: %w", s.Analysis, err)
		}
		q := QueryScan{Analysis: s.Analysis, SQL: s.SQL, Bytes: est.Bytes}
		seen := map[string]bool{}
		for _, sc := range est.Scans {
			q.Files += sc.Files
			if !seen[sc.Table] {
				seen[sc.Table] = true
				q.Tables++
				if m := byName[sc.Table]; m != nil {
					q.Symlinks += symlinks(m)
				}
			}
		}
		fp.Queries = append(fp.Queries, q)
	}
	return fp, nil
}

// symlinks counts a table version's symlink manifests (one per partition
// directory): the objects a commit writes for Athena, and Athena reads.
// Only their number counts here, not the location they name.
func symlinks(m *lake.Manifest) int {
	return len(lake.AthenaManifests(m, "s3://bucket"))
}

// stored is what the lake's kept snapshots hold in the store: data files
// by path, manifests by table version, objects under each prefix.
type stored struct {
	files     map[string]bool
	manifests map[string]bool
	prefixes  map[string]int
}

func newStored() *stored {
	return &stored{files: map[string]bool{}, manifests: map[string]bool{}, prefixes: map[string]int{}}
}

// add counts m and its files; it returns the files it had not counted.
func (st *stored) add(m *lake.Manifest) []lake.File {
	if key := fmt.Sprintf("%s@%d", m.Name(), m.Version); !st.manifests[key] {
		st.manifests[key] = true
		st.prefixes["manifests"]++
		st.prefixes["athena"] += symlinks(m)
	}
	var out []lake.File
	for _, f := range m.Files {
		if !st.files[f.Path] {
			st.files[f.Path] = true
			st.prefixes[m.Layer]++
			out = append(out, f)
		}
	}
	return out
}

// listPages are the LIST requests of a listing of every prefix a vacuum
// lists (the layers, the manifests, the symlink manifests).
func (st *stored) listPages() int {
	n := 0
	for _, p := range append(lake.Layers(), "manifests", "athena") {
		n += max(1, (st.prefixes[p]+listPage-1)/listPage)
	}
	return n
}

// listPage: S3 lists at most 1,000 keys per request.
const listPage = 1000

// measureKept adds what snapshots other than the current one keep (their
// data files the current one does not list, and their manifests).
func (fp *Footprint) measureKept(lk *lake.Lake, st *stored) error {
	if lk.Location() != lk.Root {
		return nil // a mirror holds the current snapshot only
	}
	ids, err := lk.SnapshotIDs()
	if err != nil {
		return fmt.Errorf("cost: %w", err)
	}
	fp.KeptSnapshots = 0
	for _, id := range ids {
		if id == fp.Snapshot {
			continue
		}
		fp.KeptSnapshots++
		s, err := lk.ReadSnapshot(id)
		if err != nil {
			return fmt.Errorf("cost: %w", err)
		}
		for name, ref := range s.Tables {
			layer, table, _ := strings.Cut(name, ".")
			m, err := lk.ManifestAt(layer, table, ref.Version)
			if err != nil {
				return fmt.Errorf("cost: snapshot %d: %w", id, err)
			}
			for _, f := range st.add(m) {
				fp.KeptFiles++
				fp.KeptBytes += f.Bytes
			}
		}
	}
	return nil
}

// Line is one line of the monthly bill: Quantity of Unit, Free of which
// are free, the rest at Price per Per units.
type Line struct {
	Service  string  `json:"service"`
	Item     string  `json:"item"`
	Quantity float64 `json:"quantity"`
	Unit     string  `json:"unit"`
	Free     float64 `json:"free,omitempty"`
	Price    float64 `json:"price_usd"`
	Per      float64 `json:"per"`
	USD      float64 `json:"usd"`
	How      string  `json:"how"` // how the quantity was obtained
}

func (l Line) priced() Line {
	l.USD = max(0, l.Quantity-l.Free) / l.Per * l.Price
	return l
}

// Bill is a month of the lake on AWS.
type Bill struct {
	Lake     string  `json:"lake"`
	Snapshot int64   `json:"snapshot"`
	Scale    float64 `json:"scale"` // data size as a multiple of the lake's
	Usage    Usage   `json:"usage"`
	Lines    []Line  `json:"lines"`
	USD      float64 `json:"usd"`
	// Per dashboard view and per Athena query (the analysts' average),
	// billed bytes.
	ViewBilled       int64    `json:"view_billed_bytes"`
	QueryBilled      int64    `json:"query_billed_bytes"`
	QueriesPerDay    float64  `json:"athena_queries_per_day"`
	Assumptions      []string `json:"assumptions"`
	StatementsByView int      `json:"statements_per_view"`
}

// Line returns the bill's line of a service's item (zero when none).
func (b *Bill) Line(service, item string) Line {
	for _, l := range b.Lines {
		if l.Service == service && l.Item == item {
			return l
		}
	}
	return Line{}
}

// Items of the bill.
const (
	ItemStorage  = "storage"
	ItemWrites   = "PUT, COPY, POST, LIST requests"
	ItemReads    = "GET and other requests"
	ItemScans    = "data scanned"
	ItemRequests = "requests"
	ItemObjects  = "objects stored"
)

// Bill prices a month of the lake at scale times its measured size (1:
// as it is; the deck's scenarios scale it) for usage u. Bytes scale; counts
// of files, tables and requests do not (a table's files grow, not
// multiply, up to the writer's file size).
func (fp *Footprint) Bill(u Usage, scale float64) Bill {
	b := Bill{Lake: fp.Lake, Snapshot: fp.Snapshot, Scale: scale, Usage: u, StatementsByView: len(fp.Queries)}
	views := u.DashboardViewsPerDay * DaysPerMonth
	adhoc := u.AnalystQueriesPerDay * DaysPerMonth
	runs := u.RunsPerMonth
	n := float64(len(fp.Queries))

	// Per view: the sum over the dashboard's statements; an analyst's
	// query: their average.
	var viewBilled int64
	var viewWrites, viewReads, viewGlue float64
	for _, q := range fp.Queries {
		viewBilled += AthenaBilled(float64(q.Bytes) * scale)
		// Athena lists each symlink prefix and writes the result and
		// its metadata; it reads each symlink manifest, and each data
		// file's footer, then its column chunks.
		viewWrites += float64(q.Symlinks) + athenaResultObjects
		viewReads += float64(q.Symlinks) + readsPerFile*float64(q.Files)
		viewGlue += float64(q.Tables)
	}
	avg := func(x float64) float64 {
		if n == 0 {
			return 0
		}
		return x / n
	}
	b.ViewBilled = viewBilled
	b.QueryBilled = int64(avg(float64(viewBilled)))
	b.QueriesPerDay = u.DashboardViewsPerDay*n + u.AnalystQueriesPerDay

	storedBytes := float64(fp.Bytes+fp.KeptBytes) * scale
	kept := fmt.Sprintf("%d files only the %d older kept snapshot(s) list (%s)", fp.KeptFiles, fp.KeptSnapshots, DecimalBytes(float64(fp.KeptBytes)*scale))
	if fp.KeptSnapshots < 0 {
		kept = "older kept snapshots not counted (the mirror of a lake on S3 holds the current one)"
	}
	b.Lines = append(b.Lines, Line{Service: "S3", Item: ItemStorage, Quantity: storedBytes / 1e9, Unit: "GB-month",
		Price: S3USDPerGBMonth, Per: 1,
		How: fmt.Sprintf("%d data files of snapshot %d (%s) + %s, from the manifests%s",
			fp.Files, fp.Snapshot, DecimalBytes(float64(fp.Bytes)*scale), kept, scaled(scale))}.priced())

	// A run: the writer uploads the new files, the changed tables'
	// manifests and symlink manifests, the snapshot, the pointer and its
	// run record, and lists the run records (its pull) and snapshots (its
	// commit); a reader host lists the run records. It reads the pointer,
	// the snapshot, every manifest and the run records; a reader host the
	// same but only the changed manifests, and the new files once. The
	// vacuum after the commit reads the pointer, every kept snapshot and
	// their manifests, and lists the snapshots and every prefix.
	snapshots := max(1, fp.KeptSnapshots+1)
	runWrites := float64(fp.RunFiles+fp.RunChanged+fp.RunSymlinks) + commitObjects + 2 + u.ReaderHosts + float64(1+fp.ListPages)
	runReads := float64(2+fp.Tables+fp.RunRecords) + u.ReaderHosts*float64(2+fp.RunChanged+fp.RunFiles+fp.RunRecords) +
		float64(1+snapshots+fp.KeptManifests)
	runHow := fmt.Sprintf("a run (snapshot %d, %s: %d tables changed, %d new files, %d symlink manifests) × %s runs (%s)",
		fp.RunCommit, fp.RunKind, fp.RunChanged, fp.RunFiles, fp.RunSymlinks, num(runs), u.RunsFrom)
	b.Lines = append(b.Lines, Line{Service: "S3", Item: ItemWrites,
		Quantity: runs*runWrites + views*viewWrites + adhoc*avg(viewWrites), Unit: "requests",
		Price: S3USDPer1000Writes, Per: 1000,
		How: fmt.Sprintf("%s writes %s (with its vacuum's %d LIST pages); a dashboard view %s (Athena: a LIST per symlink prefix, %d result objects per query) × %s views; %s analyst queries × %s each (the statements' average)",
			runHow, num(runWrites), 1+fp.ListPages, num(viewWrites), athenaResultObjects, num(views), num(adhoc), num(avg(viewWrites)))}.priced())
	b.Lines = append(b.Lines, Line{Service: "S3", Item: ItemReads,
		Quantity: runs*runReads + views*(viewReads+1) + adhoc*avg(viewReads), Unit: "requests",
		Price: S3USDPer1000Reads, Per: 1000,
		How: fmt.Sprintf("a run reads %s (the writer's pull: pointer, snapshot, %d manifests, %d run records; %s reader host(s): the changed manifests and new files; its vacuum: %d snapshots and their %d manifests); a view %s (the server's HEAD of the pointer; Athena: each symlink manifest, %d GETs per data file) × %s views; %s analyst queries × %s each (the statements' average)",
			num(runReads), fp.Tables, fp.RunRecords, num(u.ReaderHosts), snapshots, fp.KeptManifests, num(viewReads+1), readsPerFile, num(views), num(adhoc), num(avg(viewReads)))}.priced())

	tb := (views*float64(viewBilled) + adhoc*avg(float64(viewBilled))) / 1e12
	b.Lines = append(b.Lines, Line{Service: "Athena", Item: ItemScans, Quantity: tb, Unit: "TB",
		Price: AthenaUSDPerTB, Per: 1,
		How: fmt.Sprintf("%d statements per dashboard view (the registry's analyses, default view), %s billed per view (Estimate of each: columns × files from the Parquet footers, 10 MB minimum each) × %s views; %s analyst queries × %s (the statements' average)%s",
			len(fp.Queries), DecimalBytes(float64(viewBilled)), num(views), num(adhoc), DecimalBytes(avg(float64(viewBilled))), scaled(scale))}.priced())

	runGlue := float64(1 + fp.Tables + fp.RunChanged)
	b.Lines = append(b.Lines, Line{Service: "Glue", Item: ItemRequests,
		Quantity: runs*runGlue + views*viewGlue + adhoc*avg(viewGlue), Unit: "requests", Free: GlueFreeRequests,
		Price: GlueUSDPerMillionRequests, Per: 1e6,
		How: fmt.Sprintf("catalog sync after a run: GetDatabase, %d GetTable, %d UpdateTable × %s runs; Athena: a GetTable per table read, %s per view × %s views; %s analyst queries × %s each (the statements' average)",
			fp.Tables, fp.RunChanged, num(runs), num(viewGlue), num(views), num(adhoc), num(avg(viewGlue)))}.priced())
	b.Lines = append(b.Lines, Line{Service: "Glue", Item: ItemObjects,
		Quantity: float64(1+fp.Tables) + runs*float64(fp.RunChanged), Unit: "objects", Free: GlueFreeObjects,
		Price: GlueUSDPer100kObjects, Per: 1e5,
		How: fmt.Sprintf("1 database + %d tables (projected partitions: none stored) + %d table versions a month (an UpdateTable keeps the old one)",
			fp.Tables, int64(runs)*int64(fp.RunChanged))}.priced())

	for _, l := range b.Lines {
		b.USD += l.USD
	}
	b.Assumptions = []string{
		fmt.Sprintf("%s dashboard views a day, each running the %d statements of the dashboard's analyses (default view) on Athena, with the working set the local server keeps in memory written as subqueries on the lake's tables", num(u.DashboardViewsPerDay), len(fp.Queries)),
		fmt.Sprintf("%s analyst queries a day, each scanning like the average dashboard statement", num(u.AnalystQueriesPerDay)),
		fmt.Sprintf("%s runs a month (%s), each writing what the last commit wrote", num(runs), u.RunsFrom),
		fmt.Sprintf("%s reader host(s) mirror the lake; %d days a month; us-east-1 list prices; data transfer inside the region is free and not counted", num(u.ReaderHosts), DaysPerMonth),
	}
	if scale != 1 {
		b.Assumptions = append(b.Assumptions, fmt.Sprintf("data %s× the lake's: bytes scale, counts of files and requests do not", num(scale)))
	}
	return b
}

// Requests the bill counts per object: Athena writes a query's result and
// its metadata; it reads a Parquet file's footer, then its column chunks;
// a commit writes a snapshot, the pointer and a run record.
const (
	athenaResultObjects = 2
	readsPerFile        = 2
	commitObjects       = 3
)

func scaled(scale float64) string {
	if scale == 1 {
		return ""
	}
	return fmt.Sprintf(", × %s", num(scale))
}

// num writes a count or a rate without needless decimals.
func num(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.2f", v)
}

// DecimalBytes writes a size in decimal units, as AWS bills.
func DecimalBytes(n float64) string {
	switch {
	case n >= 1e12:
		return fmt.Sprintf("%.2f TB", n/1e12)
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", n/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2f MB", n/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", n/1e3)
	}
	return fmt.Sprintf("%.0f B", n)
}
