package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/keystone/nexus/internal/report"
)

func newReportDeckCmd(a *app) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "deck",
		Short: "Write the executive slide deck (HTML, PowerPoint, and PDF when Chromium is installed)",
		Long: `Generate a 10-minute executive deck from the lake: summary, business value, the
architecture (drawn from the pipeline's own model graph), the top three findings
with their charts, recommendations, risks, an Athena vs Redshift cost comparison
from the lake's real sizes, and an appendix of anticipated questions. Every
number is queried when the deck is generated.

deck.html is one self-contained file (no CDN): arrow keys, space and
PageUp/PageDown move between slides; printing gives one slide per page. When
chromium, chromium-browser or google-chrome is on PATH, deck.pdf is printed
from it too.

deck.pptx is the same deck for PowerPoint, Keynote or LibreOffice: editable
text boxes and tables, the architecture as shapes, the charts as pictures,
and speaker notes with each slide's talking points and its minutes in the
10-minute talk. Written into a directory named presentation, it is called
keystone_nexus_executive_summary.pptx (the plan's deliverable).`,
		Example: `  nexus report deck
  nexus report deck --out ./deck
  nexus report deck --out presentation   # presentation/keystone_nexus_executive_summary.pptx`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			start := time.Now()
			lk, eng, err := a.openLakeEngine(cmd.Context())
			if err != nil {
				return err
			}
			defer eng.Close()
			if err := a.makeOut(out); err != nil {
				return err
			}
			files, err := report.WriteDeck(cmd.Context(), eng.DB(), lk, out)
			if err != nil {
				return err
			}
			fmt.Println("wrote", files.HTML)
			fmt.Println("wrote", files.PPTX)
			if files.PDF != "" {
				fmt.Println("wrote", files.PDF)
			} else if files.PDFNote != "" {
				fmt.Println(files.PDFNote)
			}
			fmt.Printf("deck in %s\n", time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", filepath.Join(reportsDir, "deck"), "output directory (not the lake: a report only reads it)")
	return cmd
}
