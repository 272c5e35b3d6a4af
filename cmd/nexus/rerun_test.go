package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/spf13/cobra"
)

// rerunArgs gives the command as the user ran it: its own flags as given, in
// the flag set's order
// (booleans, repeated and comma-separated slices, --flag=value), the
// configuration file, not the lake's flags (lake.Lake.Flag spells those),
// nor those skipped.
func TestRerunArgs(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "prod.yaml")
	if err := os.WriteFile(cfg, []byte("scale: 0.01\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		argv []string
		want []string
	}{
		{[]string{"run", "--source", "my src's dir", "--no-gates", "--force=false", "--project=p q", "--switch-source"},
			[]string{"run", "--force=false", "--no-gates", "--project", "p q", "--source", "my src's dir"}},
		{[]string{"ingest", "--table", "orders,customers", "--table=items", "--lake", "elsewhere", "--s3-region", "eu-west-1"},
			[]string{"ingest", "--table", "orders", "--table", "customers", "--table", "items"}},
		{[]string{"--config", cfg, "run", "--source", "x"},
			[]string{"run", "--config", cfg, "--source", "x"}},
		{[]string{"run"}, []string{"run"}},
	} {
		a := &app{}
		root := newRoot(a)
		var got []string
		for _, c := range root.Commands() {
			c.RunE = func(cmd *cobra.Command, _ []string) error {
				got = rerunArgs(cmd, "switch-source")
				return nil
			}
		}
		root.SetArgs(tc.argv)
		if err := root.Execute(); err != nil {
			t.Fatalf("%q: %v", tc.argv, err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q:\n got  %q\n want %q", tc.argv, got, tc.want)
		}
	}
}
