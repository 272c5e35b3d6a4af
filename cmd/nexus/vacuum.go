package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/report"
)

func newVacuumCmd(a *app) *cobra.Command {
	var (
		olderThan time.Duration
		keep      int
		dryRun    bool
		format    string
	)
	cmd := &cobra.Command{
		Use:   "vacuum",
		Short: "Delete the files of snapshots no longer kept, and the orphans of crashed runs",
		Long: `Every commit already removes what the default retention no longer keeps (the
last 10 snapshots, and any that was current within the last hour), so no
history is longer: vacuum applies a stricter retention (a longer one lasts
until the next commit), or takes the orphans of crashed runs without
waiting for a commit. It keeps the current snapshot, the --keep
newest, and every snapshot that was current less than --older-than ago, then
deletes every table version, manifest and file that no kept snapshot
references, on a local lake or on S3 (--lake s3://…).

Never deleted: a file of the current snapshot, or of a snapshot a reader may
have pinned in the last hour (--older-than is at least 1h). On S3 a file no
snapshot references is also left alone while it is younger than --older-than:
there is no lock between machines, and it may be the upload of a run in
progress elsewhere; the next vacuum takes it.

What was deleted cannot be read with 'nexus query --snapshot' or rolled back
to; --dry-run says what would go.`,
		Example: `  nexus vacuum --dry-run
  nexus vacuum --keep 3
  nexus vacuum --lake s3://my-bucket/lake --keep 3 --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if olderThan < lake.ReaderPin {
				return fmt.Errorf("--older-than %s: must be at least %s (a reader may have pinned a snapshot that was current within the last hour)", olderThan, lake.ReaderPin)
			}
			if keep < 1 {
				return fmt.Errorf("--keep %d: must be at least 1 (the current snapshot is always kept)", keep)
			}
			if format != "table" && format != "json" {
				return fmt.Errorf("--format %q: table or json", format)
			}
			ret := lake.Retention{Keep: keep, Grace: olderThan}
			lk, unlock, err := a.openLakeForVacuum(dryRun)
			if err != nil {
				return err
			}
			defer unlock()
			vacuum := lk.Vacuum
			if dryRun {
				vacuum = lk.VacuumPlan
			}
			res, err := vacuum(a.context(), ret, time.Now())
			if err != nil {
				return err
			}
			if format == "json" {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(vacuumJSON{DryRun: dryRun, Lake: lk.Location(), Keep: keep, OlderThan: olderThan.String(), VacuumResult: res})
			}
			return printVacuum(os.Stdout, lk.Location(), ret, res, dryRun)
		},
	}
	cmd.Flags().DurationVar(&olderThan, "older-than", lake.ReaderPin, "keep every snapshot that was current less than this long ago (at least 1h)")
	cmd.Flags().IntVar(&keep, "keep", 1, "keep this many of the newest snapshots whatever their age")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "say what would be deleted, delete nothing (works on a read-only lake)")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

// vacuumJSON is vacuum's --format json.
type vacuumJSON struct {
	DryRun    bool   `json:"dry_run"`
	Lake      string `json:"lake"`
	Keep      int    `json:"keep"`
	OlderThan string `json:"older_than"`
	lake.VacuumResult
}

// openLakeForVacuum opens the lake for a vacuum: under the writer lock to
// delete, read-only for a dry run. On S3 it mirrors metadata only: a
// vacuum reads no table.
func (a *app) openLakeForVacuum(dryRun bool) (*lake.Lake, func(), error) {
	if dryRun {
		lk, err := a.open(false, true)
		return lk, func() {}, err
	}
	if !lake.IsRemote(a.cfg.Lake) && !lake.Exists(a.cfg.Lake) {
		return a.openExistingLakeForWrite() // says there is no lake
	}
	lk, err := a.open(true, true)
	if err != nil {
		return nil, nil, err
	}
	unlock, err := lk.Lock()
	if err != nil {
		return nil, nil, err
	}
	return lk, unlock, nil
}

func printVacuum(w io.Writer, where string, ret lake.Retention, res lake.VacuumResult, dryRun bool) error {
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	var parts []string
	if n := len(res.Snapshots); n > 0 {
		ids := make([]string, n)
		for i, id := range res.Snapshots {
			ids[i] = strconv.FormatInt(id, 10)
		}
		parts = append(parts, fmt.Sprintf("%d snapshot(s) (%s)", n, strings.Join(ids, ", ")))
	}
	if n := len(res.Versions); n > 0 {
		parts = append(parts, fmt.Sprintf("%d table version(s)", n))
	}
	if n := len(res.Manifests); n > 0 {
		parts = append(parts, fmt.Sprintf("%d manifest(s)", n))
	}
	fmt.Fprintf(w, "vacuum %s: keeping the %d newest snapshot(s) and any that was current within %s\n", where, ret.Keep, ret.Grace)
	if len(parts) == 0 {
		fmt.Fprintf(w, "%s nothing: every file belongs to a kept snapshot (%d kept)\n", verb, res.Kept)
	} else {
		fmt.Fprintf(w, "%s %s: %d file(s), %s; %d snapshot(s) kept\n", verb, strings.Join(parts, ", "), res.Objects, report.FormatBytes(res.Bytes), res.Kept)
	}
	const shown = 20
	for i, v := range res.Versions {
		if i == shown {
			fmt.Fprintf(w, "   … and %d more (--format json lists all)\n", len(res.Versions)-shown)
			break
		}
		fmt.Fprintln(w, "  ", v)
	}
	if res.Young > 0 {
		fmt.Fprintf(w, "left alone: %d file(s) that no snapshot references but were written less than %s ago (a run in progress elsewhere may be uploading them; a later vacuum takes them)\n", res.Young, ret.Grace)
	}
	return nil
}
