package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/quality"
	"github.com/keystone/nexus/internal/transform"
)

// CheckRun is the record of a `nexus check`: the suites run on what is
// published, changing nothing.
type CheckRun struct {
	RunID string `json:"run_id"`
	Kind  string `json:"kind"` // "check"
	// CheckedTables lists the tables of Results (set when recorded), read
	// from a record's head without decoding the rest (VerdictHistory).
	CheckedTables []string         `json:"checked_tables"`
	Started       time.Time        `json:"started"`
	Duration      time.Duration    `json:"duration_ns"`
	Snapshot      int64            `json:"snapshot"` // the lake snapshot checked
	Results       []quality.Result `json:"results"`
}

// Failed reports whether any check has verdict fail.
func (c *CheckRun) Failed() bool {
	for _, r := range c.Results {
		if r.Verdict == quality.VerdictFail {
			return true
		}
	}
	return false
}

// Check runs the suites of the published tables matching layer and table
// (empty = all) on the engine's snapshot. It writes nothing: RecordCheck adds
// the results to the run history.
func Check(ctx context.Context, lk *lake.Lake, eng *engine.Engine, suites map[string]*quality.Suite, layer, table string) (*CheckRun, error) {
	run := &CheckRun{RunID: lake.NewRunID(time.Now()), Kind: RecordKindCheck, Started: time.Now().UTC(), Snapshot: lk.SnapshotID()}
	names := make([]string, 0, len(suites))
	for n := range suites {
		names = append(names, n)
	}
	sort.Strings(names)
	var layers []string // that have suites, in the lake's order
	for _, l := range lake.Layers() {
		if slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, l+".") }) {
			layers = append(layers, l)
		}
	}
	layer, table = strings.ToLower(layer), strings.ToLower(table)
	if layer != "" && !slices.Contains(layers, layer) {
		return nil, fmt.Errorf("check: no suite judges a table of layer %q (layers with suites: %s)", layer, strings.Join(layers, ", "))
	}
	published := map[string]*lake.Manifest{}
	for _, m := range eng.Tables() {
		published[m.Name()] = m
	}
	db := eng.DB()
	if err := eng.EnsureSchema(ctx, "_check"); err != nil {
		return nil, err
	}
	damaged := eng.Damaged()
	matched := 0
	for _, name := range names {
		l, t, _ := strings.Cut(name, ".")
		if (layer != "" && l != layer) || (table != "" && t != table && name != table) {
			continue
		}
		s := suites[name]
		if f, ok := damaged[name]; ok {
			matched++
			run.Results = append(run.Results, damagedResult(s, f[0].Error()))
			continue
		}
		if published[name] == nil {
			continue
		}
		matched++
		// The same gate as a build's: row-level checks on every row the
		// last build produced, the quarantined ones too (as the build
		// judged them: a row quarantined for a missing order fails
		// order_exists here as it did in the run), table-level checks on
		// the table as published.
		rel := engine.Ident(l) + "." + engine.Ident(t)
		built := builtRelation(published, l, t)
		gate := quality.NewGate(db, s, "_check", l+"__"+t)
		err := gate.Annotate(ctx, built)
		var res []quality.Result
		if err == nil {
			res, err = gate.Evaluate(ctx, quality.EvalOptions{Relation: rel, Built: built, Key: keyOf(s, published[name])})
		}
		gate.Close()
		switch {
		case eng.IsDamaged(err):
			// Its checks read a damaged table: no verdict, and says why.
			run.Results = append(run.Results, damagedResult(s, err.Error()))
			continue
		case err != nil && !errors.Is(err, quality.ErrGateFailed):
			return nil, fmt.Errorf("check %s: %w", name, err)
		}
		run.Results = append(run.Results, res...)
	}
	if matched == 0 {
		return nil, fmt.Errorf("check: no published table with a suite matches layer=%q table=%q (suites: %s)", layer, table, strings.Join(names, ", "))
	}
	run.Duration = time.Since(run.Started)
	return run, nil
}

// damagedResult is the blocking failure of a suite that cannot be run
// because its table, or a table its checks read, is damaged.
func damagedResult(s *quality.Suite, why string) quality.Result {
	return quality.Result{Table: s.Table, CheckID: "readable", Kind: quality.KindDamaged, Severity: quality.SeverityError,
		Description: "The table and the tables its checks read are intact (nexus doctor).", File: s.File, Line: s.Line,
		Verdict: quality.VerdictFail, Blocking: true, Observed: why}
}

// ErrHistoryReadOnly is returned by RecordCheck when the lake cannot be
// written (a read-only mount, another user's lake): the check itself stands.
var ErrHistoryReadOnly = errors.New("the lake is read-only: results not recorded in the run history")

// RecordCheck adds a check's results to the run history.
func RecordCheck(lk *lake.Lake, run *CheckRun) error {
	run.CheckedTables = checkedTables(run.Results)
	err := saveJSON(lk, run.RunID, run)
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		return fmt.Errorf("%w (%v)", ErrHistoryReadOnly, err)
	}
	return err
}

// builtRelation is every row the last build of layer.table produced: the
// published rows plus its quarantine, when there is one.
func builtRelation(published map[string]*lake.Manifest, layer, table string) string {
	rel := engine.Ident(layer) + "." + engine.Ident(table)
	q := transform.QuarantineTable(layer, table)
	if published[lake.Quarantine+"."+q] == nil {
		return rel
	}
	return fmt.Sprintf("(SELECT * FROM %s UNION ALL BY NAME SELECT * FROM %s.%s)", rel, engine.Ident(lake.Quarantine), engine.Ident(q))
}

// keyOf picks the columns to show with a failing row: the model's key when the
// manifest's schema has it, else the first column.
func keyOf(s *quality.Suite, m *lake.Manifest) []string {
	for _, c := range s.Checks {
		if c.Kind == quality.KindUnique && len(c.Columns) > 0 {
			return c.Columns
		}
		if c.Kind == quality.KindUnique && c.Column != "" {
			return []string{c.Column}
		}
	}
	if len(m.Schema) > 0 {
		return []string{m.Schema[0].Name}
	}
	return nil
}

// RunRecord is one entry of the run history: a pipeline run or a check.
type RunRecord struct {
	RunID   string
	Started time.Time
	Kind    string
	Status  RunStatus
	Error   string           // why a failed run failed ("" otherwise)
	Results []quality.Result // every check result of the run
	Steps   []Step
}

// History returns the stored runs, newest first (at most n; 0 = all).
func History(lk *lake.Lake, n int) ([]RunRecord, error) {
	dir := lk.MetaDir("runs")
	names, err := recordNames(dir)
	if err != nil {
		return nil, err
	}
	var out []RunRecord
	for _, name := range names {
		if n > 0 && len(out) == n {
			break
		}
		rec, err := readRecord(dir, name)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// VerdictHistory reads what the current verdicts and the latest run need
// of the run history, newest first: the record of every run that gives a
// table its verdicts (the newest that checked it, see LatestVerdicts), the
// newest pipeline run's, for a table whose verdicts come from a check the
// newest pipeline run that judged it (its build-only verdicts), the recent newest
// records with check results (for a trend). Every other record is read for
// its head only (kind and checked_tables), not decoded: History decodes
// every record, a cost that grows with every run. LatestVerdicts of it
// equals LatestVerdicts of History(lk, 0). A record it needs that cannot be
// read fails it, as History fails; one it does not need is not read past
// its head.
func VerdictHistory(lk *lake.Lake, recent int) ([]RunRecord, error) {
	dir := lk.MetaDir("runs")
	names, err := recordNames(dir)
	if err != nil {
		return nil, err
	}
	owned := map[string]bool{}     // tables whose verdicts' run is found
	needBuild := map[string]bool{} // tables owned by a check whose newest run is not found yet
	withResults, sawRun := 0, false
	idx := readHeadIndex(dir)
	var out []RunRecord
	for _, name := range names {
		h, err := headOf(dir, name, idx)
		if err != nil {
			return nil, fmt.Errorf("run history %s: %w", name, err)
		}
		kind, tables, ok := h.kind, h.tables, h.tables != nil
		var rec *RunRecord
		if !ok { // written before records had a head: decode it whole
			r, err := readRecord(dir, name)
			if err != nil {
				return nil, err
			}
			rec, kind, tables = &r, r.Kind, checkedTables(r.Results)
		}
		want := !sawRun && kind == RecordKindRun
		sawRun = sawRun || kind == RecordKindRun
		if len(tables) > 0 {
			want = want || withResults < recent
			withResults++
		}
		for _, t := range tables {
			if !owned[t] {
				owned[t], want = true, true
				// Owned by a run, the table's build-only verdicts come with it.
				needBuild[t] = kind != RecordKindRun
			} else if needBuild[t] && kind == RecordKindRun {
				// The newest run that judged the table gives them (or
				// none: a blocked gate), whatever runs before it did.
				want, needBuild[t] = true, false
			}
		}
		if !want {
			continue
		}
		if rec == nil {
			r, err := readRecord(dir, name)
			if err != nil {
				return nil, err
			}
			rec = &r
		}
		out = append(out, *rec)
	}
	return out, nil
}

// recordNames lists the run records of dir, newest first.
func recordNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("run history: %w", err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(names))) // run ids sort by time
	return names, nil
}

// readRecord reads and decodes the run record dir/name.
func readRecord(dir, name string) (RunRecord, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return RunRecord{}, err
	}
	return decodeRecord(name, b)
}

// decodeRecord decodes the run record name, whose bytes are b.
func decodeRecord(name string, b []byte) (RunRecord, error) {
	var raw struct {
		RunID   string           `json:"run_id"`
		Kind    string           `json:"kind"`
		Started time.Time        `json:"started"`
		Status  RunStatus        `json:"status"`
		Error   string           `json:"error"`
		Steps   []Step           `json:"steps"`
		Results []quality.Result `json:"results"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return RunRecord{}, fmt.Errorf("run history %s: %w", name, err)
	}
	rec := RunRecord{RunID: raw.RunID, Started: raw.Started, Kind: raw.Kind, Status: raw.Status, Error: raw.Error, Steps: raw.Steps, Results: raw.Results}
	if rec.Kind == "" {
		rec.Kind = RecordKindRun
	}
	for _, st := range raw.Steps {
		rec.Results = append(rec.Results, st.Checks...)
	}
	if rec.Status == "" && rec.Kind == RecordKindRun {
		// Written before run records had a status from the start: a run
		// that died before it finished.
		rec.Status, rec.Error = RunAbandoned, abandonedError
	}
	if rec.Status == "" {
		rec.Status = RunSucceeded
		for _, r := range rec.Results {
			if r.Verdict == quality.VerdictFail {
				rec.Status = RunFailed
			}
		}
	}
	return rec, nil
}

// head is what a run record says before its steps and results.
type head struct {
	kind   string    // "run" when the record names none
	status RunStatus // "" when it has none (a check's record, an old run)
	tables []string  // checked_tables; nil when the record has none
}

// readHead reads the fields of a run record before its steps and results,
// without decoding those (a record is written with them last). A head that
// does not read (not a JSON object, a bad value) says nothing: no status,
// no tables, so the caller decodes the record whole, which says what is
// wrong.
func readHead(path string) (head, error) {
	f, err := os.Open(path)
	if err != nil {
		return head{}, err
	}
	defer f.Close() // read only
	unknown := head{kind: RecordKindRun}
	h := unknown // records of runs written before kinds are runs
	dec := json.NewDecoder(f)
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return unknown, nil
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return unknown, nil
		}
		var v any
		switch t {
		case "kind":
			v = &h.kind
		case "status":
			v = &h.status
		case "checked_tables":
			v = &h.tables
		case "steps", "results": // the head is over
			return h, nil
		default:
			v = &json.RawMessage{}
		}
		if dec.Decode(v) != nil {
			return unknown, nil
		}
		if h.kind == "" {
			h.kind = RecordKindRun // as decodeRecord reads it
		}
	}
	return h, nil
}

// addHeads gives the records written by an older version their
// checked_tables, once (the caller holds the lake's writer lock), so that
// reading the verdicts does not decode them again on every run.
func addHeads(lk *lake.Lake) error {
	dir := lk.MetaDir("runs")
	names, err := recordNames(dir)
	if err != nil {
		return err
	}
	var errs []error
	idx := readHeadIndex(dir)
	for _, name := range names {
		if h, err := headOf(dir, name, idx); err != nil {
			errs = append(errs, fmt.Errorf("run history %s: %w", name, err))
		} else if h.tables == nil {
			errs = append(errs, addHead(lk, dir, name))
		}
	}
	return errors.Join(errs...)
}

// addHead adds checked_tables to the record dir/name. Its other fields stay
// as they are (in the order of their names, checked_tables before the
// steps and results). A record that does not decode is left to History to
// report.
func addHead(lk *lake.Lake, dir, name string) error {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return fmt.Errorf("run history: %w", err)
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(b, &fields) != nil || fields == nil {
		return nil
	}
	rec, err := decodeRecord(name, b)
	if err != nil {
		return nil
	}
	tables, err := json.Marshal(checkedTables(rec.Results))
	if err != nil {
		return fmt.Errorf("run history %s: %w", name, err)
	}
	fields["checked_tables"] = tables
	return saveJSON(lk, strings.TrimSuffix(name, ".json"), fields)
}

// checkedTables lists the tables of results, in their order, once each:
// never nil, so that a record without results says so in its head.
func checkedTables(results []quality.Result) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, r := range results {
		if !seen[r.Table] {
			seen[r.Table] = true
			out = append(out, r.Table)
		}
	}
	return out
}

func saveJSON(lk *lake.Lake, runID string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := lk.SaveMeta("runs/"+runID+".json", append(b, '\n')); err != nil {
		return fmt.Errorf("run history: %w", err)
	}
	return nil
}

// The head index keeps the heads of the finished run records, so that a run
// does not open every record of the history: it read each record's head
// three times (the runs left unfinished, old records without a head, the
// verdicts of the run summary), ~0.16 ms a record a run, a cost that grew
// with every run (bench/results/incremental-2026-11-28-b.md).
//
// Exact because a record it lists no longer changes: only a writer holding
// the lake's lock writes the index, when no run is in progress, and it
// lists only finished records that have a head. A run rewrites its own
// record only while it holds the lock; a record is rewritten later only
// when it was left unfinished (MarkAbandoned) or has no head (addHead),
// and the index lists neither. It is a cache: a record it does not list is
// read, and an index that is missing or does not read lists nothing.
const headIndexFile = ".heads.json" // a dot file: not a run record

// headIndex is the index as stored: every table named once, and each
// record's tables as positions in that list (a record names ~20 tables).
type headIndex struct {
	Tables  []string               `json:"tables"`
	Records map[string]indexedHead `json:"records"`
}

// indexedHead is a record's head in the index.
type indexedHead struct {
	Kind   string    `json:"kind"`
	Status RunStatus `json:"status,omitempty"`
	Tables []int     `json:"tables"`
}

// readHeadIndex reads the head index of the run records of dir.
func readHeadIndex(dir string) map[string]head {
	out := map[string]head{}
	b, err := os.ReadFile(filepath.Join(dir, headIndexFile))
	if err != nil {
		return out
	}
	var idx headIndex
	if json.Unmarshal(b, &idx) != nil {
		return out
	}
	for name, h := range idx.Records {
		if h.Tables == nil || !finished(h.Kind, h.Status) {
			continue
		}
		tables := make([]string, len(h.Tables))
		for i, t := range h.Tables {
			if t < 0 || t >= len(idx.Tables) {
				return map[string]head{} // not written by updateHeadIndex
			}
			tables[i] = idx.Tables[t]
		}
		out[name] = head{kind: h.Kind, status: h.Status, tables: tables}
	}
	return out
}

// headOf returns the head of the record dir/name: the index's, or the
// record's own.
func headOf(dir, name string, idx map[string]head) (head, error) {
	if h, ok := idx[name]; ok {
		return h, nil
	}
	return readHead(filepath.Join(dir, name))
}

// updateHeadIndex adds to the head index of lk the finished records with
// a head it does not list yet, and forgets those gone. The caller holds the
// lake's writer lock and has resolved the unfinished records
// (MarkAbandoned) and given the old ones their head (addHeads).
func updateHeadIndex(lk *lake.Lake) error {
	dir := lk.MetaDir("runs")
	names, err := recordNames(dir)
	if err != nil {
		return err
	}
	// A writer killed while writing the index left its temporary file
	// (SaveLocalMeta's): only the lock holder writes one, so none is in use.
	left, err := filepath.Glob(filepath.Join(dir, "."+headIndexFile+".tmp-*"))
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range left {
		errs = append(errs, os.Remove(f))
	}
	idx := readHeadIndex(dir)
	changed := false
	present := make(map[string]bool, len(names))
	for _, name := range names {
		present[name] = true
	}
	for name := range idx {
		if !present[name] {
			delete(idx, name)
			changed = true
		}
	}
	for _, name := range names {
		if _, ok := idx[name]; ok {
			continue
		}
		h, err := readHead(filepath.Join(dir, name))
		if err != nil { // not listed: read again, where it says what is wrong
			errs = append(errs, fmt.Errorf("run history %s: %w", name, err))
			continue
		}
		if h.tables != nil && finished(h.kind, h.status) {
			idx[name] = h
			changed = true
		}
	}
	if !changed {
		return errors.Join(errs...)
	}
	out := headIndex{Records: make(map[string]indexedHead, len(idx))}
	pos := map[string]int{}
	for name, h := range idx {
		ih := indexedHead{Kind: h.kind, Status: h.status, Tables: make([]int, len(h.tables))}
		for i, t := range h.tables {
			p, ok := pos[t]
			if !ok {
				p = len(out.Tables)
				pos[t] = p
				out.Tables = append(out.Tables, t)
			}
			ih.Tables[i] = p
		}
		out.Records[name] = ih
	}
	b, err := json.Marshal(out)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	// This machine's cache: an object store's other mirrors keep their own.
	if err := lk.SaveLocalMeta("runs/"+headIndexFile, b); err != nil {
		errs = append(errs, fmt.Errorf("run history index: %w", err))
	}
	return errors.Join(errs...)
}
