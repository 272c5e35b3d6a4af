// Command nexus turns the Olist e-commerce data set into an analytics
// lakehouse. This package only parses flags and prints; the work is done in
// internal/*.
package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keystone/nexus/internal/catalog"
	"github.com/keystone/nexus/internal/config"
	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/pipeline"
)

// app is the state shared by all commands: flags of the root command and the
// configuration they select.
type app struct {
	configPath string
	lakeDir    string
	logLevel   string
	cpuProfile string
	// stopProfile ends the CPU profile (nil without --cpuprofile).
	stopProfile func()
	cfg         config.Config
	log         *slog.Logger
	// remote says how to reach a lake on S3 (--lake s3://bucket/prefix).
	remote lake.RemoteOptions
	// ctx is the command's: cancelled by SIGINT/SIGTERM (the lake's
	// transfers to and from S3 stop with it).
	ctx context.Context
	// opened are the lakes the command opened: their mirrors (a lake on
	// S3) are released when it ends.
	opened []*lake.Lake
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{}
	err := newRoot(a).ExecuteContext(ctx)
	for _, lk := range a.opened {
		if rerr := lk.Release(); rerr != nil {
			fmt.Fprintln(os.Stderr, "releasing the lake's mirror:", rerr) // the command's outcome stands
		}
	}
	if a.stopProfile != nil {
		a.stopProfile()
	}
	if err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "error:", err)
		if oe := (outError{}); errors.Is(err, fs.ErrPermission) && !errors.As(err, &oe) {
			// One hint for every command that met a read-only lake or directory.
			fmt.Fprintln(os.Stderr, "hint: no write access there. Read commands (query, tables, check, analyze, doctor, serve, report, docs) work on a read-only lake; commands that change it need write access.")
		}
		os.Exit(1)
	}
}

// exitError carries an exit code for a failure already reported to the user.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "nexus",
		Short: "Keystone Nexus: the Olist e-commerce data set as an analytics lakehouse",
		Long: `Keystone Nexus turns the Brazilian e-commerce data set by Olist into a lakehouse:
CSV files are ingested into a Bronze layer of Parquet, cleaned into Silver and
modelled into a Gold star schema, with quality gates that quarantine bad rows
with their reasons, all queryable with SQL through embedded DuckDB; analyses,
charts, a KPI dashboard and an executive deck are generated from it.

Start with 'nexus demo'. Every command works with no configuration; defaults can
be set in ./nexus.yaml (keys: ` + strings.Join(config.Keys(), ", ") + `).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.init(cmd)
		},
	}
	root.PersistentFlags().StringVar(&a.configPath, "config", "", "configuration file (default ./nexus.yaml when present)")
	root.PersistentFlags().StringVar(&a.lakeDir, "lake", "", "the lake: a directory, or s3://bucket/prefix (default \"lake\")")
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "warn", "log level on stderr: debug, info, warn, error")
	root.PersistentFlags().StringVar(&a.remote.S3.Endpoint, "s3-endpoint", "", "with --lake s3://…: the URL of an S3-compatible server (path-style addressing); default AWS")
	root.PersistentFlags().StringVar(&a.remote.S3.Region, "s3-region", "", "with --lake s3://…: the AWS region (default: the AWS configuration's)")
	root.PersistentFlags().StringVar(&a.remote.S3.Profile, "s3-profile", "", "with --lake s3://…: the AWS profile of the shared configuration")
	root.PersistentFlags().Int64Var(&a.remote.CacheBytes, "cache-bytes", 20<<30, "with --lake s3://…: the most the data file cache holds; the files used longest ago go first")
	root.PersistentFlags().DurationVar(&a.remote.LeaseTTL, "s3-lease-ttl", lake.DefaultLeaseTTL, "with --lake s3://…: how long the scheduler's lease (one scheduler per lake, one cycle at a time) outlives a holder that died; renewed every third of it")
	root.PersistentFlags().StringVar(&a.remote.StateDir, "state-dir", "", "with --lake s3://…: where this machine keeps the scheduler's run store of the lake (default $XDG_STATE_HOME/nexus, else ~/.local/state/nexus)")
	root.PersistentFlags().StringVar(&a.remote.CacheDir, "cache-dir", "", "with --lake s3://…: where the data files read from S3 are cached (default: the user's cache directory, nexus/)")
	// For finding where a command's time goes (go tool pprof FILE); hidden:
	// a developer's tool, not part of the interface.
	root.PersistentFlags().StringVar(&a.cpuProfile, "cpuprofile", "", "write a Go CPU profile to this file")
	if err := root.PersistentFlags().MarkHidden("cpuprofile"); err != nil {
		panic(err) // the flag is defined just above
	}
	root.AddCommand(
		newGenerateCmd(a),
		newIngestCmd(a),
		newQueryCmd(a),
		newTablesCmd(a),
		newDemoCmd(a),
		newTransformCmd(a),
		newRunCmd(a),
		newLineageCmd(a),
		newCheckCmd(a),
		newQuarantineCmd(a),
		newReportCmd(a),
		newServeCmd(a),
		newAnalyzeCmd(a),
		newSnapshotsCmd(a),
		newRollbackCmd(a),
		newVacuumCmd(a),
		newDoctorCmd(a),
		newSchedulerCmd(a),
		newRunsCmd(a),
		newTriggerCmd(a),
		newBackfillCmd(a),
		newExportCmd(a),
		newStreamCmd(a),
		newCatalogCmd(a),
		newDocsCmd(a),
	)
	return root
}

func (a *app) init(cmd *cobra.Command) error {
	a.ctx = cmd.Context()
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	a.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	a.remote.Logger = a.log
	a.remote.Args = nil
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if isStoreFlag(f.Name) {
			a.remote.Args = append(a.remote.Args, "--"+f.Name, f.Value.String())
		}
	})
	if a.cpuProfile != "" {
		f, err := os.Create(a.cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		a.stopProfile = func() {
			pprof.StopCPUProfile()
			if err := f.Close(); err != nil {
				fmt.Fprintln(os.Stderr, "--cpuprofile:", err)
			}
		}
	}
	path, optional := a.configPath, false
	if path == "" {
		path, optional = "nexus.yaml", true
	}
	cfg, err := config.Load(path, optional)
	if err != nil {
		return err
	}
	a.cfg = cfg
	if a.lakeDir != "" {
		a.cfg.Lake = a.lakeDir
	}
	if lake.IsRemote(a.cfg.Lake) {
		if _, err := lake.ParseS3(a.cfg.Lake); err != nil {
			return err
		}
		path := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
		works := false
		for _, c := range s3Commands() {
			works = works || path == c || strings.HasPrefix(path, c+" ")
		}
		if !works {
			return fmt.Errorf("`%s` does not work on a lake on S3 yet (--lake %s); these do: %s", cmd.CommandPath(), a.cfg.Lake, strings.Join(s3Commands(), ", "))
		}
		if db := a.cfg.Catalog.Glue.Database; db != "" {
			a.remote.AfterCommit = a.syncGlue(db, a.cfg.Catalog.Glue.Endpoint)
		}
	}
	return nil
}

// syncGlue keeps the Glue tables of database in step with every commit to
// the lake on S3 (catalog.glue in nexus.yaml): Athena then always reads a
// committed snapshot.
func (a *app) syncGlue(database, endpoint string) func(context.Context, *lake.Lake) error {
	return func(ctx context.Context, lk *lake.Lake) error {
		client, err := catalog.NewGlueClient(ctx, a.remote.S3.Region, a.remote.S3.Profile, endpoint)
		if err != nil {
			return err
		}
		res, err := catalog.SyncLake(ctx, client, lk, database, "")
		if err != nil {
			return fmt.Errorf("glue database %s not in step with snapshot %d (run `nexus catalog sync --glue`): %w", database, lk.SnapshotID(), err)
		}
		changed := 0
		for _, r := range res {
			if r.Action != catalog.SyncUnchanged {
				changed++
			}
		}
		a.log.Info("glue tables in step with the commit", "database", database, "snapshot", lk.SnapshotID(), "tables", len(res), "created_or_updated", changed)
		return nil
	}
}

// s3Commands are the commands (and their subcommands) that work on a lake
// on S3 (--lake s3://…): they open it through openLake or
// openLakeForWrite, which mirror it locally.
func s3Commands() []string {
	return []string{"analyze", "backfill", "catalog cost", "catalog ddl", "catalog sync", "check", "demo", "docs", "doctor", "export", "generate", "ingest", "lineage", "quarantine list", "quarantine replay", "quarantine show", "query", "report", "rollback", "run", "runs", "scheduler", "serve", "snapshots", "stream", "tables", "transform", "trigger", "vacuum"}
}

// runStoreRoot is the directory whose _nexus/runs.db is the scheduler's run
// store: the lake itself, or for a lake on S3 this machine's state directory
// for it (SQLite wants a local file; the run records of the lake itself are
// in the bucket).
func (a *app) runStoreRoot() (string, error) {
	if !lake.IsRemote(a.cfg.Lake) {
		return a.cfg.Lake, nil
	}
	return lake.StateDir(a.cfg.Lake, a.remote)
}

// configName names where the settings come from, for messages.
func (a *app) configName() string {
	switch {
	case a.configPath != "":
		return a.configPath
	case fileExists("nexus.yaml"):
		return "nexus.yaml"
	}
	return "built-in defaults"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// open opens the lake at --lake, a directory or s3:// (lake.OpenAny), for
// writing or reading; metaOnly: the command reads no table, so a lake on S3
// brings no data file. A lake on S3 is released when the command ends.
func (a *app) open(write, metaOnly bool) (*lake.Lake, error) {
	o := a.remote
	o.MetadataOnly = metaOnly
	lk, err := lake.OpenAny(a.context(), a.cfg.Lake, o, write)
	if err != nil {
		return nil, err
	}
	if lake.IsRemote(a.cfg.Lake) {
		a.opened = append(a.opened, lk)
	}
	return lk, nil
}

// openLake opens the lake read-only, pinned to its current snapshot: it never
// creates or writes anything.
func (a *app) openLake() (*lake.Lake, error) { return a.open(false, false) }

// context is the command's context (a background one before init).
func (a *app) context() context.Context {
	if a.ctx == nil {
		return context.Background()
	}
	return a.ctx
}

// openLakeForWrite opens (creating) the lake and takes its writer lock; call
// the returned function to release it. What the command publishes becomes
// visible when it commits (commit).
func (a *app) openLakeForWrite() (*lake.Lake, func(), error) {
	// On S3 the lock is the mirror's (this process's); between machines
	// the commit's conditional write decides.
	lk, err := a.open(true, false)
	if err != nil {
		return nil, nil, err
	}
	unlock, err := lk.Lock()
	if err != nil {
		return nil, nil, err
	}
	return lk, unlock, nil
}

// openExistingLakeForWrite is openLakeForWrite for a command that changes a
// lake but cannot make one (vacuum, rollback, repair, replay, transform): a
// --lake with no lake there is a typo, refused rather than made an empty
// lake. On S3 the open itself says when nothing was committed there.
func (a *app) openExistingLakeForWrite() (*lake.Lake, func(), error) {
	if !lake.IsRemote(a.cfg.Lake) && !lake.Exists(a.cfg.Lake) {
		return nil, nil, fmt.Errorf("%w at %s (run `nexus demo` or `nexus run` to create one, or pass --lake)", lake.ErrNoLake, a.cfg.Lake)
	}
	return a.openLakeForWrite()
}

// makeOut makes the --out directory of a command that writes files once its
// inputs are found and before its work, so that a directory it cannot make
// is said at once, as such, and a refused command leaves none. The commands
// that take --out only read the lake: a directory inside a local lake is
// refused (run from the lake's directory, reports/ would land in it).
func (a *app) makeOut(out string) error {
	if out == "" {
		// Not the current directory: a report's files would be strewn there.
		return outError{errors.New("output directory (--out): empty; name a directory")}
	}
	if !lake.IsRemote(a.cfg.Lake) {
		root, dir := realPath(a.cfg.Lake), realPath(out)
		if rel, err := filepath.Rel(root, dir); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return outError{fmt.Errorf("output directory (--out) %s is inside the lake %s: this command only reads the lake; name a directory outside it", out, a.cfg.Lake)}
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return outError{fmt.Errorf("output directory (--out): %w", err)}
	}
	// An existing directory may not take files: try one.
	f, err := os.CreateTemp(out, ".nexus-write-probe-*")
	if err != nil {
		return outError{fmt.Errorf("output directory (--out) %s: cannot write there: %w", out, err)}
	}
	name := f.Name()
	if err := f.Close(); err != nil {
		return outError{fmt.Errorf("output directory (--out): %w", err)}
	}
	if err := os.Remove(name); err != nil {
		return outError{fmt.Errorf("output directory (--out): %w", err)}
	}
	return nil
}

// realPath is p absolute with its symbolic links resolved, as far as it
// exists (a directory --out names may not yet): two names of one
// directory compare equal.
func realPath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	rest := ""
	for {
		if r, err := filepath.EvalSymlinks(abs); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(abs)
		if parent == abs {
			return filepath.Join(abs, rest)
		}
		rest, abs = filepath.Join(filepath.Base(abs), rest), parent
	}
}

// outError is an --out directory a command cannot write: no hint about the
// lake's write access applies.
type outError struct{ error }

func (e outError) Unwrap() error { return e.error }

// reportsDir is where the report commands write by default: the working
// directory's reports/, not the lake's _nexus/reports/ (which `nexus run`
// refreshes). A report only reads the lake: it works on a read-only lake,
// and on S3, and creates nothing in it.
const reportsDir = "reports"

// openLakeEngine opens the lake and a DuckDB session over its published
// tables; the caller closes the engine.
func (a *app) openLakeEngine(ctx context.Context) (*lake.Lake, *engine.Engine, error) {
	lk, err := a.openLake()
	if err != nil {
		return nil, nil, err
	}
	eng, err := a.openEngine(ctx, lk)
	if err != nil {
		return nil, nil, err
	}
	return lk, eng, nil
}

// commit makes what a writer command published visible as one snapshot.
func (a *app) commit(lk *lake.Lake, kind lake.CommitKind, runID string) error {
	n := len(lk.Pending())
	snap, err := pipeline.Commit(a.context(), lk, lake.CommitInfo{Kind: kind, RunID: runID}, a.log)
	if err != nil {
		return err
	}
	if n > 0 {
		fmt.Printf("committed snapshot %d (%d table(s) changed)\n", snap.ID, len(snap.Changed))
	}
	return nil
}

func (a *app) openEngine(ctx context.Context, lk *lake.Lake) (*engine.Engine, error) {
	return engine.Open(ctx, lk, a.engineOptions(0))
}

// engineOptions are DuckDB's settings from the configuration, for conns
// statements at once (0 = 1); at --log-level debug every statement is
// logged with its time.
func (a *app) engineOptions(conns int) engine.Options {
	return engine.Options{MemoryLimit: a.cfg.MemoryLimit, Threads: a.cfg.Threads, Conns: conns, Trace: a.log}
}

// isStoreFlag says whether a global flag says how to reach a lake on an
// object store: the commands messages suggest repeat those given
// (lake.RemoteOptions.Args). Not this machine's own directories (cache,
// state): a suggestion is kept in the run record, which every machine reads.
func isStoreFlag(name string) bool {
	switch name {
	case "s3-endpoint", "s3-region", "s3-profile":
		return true
	}
	return false
}

// rerunArgs is cmd as the user ran it, for a message that suggests running
// it again: its name, the configuration file given, and the flags given to
// it (the lake's are lake.Lake.Flag's to spell), less those skip names.
func rerunArgs(cmd *cobra.Command, skip ...string) []string {
	args := strings.Fields(cmd.CommandPath())[1:]
	// The settings the command read (the lake, the source, on_drift…).
	if f := cmd.Flags().Lookup("config"); f != nil && f.Changed {
		args = append(args, "--config", f.Value.String())
	}
	// LocalFlags is a copy that records no flag as given (its Visit visits
	// none): visit the parsed flags, keep the command's own.
	local := cmd.LocalFlags()
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if local.Lookup(f.Name) == nil || f.Name == "help" || slices.Contains(skip, f.Name) {
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				args = append(args, "--"+f.Name, v)
			}
			return
		}
		if f.Value.Type() == "bool" {
			if f.Value.String() == "true" {
				args = append(args, "--"+f.Name)
			} else {
				args = append(args, "--"+f.Name+"=false")
			}
			return
		}
		args = append(args, "--"+f.Name, f.Value.String())
	})
	return args
}
