package lake

import (
	"fmt"
	"sort"
	"strings"
)

// AthenaManifestDir is where the symlink manifests of a table version live,
// relative to the lake root: Athena reads a table through them
// (SymlinkTextInputFormat), because a version's files may sit in the
// directories of earlier versions (an append carries them). It is named
// after the version's directory (v<version>-<run>), not the version alone:
// two writers racing build the same version number, and the loser uploads
// its symlink manifests before its snapshot loses, so a name shared with
// the winner's would point Athena at the loser's files.
func AthenaManifestDir(m *Manifest) string {
	return fmt.Sprintf("%s/athena/%s.%s/%s", metaDir, m.Layer, m.Table, pathBase(m.Dir))
}

// Partition is the value of a hive partition key in the file's path
// (…/year=2017/month=3/part-0.parquet: Partition("month") is "3").
func (f File) Partition(key string) (string, bool) {
	for _, seg := range strings.Split(f.Path, "/") {
		if k, v, ok := strings.Cut(seg, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// AthenaManifests are the symlink manifest files of a table version:
// lake-relative path → content, one s3:// URL of a data file per line
// (location is the lake's s3:// root); one per partition directory of a
// partitioned table (year=2017/month=3/manifest), else one.
func AthenaManifests(m *Manifest, location string) map[string][]byte {
	base := strings.TrimSuffix(location, "/") + "/"
	byDir := map[string][]string{}
	for _, f := range m.Files {
		var parts []string
		for _, k := range m.PartitionBy {
			if v, ok := f.Partition(k); ok {
				parts = append(parts, k+"="+v)
			}
		}
		dir := AthenaManifestDir(m)
		if len(parts) > 0 {
			dir += "/" + strings.Join(parts, "/")
		}
		byDir[dir] = append(byDir[dir], base+f.Path)
	}
	out := map[string][]byte{}
	for dir, urls := range byDir {
		sort.Strings(urls)
		out[dir+"/manifest"] = []byte(strings.Join(urls, "\n") + "\n")
	}
	return out
}
