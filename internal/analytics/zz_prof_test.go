package analytics

import (
	"context"
	"os"
	"testing"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
)

func TestProfile(t *testing.T) {
	root := os.Getenv("NEXUS_ANALYTICS_LAKE")
	name := os.Getenv("NEXUS_PROFILE")
	if root == "" || name == "" {
		t.Skip()
	}
	ctx := context.Background()
	lk, _ := lake.Open(root)
	eng, err := engine.Open(ctx, lk, engine.Options{TempDir: t.TempDir(), MemoryLimit: "2GB"})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	a, _ := Lookup(name)
	a.Run(ctx, eng.DB(), Filter{})
	a.Run(ctx, eng.DB(), Filter{})
	for _, s := range []string{"PRAGMA enable_profiling='json'", "SET profiling_output='/tmp/prof-" + name + ".json'"} {
		if _, err := eng.DB().ExecContext(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Run(ctx, eng.DB(), Filter{}); err != nil {
		t.Fatal(err)
	}
}
