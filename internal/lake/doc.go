// Package lake owns the lake's storage: layer and table paths, versioned
// table directories, manifests switched by atomic rename, input fingerprints,
// garbage collection of replaced and orphaned versions, and the writer lock.
package lake
