package main

import (
	"slices"
	"testing"

	"github.com/keystone/nexus/internal/docgen"
)

// TestDocgenSeesEveryCommand: the architecture's commands, which docgen reads
// from this package's source, are the commands cobra has.
func TestDocgenSeesEveryCommand(t *testing.T) {
	cmds, err := docgen.Commands("../..")
	if err != nil {
		t.Fatal(err)
	}
	var fromSource []string
	for _, c := range cmds {
		fromSource = append(fromSource, c.Name)
	}
	var fromCobra []string
	for _, c := range newRoot(&app{}).Commands() {
		if !c.Hidden && c.Name() != "help" && c.Name() != "completion" {
			fromCobra = append(fromCobra, c.Name())
		}
	}
	slices.Sort(fromSource)
	slices.Sort(fromCobra)
	if !slices.Equal(fromSource, fromCobra) {
		t.Errorf("docgen reads the commands %v\ncobra has %v", fromSource, fromCobra)
	}
}
