// Package lake owns the lake's storage: layer and table paths, immutable
// versioned table directories (a version may carry files of earlier ones),
// manifests with their inputs, fingerprints and record of what changed,
// snapshot commits by atomic pointer swap, retention and garbage collection
// of versions no kept snapshot references, verification, and the writer lock.
package lake
