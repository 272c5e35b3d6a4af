package docsite

import (
	"context"
	"time"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/pipeline"
	"github.com/keystone/nexus/internal/transform"
)

// Config says what to document and how.
type Config struct {
	Name    string    // what the pages call the lake
	Project string    // project directory with extra models and suites ("" none)
	Now     time.Time // the generation time shown (zero: now)
	Options Options
}

// Generate documents the engine's snapshot of lk: it loads the models and
// suites, derives the column lineage (DuckDB parses the SQL), reads the
// lake's facts and renders the site. It writes nothing.
func Generate(ctx context.Context, lk *lake.Lake, eng *engine.Engine, cfg Config) (Files, error) {
	if len(lk.Tables()) == 0 {
		return nil, errNoTables
	}
	in, err := LoadInputs(ctx, eng, cfg.Project)
	if err != nil {
		return nil, err
	}
	now := cfg.Now
	if now.IsZero() {
		now = time.Now()
	}
	dated := map[string]string{}
	for name, m := range in.Lineage.Graph.Models {
		dated[name] = m.PartitionBy
	}
	f, err := Read(ctx, lk, eng, dated, cfg.Name, now, cfg.Options)
	if err != nil {
		return nil, err
	}
	return Render(Assemble(f, in))
}

// LoadInputs loads the models (with their SQL lineage, not the gates' extra
// ordering) and the quality suites.
func LoadInputs(ctx context.Context, eng *engine.Engine, project string) (Inputs, error) {
	g, err := pipeline.LoadGraph(project)
	if err != nil {
		return Inputs{}, err
	}
	suites, err := pipeline.LoadSuites(project, g)
	if err != nil {
		return Inputs{}, err
	}
	l, err := transform.BuildLineage(ctx, eng.DB(), g, pipeline.SourceSchemas())
	if err != nil {
		return Inputs{}, err
	}
	return Inputs{Lineage: l, Suites: suites}, nil
}
