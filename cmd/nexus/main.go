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
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"

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
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{}
	err := newRoot(a).ExecuteContext(ctx)
	if a.stopProfile != nil {
		a.stopProfile()
	}
	if err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "error:", err)
		if errors.Is(err, fs.ErrPermission) {
			// One hint for every command that met a read-only lake or directory.
			fmt.Fprintln(os.Stderr, "hint: no write access there. Read commands (query, tables, check, analyze, doctor, serve) work on a read-only lake; commands that change it need write access; reports take --out DIR to write elsewhere.")
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
be set in ./nexus.yaml (keys: lake, source, scale, seed, memory_limit, threads, on_drift, schedule).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.init(cmd)
		},
	}
	root.PersistentFlags().StringVar(&a.configPath, "config", "", "configuration file (default ./nexus.yaml when present)")
	root.PersistentFlags().StringVar(&a.lakeDir, "lake", "", "lake root directory (default \"lake\")")
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "warn", "log level on stderr: debug, info, warn, error")
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
		newDoctorCmd(a),
		newSchedulerCmd(a),
		newRunsCmd(a),
		newTriggerCmd(a),
		newBackfillCmd(a),
		newExportCmd(a),
		newStreamCmd(a),
	)
	return root
}

func (a *app) init(cmd *cobra.Command) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	a.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
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
	return nil
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

// openLake opens the lake read-only, pinned to its current snapshot: it never
// creates or writes anything.
func (a *app) openLake() (*lake.Lake, error) { return lake.OpenRead(a.cfg.Lake) }

// openLakeForWrite opens (creating) the lake and takes its writer lock; call
// the returned function to release it. What the command publishes becomes
// visible when it commits (commit).
func (a *app) openLakeForWrite() (*lake.Lake, func(), error) {
	lk, err := lake.Open(a.cfg.Lake)
	if err != nil {
		return nil, nil, err
	}
	unlock, err := lk.Lock()
	if err != nil {
		return nil, nil, err
	}
	return lk, unlock, nil
}

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
	snap, err := pipeline.Commit(lk, lake.CommitInfo{Kind: kind, RunID: runID}, a.log)
	if err != nil {
		return err
	}
	if n > 0 {
		fmt.Printf("committed snapshot %d (%d table(s) changed)\n", snap.ID, len(snap.Changed))
	}
	return nil
}

func (a *app) openEngine(ctx context.Context, lk *lake.Lake) (*engine.Engine, error) {
	return engine.Open(ctx, lk, engine.Options{MemoryLimit: a.cfg.MemoryLimit, Threads: a.cfg.Threads})
}
