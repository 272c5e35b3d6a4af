package olist

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// GeneratorVersion changes whenever the output for a given seed and scale
// changes.
const GeneratorVersion = "1"

// Names of the side files the generator writes next to the CSVs.
const (
	GeneratorManifestFile = "_generator.json"
	PlantedFile           = "_planted.jsonl"
)

// GenOptions configures Generate.
type GenOptions struct {
	Scale float64 // 1 ≈ real row counts; 0.01 for tests; 10+ for load tests. 0 means 1.
	Seed  int64
	// DailyFrom (YYYY-MM-DD), for GenerateDaily and InspectOutput: the first
	// day of the landing zone's daily drops. Generate ignores it.
	DailyFrom string
	// Progress, when set, is called periodically (not per row) and once at the
	// end of each file with done == total. done and total count the file's
	// rows. Files are generated concurrently; calls are serialized.
	Progress func(file string, done, total int64)
}

// GenReport describes a generated data set.
type GenReport struct {
	Files   []GenFile      // one per table in contract order
	Planted []PlantedCount // per (table, quirk) counts
}

// GenFile is one generated CSV file.
type GenFile struct {
	Table, Path string
	Rows        int64 // data rows, header excluded
	Bytes       int64
	CRC32C      string // of its bytes, hex (fileCRC)
}

// PlantedCount is the number of planted defects of one kind in one table;
// _planted.jsonl lists each of them.
type PlantedCount struct {
	Table string `json:"table"`
	Quirk string `json:"quirk"`
	Count int64  `json:"count"`
}

// Real row counts at scale 1.
const (
	realOrders   = 99441
	realProducts = 32951
	realSellers  = 3095
)

type gen struct {
	seed  int64
	scale float64
	tz    *tzTable
	cal   *purchaseCalendar
	geo   *geoModel

	nOrders, nProducts, nSellers int64

	orders      *ordersModel
	prodPlant   *planter
	sellerPlant *planter
	geoPlant    *planter
	catNames    []string
	catCum      []float64
}

func scaled(real float64, scale float64) int64 {
	return max(1, int64(math.Round(real*scale)))
}

func newGen(seed int64, scale float64) (*gen, error) {
	z, err := loadTZ()
	if err != nil {
		return nil, fmt.Errorf("olist: load time zone: %w", err)
	}
	g := &gen{seed: seed, scale: scale, tz: z, cal: calendar()}
	g.nOrders = scaled(realOrders, scale)
	g.nProducts = scaled(realProducts, scale)
	g.nSellers = scaled(realSellers, scale)
	g.geo = newGeoModel(seed, scale)
	g.orders = newOrdersModel(g)
	g.prodPlant = newPlanter(seed, kProduct, g.nProducts, scale, productQuirks)
	g.sellerPlant = newPlanter(seed, kSeller, g.nSellers, scale, sellerQuirks)
	g.geoPlant = newPlanter(seed, kGeoPoint, g.geo.rows, scale, geoQuirks)
	w := make([]float64, len(categoryTranslation))
	for i, ct := range categoryTranslation {
		g.catNames = append(g.catNames, ct[0])
		w[i] = categoryProducts[ct[0]]
		if w[i] == 0 {
			w[i] = 1
		}
	}
	g.catCum = cumulative(w)
	return g, nil
}

// tableJob writes one table.
type tableJob func(ctx context.Context, g *gen, cw *csvWriter, m *manifest, tick func(int64)) error

var tableJobs = map[string]tableJob{
	"orders":               writeOrders,
	"customers":            writeCustomers,
	"order_items":          writeItems,
	"order_payments":       writePayments,
	"order_reviews":        writeReviews,
	"products":             writeProducts,
	"sellers":              writeSellers,
	"geolocation":          writeGeolocation,
	"category_translation": writeTranslation,
}

// Generate writes a synthetic Olist data set to outDir: the nine CSV files of
// the source contract (original names, quoting, line endings), plus
// _generator.json (seed, scale, version, rows, bytes, planted counts) and
// _planted.jsonl (one line per planted data-quality defect). The output is a
// pure function of (Seed, Scale). Files are written under temporary names and
// renamed only when every file is complete. The dt= folders of a landing zone
// (GenerateDaily) in outDir are removed then, so that outDir is not taken for
// a landing zone; a dt= folder holding other files stops Generate before it
// writes anything.
//
// _planted.jsonl has one object per planted defect, in contract table order:
// {"table":..., "key":{column: value...}, "line":N, "quirk":...}, where line
// is the physical line the record starts on (the header is line 1) and key
// holds the table key (reviews: review_id and order_id; geolocation: zip
// prefix, lat and lng as JSON numbers). A row with two defects has two
// entries. Conventions:
//   - order-timestamp quirks name the one violation that was planted
//     (delivered_before_purchase also puts delivery before carrier and
//     approval; carrier_before_purchase also before approval);
//   - order_without_items points at the orders row of an unavailable or
//     canceled order that has payments but no item (775 at scale 1, as in
//     the real data);
//   - order_without_payment points at the orders row; payments_mismatch at
//     the order's single payment row; payment_value_zero at an extra 0.00
//     voucher row appended to an otherwise consistent order;
//   - order_multiple_reviews marks the extra reviews, not the one to keep
//     (the kept one has the latest review_answer_timestamp);
//   - review_id_reused marks the row that borrows another order's review
//     (same review id and content, other order_id), not the owner's row;
//   - geo_exact_duplicate marks the repeats, not the first occurrence;
//     geo_accent_variant marks rows whose city is written with accents;
//   - customer_/seller_zip_not_in_geolocation mark rows whose prefix has no
//     geolocation point.
//
// Nothing outside the manifest breaks these rules; in particular no local
// timestamp falls in a DST gap (review_creation_date is 01:00 on a DST-start
// day) or in the repeated hour of a fall-back.
func Generate(ctx context.Context, outDir string, opts GenOptions) (GenReport, error) {
	scale := opts.Scale
	if scale == 0 {
		scale = 1
	}
	if !(scale > 0) || math.IsInf(scale, 0) {
		return GenReport{}, fmt.Errorf("olist: invalid scale %v", opts.Scale)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return GenReport{}, err
	}
	// The dt= folders of a landing zone would make outDir look like one.
	stale, err := findStale(outDir, false)
	if err != nil {
		return GenReport{}, err
	}
	g, err := newGen(opts.Seed, scale)
	if err != nil {
		return GenReport{}, err
	}
	tables := Tables()
	totals, err := g.rowTotals(ctx, tables)
	if err != nil {
		return GenReport{}, err
	}

	var progMu sync.Mutex
	progress := func(file string, done, total int64) {
		if opts.Progress == nil {
			return
		}
		progMu.Lock()
		defer progMu.Unlock()
		opts.Progress(file, done, total)
	}

	type result struct {
		tmp, mtmp string
		rows      int64
		bytes     int64
		crc       string
		counts    []PlantedCount
		err       error
	}
	results := make([]result, len(tables))
	var temps []string
	cleanup := func() {
		for _, p := range temps {
			os.Remove(p)
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for ti, t := range tables {
		job, ok := tableJobs[t.Name]
		if !ok {
			cleanup()
			return GenReport{}, fmt.Errorf("olist: no generator for table %q", t.Name)
		}
		f, err := os.CreateTemp(outDir, "."+t.File+".*.tmp")
		if err != nil {
			cleanup()
			return GenReport{}, err
		}
		temps = append(temps, f.Name())
		if err := f.Chmod(0o644); err != nil {
			f.Close()
			cleanup()
			return GenReport{}, err
		}
		mf, err := os.CreateTemp(outDir, ".planted-"+t.Name+".*.tmp")
		if err != nil {
			f.Close()
			cleanup()
			return GenReport{}, err
		}
		temps = append(temps, mf.Name())
		results[ti].tmp, results[ti].mtmp = f.Name(), mf.Name()
		wg.Add(1)
		go func(ti int, t Table, f, mf *os.File) {
			defer wg.Done()
			res := &results[ti]
			cw := newCSVWriter(f, t)
			m := newManifest(mf, t.Name)
			total := totals[t.Name]
			tick := func(done int64) { progress(t.File, done, total) }
			err := job(ctx, g, cw, m, tick)
			if err == nil {
				err = cw.close()
			}
			if err == nil {
				err = m.close()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if cerr := mf.Close(); err == nil {
				err = cerr
			}
			if err == nil && cw.rows != total {
				err = fmt.Errorf("olist: %s: wrote %d rows, planned %d", t.Name, cw.rows, total)
			}
			if err != nil {
				res.err = fmt.Errorf("olist: generate %s: %w", t.File, err)
				cancel(res.err)
				return
			}
			crc, err := fileCRC(f.Name()) // read back from the page cache, in parallel
			if err != nil {
				res.err = fmt.Errorf("olist: generate %s: %w", t.File, err)
				cancel(res.err)
				return
			}
			res.rows, res.bytes, res.crc, res.counts = cw.rows, cw.bytes, crc, m.counts
			progress(t.File, cw.rows, cw.rows)
		}(ti, t, f, mf)
	}
	wg.Wait()
	for _, r := range results {
		if r.err != nil && !errors.Is(r.err, context.Canceled) {
			cleanup()
			return GenReport{}, r.err
		}
	}
	if err := context.Cause(ctx); err != nil {
		cleanup()
		return GenReport{}, err
	}

	// Side files.
	var rep GenReport
	for ti, t := range tables {
		r := results[ti]
		rep.Files = append(rep.Files, GenFile{Table: t.Name, Path: filepath.Join(outDir, t.File), Rows: r.rows, Bytes: r.bytes, CRC32C: r.crc})
		counts := append([]PlantedCount(nil), r.counts...)
		sort.Slice(counts, func(a, b int) bool { return counts[a].Quirk < counts[b].Quirk })
		rep.Planted = append(rep.Planted, counts...)
	}
	plantedTmp, err := concatTemp(outDir, PlantedFile, func(yield func(string) bool) {
		for _, r := range results {
			if !yield(r.mtmp) {
				return
			}
		}
	})
	if err != nil {
		cleanup()
		return GenReport{}, err
	}
	temps = append(temps, plantedTmp)
	metaTmp, err := writeMeta(outDir, g, tables, rep)
	if err != nil {
		cleanup()
		return GenReport{}, err
	}
	temps = append(temps, metaTmp)

	// Publish: CSVs first, the manifest files last.
	if err := stale.remove(); err != nil {
		cleanup()
		return GenReport{}, err
	}
	for ti, t := range tables {
		if err := os.Rename(results[ti].tmp, filepath.Join(outDir, t.File)); err != nil {
			cleanup()
			return GenReport{}, err
		}
	}
	if err := os.Rename(plantedTmp, filepath.Join(outDir, PlantedFile)); err != nil {
		cleanup()
		return GenReport{}, err
	}
	if err := os.Rename(metaTmp, filepath.Join(outDir, GeneratorManifestFile)); err != nil {
		cleanup()
		return GenReport{}, err
	}
	cleanup() // the per-table manifest parts
	return rep, nil
}

// rowTotals computes the exact number of rows of every file up front, for
// progress reporting and as a check.
func (g *gen) rowTotals(ctx context.Context, tables []Table) (map[string]int64, error) {
	m := g.orders
	var items, pays, reviews int64
	var o orderPlan
	for i := int64(0); i < m.n; i++ {
		if i&0xffff == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		q := m.plant.at(i)
		items += int64(m.itemCount(i, q))
		o = orderPlan{i: i, quirk: q}
		m.payShape(i, q, &o)
		pays += int64(m.payRows(&o))
		reviews += int64(m.reviewCount(i, q))
	}
	totals := map[string]int64{
		"orders":               g.nOrders,
		"customers":            g.nOrders,
		"order_items":          items,
		"order_payments":       pays,
		"order_reviews":        reviews,
		"products":             g.nProducts,
		"sellers":              g.nSellers,
		"geolocation":          g.geo.rows,
		"category_translation": int64(len(categoryTranslation)),
	}
	for _, t := range tables {
		if _, ok := totals[t.Name]; !ok {
			return nil, fmt.Errorf("olist: no generator for table %q", t.Name)
		}
	}
	return totals, nil
}

// concatTemp concatenates files into a new temporary file in dir.
func concatTemp(dir, name string, parts func(func(string) bool)) (string, error) {
	out, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return "", err
	}
	out.Chmod(0o644)
	w := bufio.NewWriterSize(out, writeBuffer)
	var cerr error
	parts(func(p string) bool {
		f, err := os.Open(p)
		if err != nil {
			cerr = err
			return false
		}
		_, err = io.Copy(w, f)
		f.Close()
		if err != nil {
			cerr = err
			return false
		}
		return true
	})
	if cerr == nil {
		cerr = w.Flush()
	}
	if err := out.Close(); cerr == nil {
		cerr = err
	}
	if cerr != nil {
		os.Remove(out.Name())
		return "", cerr
	}
	return out.Name(), nil
}

type metaFile struct {
	Table string `json:"table"`
	File  string `json:"file"`
	Rows  int64  `json:"rows"`
	Bytes int64  `json:"bytes"`
	// CRC32C of the file's bytes, hex: an edit that keeps the size is seen
	// too (absent from the manifests of older versions).
	CRC32C string `json:"crc32c,omitempty"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// fileCRC is the CRC32C of the file at path, hex (hardware-assisted: about
// as fast as reading the file).
func fileCRC(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := crc32.New(castagnoli)
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("checksum of %s: %w", path, err)
	}
	return fmt.Sprintf("%08x", h.Sum32()), nil
}

type metaDoc struct {
	Generator    string         `json:"generator"`
	Version      string         `json:"version"`
	Seed         int64          `json:"seed"`
	Scale        float64        `json:"scale"`
	Timezone     string         `json:"timezone"`
	Files        []metaFile     `json:"files"`
	Planted      []PlantedCount `json:"planted"`
	PlantedTotal int64          `json:"planted_total"`
	PlantedFile  string         `json:"planted_file"`
}

func writeMeta(dir string, g *gen, tables []Table, rep GenReport) (string, error) {
	doc := metaDoc{Generator: "nexus olist generator", Version: GeneratorVersion, Seed: g.seed, Scale: g.scale,
		Timezone: tzName, Planted: rep.Planted, PlantedFile: PlantedFile}
	for i, f := range rep.Files {
		doc.Files = append(doc.Files, metaFile{Table: f.Table, File: tables[i].File, Rows: f.Rows, Bytes: f.Bytes, CRC32C: f.CRC32C})
	}
	for _, p := range rep.Planted {
		doc.PlantedTotal += p.Count
	}
	if doc.Planted == nil {
		doc.Planted = []PlantedCount{}
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return "", err
	}
	b = append(b, '\n')
	f, err := os.CreateTemp(dir, "."+GeneratorManifestFile+".*.tmp")
	if err != nil {
		return "", err
	}
	f.Chmod(0o644)
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}
