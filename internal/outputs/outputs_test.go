package outputs

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/pipeline"
)

// TestQualityReportFailureIsReported: a validation report that cannot be
// written fails the reports step with why, instead of vanishing.
func TestQualityReportFailureIsReported(t *testing.T) {
	lk, err := lake.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// A file where the reports directory goes.
	if err := os.WriteFile(lk.MetaDir("reports"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := &pipeline.Summary{RunID: "r", Kind: "run", Status: pipeline.RunSucceeded}
	st := Refresh(context.Background(), lk, pipeline.Options{}, sum)
	if st.Status != pipeline.StepFailed || !strings.Contains(st.Error, "quality report") {
		t.Fatalf("reports step = %s %q, want failed with the quality report's error", st.Status, st.Error)
	}
}

// TestNoCheckRunsIsNoFailure: a lake built without gates and never checked
// has no validation report to write; the reports step does not fail for it
// (`nexus run --no-gates` on a new lake exited 1).
func TestNoCheckRunsIsNoFailure(t *testing.T) {
	lk, err := lake.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sum := &pipeline.Summary{RunID: "r", Kind: "run", Status: pipeline.RunSucceeded}
	st := Refresh(context.Background(), lk, pipeline.Options{}, sum)
	if st.Status == pipeline.StepFailed {
		t.Fatalf("reports step = %s %q on a lake with no check results", st.Status, st.Error)
	}
}
