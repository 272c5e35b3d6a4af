package olist

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// A landing zone: the history of a generated data set as daily drops.
//
// DIR/dt=<the day before DailyFrom>/ is the base batch: everything known
// before DailyFrom. Then DIR/dt=YYYY-MM-DD/ holds what became known on that
// day, for every later day that has something. Each folder holds the Olist
// files under their usual names and formats (a file is absent when the day
// has none of its records) and its own _planted.jsonl; DIR/_generator.json
// describes the whole zone.
//
// When a record became known, in Brazilian local dates:
//   - customers, orders, order_items and order_payments: the order's
//     purchase (a customer on the purchase of its first order);
//   - an order is written again, as a whole row with the same order_id, on
//     every later day one of its timestamps (approval, hand-over to the
//     carrier, delivery) becomes known; see orderEvents for the statuses of
//     these versions. Its last version is the full data set's row, written
//     on the day of its latest event;
//   - order_reviews: the later of review_creation_date and
//     review_answer_timestamp (never before its order);
//   - products and sellers: the first order item that references them;
//   - geolocation, the category translation, and products and sellers no
//     item references: the base batch.
//
// A timestamp is known on its own day or later (see orderEvents), never
// before, so no folder shows an event of a later day. Promised dates
// (Column.Promise: order_estimated_delivery_date, shipping_limit_date) are
// set at purchase and are not events. A record whose day cannot be told (a
// timestamp that does not parse, a wrong field count, a duplicated order_id,
// an order_id no order has) goes to the base batch as written.
//
// Applying the drops in date order gives back the full data set exactly:
// for orders, per order_id the row of the latest folder holding it; for the
// other files, the union of the folders' records. Within a folder, records
// keep the full file's order, and a record is copied byte for byte unless it
// is an earlier version of an order.

// orderEvents are the timestamps of an order's life in their usual order,
// with the status an earlier version of the order has once the timestamp is
// known. A timestamp is known on its own day, or later when an event before
// it in this list is known later: the versions of an order show a prefix of
// its life, and their status is that of the furthest event shown (created,
// approved, shipped, delivered), so it never moves backwards. A planted
// timestamp out of order waits for the events before it: a carrier date
// before the purchase or the approval appears with the approval, a delivery
// before the carrier date with the carrier date. A status no timestamp marks
// (canceled, unavailable, invoiced, processing) only appears in the order's
// last version, the full data set's row, which is also the only one that may
// show a planted "delivered" without a delivery date.
var orderEvents = [...]struct {
	col    string
	status int
}{
	{"order_purchase_timestamp", stCreated},
	{"order_approved_at", stApproved},
	{"order_delivered_carrier_date", stShipped},
	{"order_delivered_customer_date", stDelivered},
}

// Event indexes in orderEvents.
const (
	evPurchase = iota
	evApproved
	evCarrier
	evDelivered
)

// LandingReport describes a generated landing zone.
type LandingReport struct {
	DailyFrom string
	Drops     []Drop    // the base batch first, then the later days in date order
	Final     GenReport // the full data set the drops add up to (not kept: Paths are bare file names)
}

// Drop is one dt= folder of a landing zone.
type Drop struct {
	Dir     string    // folder path
	Date    string    // YYYY-MM-DD
	Base    bool      // the base batch: everything known before DailyFrom
	Files   []GenFile // the files it holds, in contract order
	Planted int64     // lines of its _planted.jsonl
}

// DropDirPrefix starts the name of every folder of a landing zone.
const DropDirPrefix = "dt="

// landingWork names GenerateDaily's temporary folder in the output
// directory (a pattern for os.MkdirTemp and filepath.Glob).
const landingWork = ".landing-*.tmp"

// GenerateDaily writes a landing zone to outDir (see the comment at the top
// of this file): the data set Generate writes for (Seed, Scale), split into
// the base batch before opts.DailyFrom and one folder per later day. The
// output is a pure function of (Seed, Scale, DailyFrom). Everything is
// written in a temporary folder first; the dt= folders are then renamed into
// place in date order and _generator.json last. Files a previous Generate or
// GenerateDaily wrote in outDir are replaced (the caller decides whether
// that is allowed: see InspectOutput).
//
// Each folder's _planted.jsonl lists the planted defects of its records,
// with line numbers in that folder's files (same format as Generate's). An
// entry of the full data set is listed in the folder that holds its record
// (an order's: its last version); an order planted with a timestamp defect
// is also listed at its earlier versions that already show it (a carrier date
// before the purchase shows from the day the approval is known), and one
// planted without items or payments at every version.
func GenerateDaily(ctx context.Context, outDir string, opts GenOptions) (LandingReport, error) {
	from, ok := parseDay(opts.DailyFrom, true)
	if !ok {
		return LandingReport{}, fmt.Errorf("olist: daily-from %q is not a date (YYYY-MM-DD)", opts.DailyFrom)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return LandingReport{}, fmt.Errorf("olist: %w", err)
	}
	stale, err := findStale(outDir, true)
	if err != nil {
		return LandingReport{}, err
	}
	// The work folder of an interrupted run is of no use: a run starts over.
	leftovers, err := filepath.Glob(filepath.Join(outDir, landingWork))
	if err != nil {
		return LandingReport{}, fmt.Errorf("olist: %w", err)
	}
	for _, l := range leftovers {
		if err := os.RemoveAll(l); err != nil {
			return LandingReport{}, fmt.Errorf("olist: remove the leftovers of an interrupted run: %w", err)
		}
	}
	work, err := os.MkdirTemp(outDir, landingWork)
	if err != nil {
		return LandingReport{}, fmt.Errorf("olist: %w", err)
	}
	// What is left of the work folder (the full data set's routed files) is
	// not needed; should removing it fail, the next run removes it.
	defer os.RemoveAll(work)
	full := filepath.Join(work, "full")
	fopts := opts
	fopts.DailyFrom = ""
	final, err := Generate(ctx, full, fopts)
	if err != nil {
		return LandingReport{}, err
	}
	sp := &splitter{src: full, work: work, base: from - 1, final: final, drops: map[int64]*drop{}}
	if err := sp.split(ctx); err != nil {
		return LandingReport{}, fmt.Errorf("olist: daily drops: %w", err)
	}
	rep := LandingReport{DailyFrom: formatDay(from), Final: final}
	for i := range rep.Final.Files {
		rep.Final.Files[i].Path = filepath.Base(rep.Final.Files[i].Path)
	}
	for _, d := range sp.sorted() {
		dr := Drop{Dir: filepath.Join(outDir, d.name), Date: formatDay(d.day), Base: d.day == sp.base, Planted: d.nPlanted}
		for _, f := range d.files {
			if f.Table != "" {
				f.Path = filepath.Join(dr.Dir, filepath.Base(f.Path))
				dr.Files = append(dr.Files, f)
			}
		}
		rep.Drops = append(rep.Drops, dr)
	}
	metaTmp := filepath.Join(work, GeneratorManifestFile)
	if err := writeLandingMeta(metaTmp, opts, rep); err != nil {
		return LandingReport{}, err
	}
	if err := ctx.Err(); err != nil {
		return LandingReport{}, err
	}

	// Publish: the old manifest goes first, so that an interrupted publish
	// is never taken for a complete data set.
	if err := os.Remove(filepath.Join(outDir, GeneratorManifestFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return LandingReport{}, fmt.Errorf("olist: %w", err)
	}
	if err := stale.remove(); err != nil {
		return LandingReport{}, err
	}
	for _, d := range sp.sorted() {
		if err := os.Rename(filepath.Join(work, d.name), filepath.Join(outDir, d.name)); err != nil {
			return LandingReport{}, fmt.Errorf("olist: %w", err)
		}
	}
	if err := os.Rename(metaTmp, filepath.Join(outDir, GeneratorManifestFile)); err != nil {
		return LandingReport{}, fmt.Errorf("olist: %w", err)
	}
	return rep, nil
}

// --- splitting ------------------------------------------------------------------

type splitter struct {
	src, work string
	base      int64 // day of the base folder
	final     GenReport
	drops     map[int64]*drop
	tables    []Table
	planted   map[string]map[int64][]plantedRef // full data set's entries by table and line
	nPlanted  int                               // entries of the full data set
	listed    int                               // of those, listed in a folder

	orderDay  map[string]int64 // order_id -> folder of its first version
	custDay   map[string]int64 // customer_id -> folder of its first order
	prodDay   map[string]int64 // product_id -> folder of its first item
	sellerDay map[string]int64

	ord  orderCols
	fbuf [][]byte // for the routing jobs, which run one at a time
}

type drop struct {
	day      int64
	name     string    // dt=YYYY-MM-DD
	files    []GenFile // by contract table index; Table "" = absent
	planted  [][]byte  // _planted.jsonl lines by contract table index
	nPlanted int64
}

type plantedRef struct {
	key   json.RawMessage
	quirk string
}

// emit places one record in a folder.
type emit struct {
	day int64
	src int32 // record index in the full file
	vis uint8 // orders: the events an earlier version shows (bit = orderEvents index); 0 = the record as written
}

type orderCols struct {
	n              int
	id, cust, stat int
	ev             [len(orderEvents)]int
}

// splitJob routes the records of one file to folders.
type splitJob func(sp *splitter, t Table, sf *scannedFile) ([]emit, error)

// splitJobs in the order they run: an order's day is needed by its
// customer, items, payments and reviews; an item's by its product and seller.
// A nil job puts the whole file in the base batch.
var splitJobs = []struct {
	table string
	job   splitJob
}{
	{"orders", splitOrders},
	{"order_items", splitItems},
	{"customers", splitByKey("customer_id", func(sp *splitter) map[string]int64 { return sp.custDay })},
	{"order_payments", splitByKey("order_id", func(sp *splitter) map[string]int64 { return sp.orderDay })},
	{"order_reviews", splitReviews},
	{"products", splitByKey("product_id", func(sp *splitter) map[string]int64 { return sp.prodDay })},
	{"sellers", splitByKey("seller_id", func(sp *splitter) map[string]int64 { return sp.sellerDay })},
	{"geolocation", nil},
	{"category_translation", nil},
}

func (sp *splitter) split(ctx context.Context) error {
	sp.tables = Tables()
	if len(splitJobs) != len(sp.tables) {
		return fmt.Errorf("%d tables, %d split jobs", len(sp.tables), len(splitJobs))
	}
	sp.orderDay, sp.custDay, sp.prodDay, sp.sellerDay = map[string]int64{}, map[string]int64{}, map[string]int64{}, map[string]int64{}
	if err := sp.readPlanted(); err != nil {
		return err
	}
	base, err := sp.drop(sp.base)
	if err != nil {
		return err
	}
	for _, sj := range splitJobs {
		if err := ctx.Err(); err != nil {
			return err
		}
		ti := slices.IndexFunc(sp.tables, func(t Table) bool { return t.Name == sj.table })
		if ti < 0 {
			return fmt.Errorf("split job for unknown table %q", sj.table)
		}
		t := sp.tables[ti]
		if sj.job == nil {
			if err := sp.moveToBase(base, ti); err != nil {
				return err
			}
			continue
		}
		data, err := os.ReadFile(filepath.Join(sp.src, t.File))
		if err != nil {
			return err
		}
		sf, err := scanCSV(data, t)
		if err != nil {
			return fmt.Errorf("%s: %w", t.File, err)
		}
		emits, err := sj.job(sp, t, sf)
		if err != nil {
			return fmt.Errorf("%s: %w", t.File, err)
		}
		if err := sp.write(ti, sf, emits); err != nil {
			return fmt.Errorf("%s: %w", t.File, err)
		}
	}
	if sp.listed != sp.nPlanted {
		return fmt.Errorf("%d of the %d planted entries point at no record", sp.nPlanted-sp.listed, sp.nPlanted)
	}
	drops := sp.sorted()
	return parallel(len(drops), func(_ *scratch, i int) error {
		d := drops[i]
		return os.WriteFile(filepath.Join(sp.work, d.name, PlantedFile), bytes.Join(d.planted, nil), 0o644)
	})
}

// folder returns the folder of a record known on day: the base batch holds
// everything known before DailyFrom.
func (sp *splitter) folder(day int64) int64 { return max(day, sp.base) }

func (sp *splitter) drop(day int64) (*drop, error) {
	if d, ok := sp.drops[day]; ok {
		return d, nil
	}
	d := &drop{day: day, name: DropDirPrefix + formatDay(day), files: make([]GenFile, len(sp.tables)), planted: make([][]byte, len(sp.tables))}
	if err := os.Mkdir(filepath.Join(sp.work, d.name), 0o755); err != nil {
		return nil, err
	}
	sp.drops[day] = d
	return d, nil
}

func (sp *splitter) sorted() []*drop {
	out := make([]*drop, 0, len(sp.drops))
	for _, d := range sp.drops {
		out = append(out, d)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].day < out[b].day })
	return out
}

func (sp *splitter) readPlanted() error {
	sp.planted = map[string]map[int64][]plantedRef{}
	data, err := os.ReadFile(filepath.Join(sp.src, PlantedFile))
	if err != nil {
		return err
	}
	for n, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var e struct {
			Table string          `json:"table"`
			Key   json.RawMessage `json:"key"`
			Line  int64           `json:"line"`
			Quirk string          `json:"quirk"`
		}
		if err := json.Unmarshal(line, &e); err != nil {
			return fmt.Errorf("%s line %d: %w", PlantedFile, n+1, err)
		}
		m := sp.planted[e.Table]
		if m == nil {
			m = map[int64][]plantedRef{}
			sp.planted[e.Table] = m
		}
		m[e.Line] = append(m[e.Line], plantedRef{key: e.Key, quirk: e.Quirk})
		sp.nPlanted++
	}
	return nil
}

// moveToBase puts a whole file in the base batch: its lines do not change.
func (sp *splitter) moveToBase(d *drop, ti int) error {
	t := sp.tables[ti]
	dst := filepath.Join(sp.work, d.name, t.File)
	if err := os.Rename(filepath.Join(sp.src, t.File), dst); err != nil {
		return err
	}
	f := sp.final.Files[ti]
	d.files[ti] = GenFile{Table: t.Name, Path: dst, Rows: f.Rows, Bytes: f.Bytes, CRC32C: f.CRC32C}
	lines := make([]int64, 0, len(sp.planted[t.Name]))
	for l := range sp.planted[t.Name] {
		lines = append(lines, l)
	}
	slices.Sort(lines)
	for _, l := range lines {
		for _, e := range sp.planted[t.Name][l] {
			sp.addPlanted(d, ti, e, l)
			sp.listed++
		}
	}
	return nil
}

func (sp *splitter) addPlanted(d *drop, ti int, e plantedRef, line int64) {
	d.planted[ti] = appendPlanted(d.planted[ti], sp.tables[ti].Name, e.key, line, e.quirk)
	d.nPlanted++
}

func colIndexes(t Table, names ...string) ([]int, error) {
	out := make([]int, len(names))
	for i, n := range names {
		out[i] = slices.IndexFunc(t.Columns, func(c Column) bool { return c.Name == n })
		if out[i] < 0 {
			return nil, fmt.Errorf("no column %q", n)
		}
	}
	return out, nil
}

// minDay records that key was seen on day; the earliest day wins.
func minDay(m map[string]int64, key []byte, day int64) {
	if d, ok := m[string(key)]; !ok || day < d {
		m[string(key)] = day
	}
}

func splitOrders(sp *splitter, t Table, sf *scannedFile) ([]emit, error) {
	names := []string{"order_id", "customer_id", "order_status"}
	for _, e := range orderEvents {
		names = append(names, e.col)
	}
	ci, err := colIndexes(t, names...)
	if err != nil {
		return nil, err
	}
	oc := orderCols{n: len(t.Columns), id: ci[0], cust: ci[1], stat: ci[2]}
	copy(oc.ev[:], ci[3:])
	sp.ord = oc

	// An order_id written twice cannot be split into versions: a first
	// pass marks them.
	const twice, none = math.MinInt64, math.MinInt64
	var dups []string
	for i := range sf.recs {
		f, ok := fields(sf.raw(i), oc.n, sp.fbuf[:0])
		sp.fbuf = f
		if ok {
			id := fieldValue(f[oc.id])
			if d, seen := sp.orderDay[string(id)]; !seen {
				sp.orderDay[string(id)] = sp.base
			} else if d != twice {
				sp.orderDay[string(id)] = twice
				dups = append(dups, string(id))
			}
		}
	}
	defer func() {
		for _, id := range dups {
			sp.orderDay[id] = sp.base // with its items and payments
		}
	}()
	emits := make([]emit, 0, len(sf.recs)*3)
	for i := range sf.recs {
		f, ok := fields(sf.raw(i), oc.n, sp.fbuf[:0])
		sp.fbuf = f
		var id []byte
		if ok {
			id = fieldValue(f[oc.id])
		}
		// known[x]: the day event x became known, none when the row has none.
		var known [len(orderEvents)]int64
		for x := range orderEvents {
			known[x] = none
			if !ok {
				continue
			}
			v := fieldValue(f[oc.ev[x]])
			if len(v) == 0 && x != evPurchase {
				continue
			}
			d, good := parseDay(v, false)
			if !good {
				ok = false
				continue
			}
			known[x] = d
		}
		if ok && sp.orderDay[string(id)] == twice {
			ok = false
		}
		if !ok {
			emits = append(emits, emit{day: sp.base, src: int32(i)})
			if id != nil && sp.orderDay[string(id)] != twice {
				sp.orderDay[string(id)] = sp.base // with its items and payments
			}
			if len(f) == oc.n {
				minDay(sp.custDay, fieldValue(f[oc.cust]), sp.base)
			}
			continue
		}
		// An event is known once the events before it are: versions show
		// a prefix of the order's life.
		var days []int64
		upTo := int64(none)
		for x := range known {
			if known[x] != none {
				upTo = max(upTo, known[x])
				known[x] = upTo
				if !slices.Contains(days, upTo) {
					days = append(days, upTo)
				}
			}
		}
		slices.Sort(days)
		for k, v := range days {
			if k+1 < len(days) && sp.folder(days[k+1]) == sp.folder(v) {
				continue // a later version lands in the same (base) folder
			}
			var vis uint8
			if k+1 < len(days) {
				for x := range known {
					if known[x] != none && known[x] <= v {
						vis |= 1 << x
					}
				}
			}
			emits = append(emits, emit{day: sp.folder(v), src: int32(i), vis: vis})
		}
		first := sp.folder(known[evPurchase])
		sp.orderDay[string(id)] = first
		minDay(sp.custDay, fieldValue(f[oc.cust]), first)
	}
	return emits, nil
}

// versionStatus is the status of an earlier version showing the events vis.
func versionStatus(vis uint8) int {
	st := stCreated
	for x, e := range orderEvents {
		if vis&(1<<x) != 0 {
			st = e.status
		}
	}
	return st
}

// renderOrder appends an earlier version of order record raw: the events it
// does not show are empty, and the status is versionStatus.
func (sp *splitter) renderOrder(sc *scratch, dst []byte, t Table, raw []byte, vis uint8) []byte {
	f, _ := fields(raw, sp.ord.n, sc.fbuf[:0])
	sc.fbuf = f
	for j := range f {
		if j > 0 {
			dst = append(dst, ',')
		}
		switch {
		case j == sp.ord.stat:
			var nl int64 // a status has no line break
			dst = appendString(dst, t.Columns[j].Quoting, statusNames[versionStatus(vis)], "\n", &nl)
		case sp.hidden(j, vis):
		default:
			dst = append(dst, f[j]...)
		}
	}
	return dst
}

func (sp *splitter) hidden(col int, vis uint8) bool {
	for x, c := range sp.ord.ev {
		if c == col {
			return vis&(1<<x) == 0
		}
	}
	return false
}

// versionShows reports whether an earlier version of an order (events vis)
// shows the defect planted on the order. The timestamp defects show once
// both timestamps are known; an order without items or payments is one at
// every version.
func (sp *splitter) versionShows(sc *scratch, raw []byte, vis uint8, quirk string) bool {
	f, _ := fields(raw, sp.ord.n, sc.fbuf[:0])
	sc.fbuf = f
	var v [len(orderEvents)]string
	for x := range v {
		if vis&(1<<x) != 0 {
			v[x] = string(fieldValue(f[sp.ord.ev[x]]))
		}
	}
	p, a, c, d := v[evPurchase], v[evApproved], v[evCarrier], v[evDelivered]
	switch quirk {
	case qCarrierBeforePurchase:
		return c != "" && c < p
	case qCarrierBeforeApproval:
		return c != "" && a != "" && c < a
	case qDeliveredBeforeCarrier:
		return d != "" && c != "" && d < c
	case qDeliveredBeforePurchase:
		return d != "" && d < p
	case qMissingDelivered:
		return versionStatus(vis) == stDelivered && d == ""
	case qMissingApproval:
		return versionStatus(vis) == stDelivered && a == ""
	}
	return true
}

// placeRecords gives each record of a file the day dayOf finds from its
// fields (cols are resolved to their indexes, in order), or the base batch
// when the record does not split into fields or dayOf cannot tell.
func placeRecords(sp *splitter, t Table, sf *scannedFile, cols []string, dayOf func(f [][]byte, ci []int) (int64, bool)) ([]emit, error) {
	ci, err := colIndexes(t, cols...)
	if err != nil {
		return nil, err
	}
	emits := make([]emit, 0, len(sf.recs))
	for i := range sf.recs {
		day := sp.base
		f, ok := fields(sf.raw(i), len(t.Columns), sp.fbuf[:0])
		sp.fbuf = f
		if ok {
			if d, known := dayOf(f, ci); known {
				day = d
			}
		}
		emits = append(emits, emit{day: day, src: int32(i)})
	}
	return emits, nil
}

// splitItems places an item on its order's day, and records the first day
// each product and seller is seen.
func splitItems(sp *splitter, t Table, sf *scannedFile) ([]emit, error) {
	return placeRecords(sp, t, sf, []string{"order_id", "product_id", "seller_id"}, func(f [][]byte, ci []int) (int64, bool) {
		day, known := sp.orderDay[string(fieldValue(f[ci[0]]))]
		if !known {
			day = sp.base
		}
		minDay(sp.prodDay, fieldValue(f[ci[1]]), day)
		minDay(sp.sellerDay, fieldValue(f[ci[2]]), day)
		return day, known
	})
}

// splitByKey places each record on the day its key column was first seen
// (days(sp)), or in the base batch.
func splitByKey(col string, days func(sp *splitter) map[string]int64) splitJob {
	return func(sp *splitter, t Table, sf *scannedFile) ([]emit, error) {
		m := days(sp)
		return placeRecords(sp, t, sf, []string{col}, func(f [][]byte, ci []int) (int64, bool) {
			d, known := m[string(fieldValue(f[ci[0]]))]
			return d, known
		})
	}
}

// splitReviews places a review on the day of its latest timestamp (created
// or answered), and never before its order.
func splitReviews(sp *splitter, t Table, sf *scannedFile) ([]emit, error) {
	var tsCols []int
	for j, c := range t.Columns {
		if c.Type == Timestamp && !c.Promise {
			tsCols = append(tsCols, j)
		}
	}
	return placeRecords(sp, t, sf, []string{"order_id"}, func(f [][]byte, ci []int) (int64, bool) {
		od, known := sp.orderDay[string(fieldValue(f[ci[0]]))]
		latest := int64(math.MinInt64)
		for _, j := range tsCols {
			d, good := parseDay(fieldValue(f[j]), false)
			known = known && good
			latest = max(latest, d)
		}
		if !known {
			return 0, false
		}
		return sp.folder(max(latest, od)), true
	})
}

// write writes each folder's part of one file: the records in the full
// file's order, with the file's header, line endings and final newline.
// Folders are written in parallel: creating files costs more than
// formatting them.
func (sp *splitter) write(ti int, sf *scannedFile, emits []emit) error {
	type group struct {
		d      *drop
		lo, hi int
		listed int
	}
	emits = sortByDay(emits)
	var groups []group
	for g := 0; g < len(emits); {
		h := g
		for h < len(emits) && emits[h].day == emits[g].day {
			h++
		}
		d, err := sp.drop(emits[g].day)
		if err != nil {
			return err
		}
		groups = append(groups, group{d: d, lo: g, hi: h})
		g = h
	}
	// A group is the only writer of its drop's entries for this table.
	err := parallel(len(groups), func(sc *scratch, k int) error {
		g := &groups[k]
		var err error
		g.listed, err = sp.writePart(sc, ti, sf, emits[g.lo:g.hi], g.d)
		return err
	})
	for _, g := range groups {
		sp.listed += g.listed
	}
	return err
}

// writePart writes one folder's file and returns the number of entries of
// the full data set's _planted.jsonl it lists.
func (sp *splitter) writePart(sc *scratch, ti int, sf *scannedFile, emits []emit, d *drop) (int, error) {
	t := sp.tables[ti]
	eol := []byte("\n")
	if t.CRLF {
		eol = []byte("\r\n")
	}
	planted := sp.planted[t.Name]
	path := filepath.Join(sp.work, d.name, t.File)
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, err
	}
	w := sc.w
	w.Reset(file)
	n, _ := w.Write(sf.header)
	size := int64(n)
	nl := int64(bytes.Count(sf.header, []byte("\n")))
	listed := 0
	for _, e := range emits {
		raw := sf.raw(int(e.src))
		rec := raw
		if e.vis != 0 {
			sc.rbuf = sp.renderOrder(sc, sc.rbuf[:0], t, raw, e.vis)
			rec = sc.rbuf
		}
		n1, _ := w.Write(eol)
		nl++
		line := nl + 1
		n2, _ := w.Write(rec)
		size += int64(n1 + n2)
		nl += int64(bytes.Count(rec, []byte("\n")))
		for _, pe := range planted[sf.recs[e.src].line] {
			if e.vis == 0 {
				sp.addPlanted(d, ti, pe, line)
				listed++
			} else if sp.versionShows(sc, raw, e.vis, pe.quirk) {
				sp.addPlanted(d, ti, pe, line)
			}
		}
	}
	if t.FinalNewline {
		n, _ := w.Write(eol)
		size += int64(n)
	}
	err = w.Flush()
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	crc, err := fileCRC(path)
	if err != nil {
		return 0, err
	}
	d.files[ti] = GenFile{Table: t.Name, Path: path, Rows: int64(len(emits)), Bytes: size, CRC32C: crc}
	return listed, nil
}

// scratch holds one worker's buffers.
type scratch struct {
	fbuf [][]byte
	rbuf []byte
	w    *bufio.Writer
}

// parallel runs fn(0..n-1) on GOMAXPROCS workers and returns the first error.
func parallel(n int, fn func(sc *scratch, i int) error) error {
	var next atomic.Int64
	errs := make([]error, min(runtime.GOMAXPROCS(0), n))
	var wg sync.WaitGroup
	for wk := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := &scratch{w: bufio.NewWriterSize(nil, 256<<10)}
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(sc, i); err != nil {
					errs[wk] = err
					next.Store(int64(n)) // stop the others
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// sortByDay orders records by folder day, keeping the file order within a
// day: a counting sort, days span a few hundred values.
func sortByDay(emits []emit) []emit {
	if len(emits) == 0 {
		return emits
	}
	lo, hi := emits[0].day, emits[0].day
	for _, e := range emits {
		lo, hi = min(lo, e.day), max(hi, e.day)
	}
	if hi-lo > 1<<20 { // an unlikely spread: a comparison sort
		slices.SortStableFunc(emits, func(a, b emit) int { return cmp.Compare(a.day, b.day) })
		return emits
	}
	start := make([]int, hi-lo+2)
	for _, e := range emits {
		start[e.day-lo+1]++
	}
	for i := 1; i < len(start); i++ {
		start[i] += start[i-1]
	}
	out := make([]emit, len(emits))
	for _, e := range emits {
		out[start[e.day-lo]] = e
		start[e.day-lo]++
	}
	return out
}

// --- the landing zone's _generator.json --------------------------------------------

type landingDay struct {
	Dir     string     `json:"dir"`
	Date    string     `json:"date"`
	Base    bool       `json:"base,omitempty"`
	Files   []metaFile `json:"files"`
	Planted int64      `json:"planted"`
}

// landingDoc is _generator.json of a landing zone. DailyFrom tells it from a
// flat data set's.
type landingDoc struct {
	Generator    string         `json:"generator"`
	Version      string         `json:"version"`
	Seed         int64          `json:"seed"`
	Scale        float64        `json:"scale"`
	Timezone     string         `json:"timezone"`
	DailyFrom    string         `json:"daily_from"`
	Base         string         `json:"base"`
	PlantedFile  string         `json:"planted_file"` // in every folder
	Days         []landingDay   `json:"days"`
	Final        []metaFile     `json:"final"` // the full data set the drops add up to
	Planted      []PlantedCount `json:"planted"`
	PlantedTotal int64          `json:"planted_total"`
}

func writeLandingMeta(path string, opts GenOptions, rep LandingReport) error {
	scale := opts.Scale
	if scale == 0 {
		scale = 1
	}
	doc := landingDoc{Generator: "nexus olist generator", Version: GeneratorVersion, Seed: opts.Seed, Scale: scale,
		Timezone: tzName, DailyFrom: rep.DailyFrom, PlantedFile: PlantedFile, Planted: rep.Final.Planted}
	tables := Tables()
	for i, f := range rep.Final.Files {
		doc.Final = append(doc.Final, metaFile{Table: f.Table, File: tables[i].File, Rows: f.Rows, Bytes: f.Bytes})
	}
	for _, p := range rep.Final.Planted {
		doc.PlantedTotal += p.Count
	}
	if doc.Planted == nil {
		doc.Planted = []PlantedCount{}
	}
	for _, d := range rep.Drops {
		ld := landingDay{Dir: filepath.Base(d.Dir), Date: d.Date, Base: d.Base, Files: []metaFile{}, Planted: d.Planted}
		if d.Base {
			doc.Base = ld.Dir
		}
		for _, f := range d.Files {
			ld.Files = append(ld.Files, metaFile{Table: f.Table, File: filepath.Base(f.Path), Rows: f.Rows, Bytes: f.Bytes, CRC32C: f.CRC32C})
		}
		doc.Days = append(doc.Days, ld)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
