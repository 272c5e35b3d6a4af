package transform

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keystone/nexus/internal/engine"
	"github.com/keystone/nexus/internal/lake"
)

// Key sets: for a data file of a published table and one of its columns,
// the sorted, distinct hashes of the column's values, kept on local disk
// under _nexus/cache/keys. An incremental build asks which files hold a
// drop's keys (keyFiles); a drop's keys sit in a few of a partitioned
// table's files (its orders are recent), but finding them read the key
// column of every file, for every model that asks: at scale 10, 21 such
// scans took 3 s of a drop's 20 s of statements, growing with the lake. A
// data file never changes, so its set is computed once (its first lookup
// costs what the scan did) and read back in a millisecond.
//
// A set only narrows: the read that follows still filters on the key, so a
// hash collision costs reading a file, never a wrong row. It covers every row
// the file holds, deleted ones too (a rollback may bring them back). A set
// that cannot be trusted (torn, of another file, another DuckDB's hash())
// is computed again; one that cannot be written costs the next lookup a
// scan, not the build.

// keySetMagic begins a key set file (its format's version).
const keySetMagic = "NXKEYS01"

// keySets is an executor's access to the key sets: the DuckDB version whose
// hash() they hold is read once.
type keySets struct {
	once    sync.Once
	version string
	err     error
}

func (k *keySets) duckdbVersion(ctx context.Context, eng *engine.Engine) (string, error) {
	k.once.Do(func() {
		k.err = eng.DB().QueryRowContext(ctx, "SELECT library_version || '/' || source_id FROM pragma_version()").Scan(&k.version)
		if k.err != nil {
			k.err = fmt.Errorf("duckdb version: %w", k.err)
		}
	})
	return k.version, k.err
}

// keyHashes returns the sorted, distinct hashes of the keys to rebuild, read
// once per build.
func (x *executor) keyHashes(ctx context.Context, p *incPlan) ([]uint64, error) {
	p.hashMu.Lock()
	defer p.hashMu.Unlock()
	if p.hashes != nil {
		return p.hashes, nil
	}
	rows, err := x.eng.DB().QueryContext(ctx, "SELECT DISTINCT hash(k) AS h FROM "+p.keys+" ORDER BY h")
	if err != nil {
		return nil, fmt.Errorf("hashes of the keys: %w", err)
	}
	defer rows.Close()
	hs := []uint64{}
	for rows.Next() {
		var h uint64
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("hashes of the keys: %w", err)
		}
		hs = append(hs, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("hashes of the keys: %w", err)
	}
	p.hashes = hs
	return hs, nil
}

// indexedKeyFiles returns the files of man that may hold a row whose column
// col is among the keys, from the files' key sets (computing the missing
// ones); false when the sets cannot answer: the column's type is not the
// keys' (IN would compare them by another type than hash() hashes).
func (x *executor) indexedKeyFiles(ctx context.Context, man *lake.Manifest, col string, p *incPlan) ([]lake.File, bool, error) {
	typ := ""
	for _, c := range man.Schema {
		if c.Name == col {
			typ = c.Type
		}
	}
	if typ == "" || typ != p.keyType {
		return nil, false, nil
	}
	version, err := x.keys.duckdbVersion(ctx, x.eng)
	if err != nil {
		return nil, false, err
	}
	want, err := x.keyHashes(ctx, p)
	if err != nil {
		return nil, false, err
	}
	dir := x.lk.MetaDir("cache", "keys", man.Layer+"."+man.Table)
	sets := make([][]uint64, len(man.Files))
	var missing []int
	for i, f := range man.Files {
		set, err := readKeySet(filepath.Join(dir, keySetName(f.Path, col, typ, version)), f)
		if err != nil {
			missing = append(missing, i)
			continue
		}
		sets[i] = set
	}
	if len(missing) > 0 {
		if err := x.computeKeySets(ctx, man, col, missing, sets); err != nil {
			return nil, false, err
		}
		x.saveKeySets(dir, man, col, typ, version, missing, sets)
	}
	var holding []lake.File
	for i, f := range man.Files {
		if anyCommon(sets[i], want) {
			holding = append(holding, f)
		}
	}
	return holding, true, nil
}

// computeKeySets fills sets[i] for the files missing, by one scan of their
// column col (every row, deleted or not: see above).
func (x *executor) computeKeySets(ctx context.Context, man *lake.Manifest, col string, missing []int, sets [][]uint64) error {
	byPath := map[string]int{}
	paths := make([]string, len(missing))
	for j, i := range missing {
		abs := x.lk.Abs(man.Files[i].Path)
		byPath[abs] = i
		paths[j] = engine.Literal(abs)
		sets[i] = []uint64{} // a file without a non-NULL key has none
	}
	c := engine.Ident(col)
	rows, err := x.eng.DB().QueryContext(ctx, fmt.Sprintf(
		"SELECT %[1]s, list_sort(list_distinct(list(hash(%[2]s)))) FROM read_parquet([%[3]s], hive_partitioning = false, union_by_name = true, filename = '%[1]s') WHERE %[2]s IS NOT NULL GROUP BY %[1]s",
		fileColumn, c, strings.Join(paths, ", ")))
	if err != nil {
		return fmt.Errorf("key sets of %s.%s (%s): %w", man.Layer, man.Table, col, err)
	}
	defer rows.Close()
	for rows.Next() {
		var file string
		var list []any
		if err := rows.Scan(&file, &list); err != nil {
			return fmt.Errorf("key sets of %s.%s (%s): %w", man.Layer, man.Table, col, err)
		}
		i, ok := byPath[file]
		if !ok {
			return fmt.Errorf("key sets of %s.%s (%s): DuckDB named a file not asked for: %s", man.Layer, man.Table, col, file)
		}
		set := make([]uint64, len(list))
		for j, v := range list {
			h, ok := v.(uint64)
			if !ok {
				return fmt.Errorf("key sets of %s.%s (%s): hash() gave a %T", man.Layer, man.Table, col, v)
			}
			set[j] = h
		}
		sets[i] = set
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("key sets of %s.%s (%s): %w", man.Layer, man.Table, col, err)
	}
	return nil
}

// saveKeySets writes the key sets computed, then removes those of files no
// longer on disk (vacuumed). A failure is logged: it costs the next lookup
// a scan, not this build.
func (x *executor) saveKeySets(dir string, man *lake.Manifest, col, typ, version string, written []int, sets [][]uint64) {
	log := x.log()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Warn("key sets not kept", "table", man.Layer+"."+man.Table, "err", err)
		return
	}
	keep := map[string]bool{}
	for _, i := range written {
		f := man.Files[i]
		name := keySetName(f.Path, col, typ, version)
		keep[name] = true
		if err := writeKeySet(filepath.Join(dir, name), f, sets[i]); err != nil {
			log.Warn("key set not kept", "file", f.Path, "err", err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		log.Warn("key sets not pruned", "dir", dir, "err", err)
		return
	}
	for _, e := range entries {
		name := e.Name()
		if keep[name] {
			continue
		}
		path := filepath.Join(dir, name)
		if strings.HasPrefix(name, ".tmp-") {
			// Another lookup of this build may be writing it; one a killed
			// build left is old.
			if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > time.Hour {
				removeLogged(log, path)
			}
			continue
		}
		file, err := keySetFile(path)
		if err != nil {
			removeLogged(log, path)
			continue
		}
		if _, err := os.Stat(x.lk.Abs(file)); errors.Is(err, fs.ErrNotExist) {
			removeLogged(log, path)
		}
	}
}

func removeLogged(log *slog.Logger, path string) {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Warn("stale key set not removed", "path", path, "err", err)
	}
}

// log is the build's logger (replay's executor has none).
func (x *executor) log() *slog.Logger {
	if x.opts.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return x.opts.Logger
}

// keySetName names the key set of a file's column: what its content
// depends on, hashed.
func keySetName(path, col, typ, version string) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{path, col, typ, version}, "\x00")))
	return hex.EncodeToString(sum[:16]) + ".keys"
}

// A key set file: the magic, the data file's size and path (so that a set
// of another file, or of a vacuumed one, is told), the count of hashes,
// the hashes in ascending order, and a CRC-32C of all that (so that a torn
// or damaged one is told). Little-endian.

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func encodeKeySet(f lake.File, set []uint64) []byte {
	b := make([]byte, 0, len(keySetMagic)+8+4+len(f.Path)+8+8*len(set)+4)
	b = append(b, keySetMagic...)
	b = binary.LittleEndian.AppendUint64(b, uint64(f.Bytes))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(f.Path)))
	b = append(b, f.Path...)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(set)))
	for _, h := range set {
		b = binary.LittleEndian.AppendUint64(b, h)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// errKeySet says a key set file cannot be trusted.
var errKeySet = errors.New("not a key set of this file")

// decodeKeySet checks and decodes a key set file's bytes: the data file's
// path and size, and the hashes.
func decodeKeySet(b []byte) (path string, size int64, set []uint64, err error) {
	if len(b) < len(keySetMagic)+8+4+8+4 || !bytes.HasPrefix(b, []byte(keySetMagic)) {
		return "", 0, nil, errKeySet
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return "", 0, nil, errKeySet
	}
	r := body[len(keySetMagic):]
	size = int64(binary.LittleEndian.Uint64(r))
	n := int(binary.LittleEndian.Uint32(r[8:]))
	r = r[12:]
	if n > len(r)-8 {
		return "", 0, nil, errKeySet
	}
	path, r = string(r[:n]), r[n:]
	count := binary.LittleEndian.Uint64(r)
	r = r[8:]
	if count != uint64(len(r)/8) || len(r)%8 != 0 {
		return "", 0, nil, errKeySet
	}
	set = make([]uint64, count)
	for i := range set {
		set[i] = binary.LittleEndian.Uint64(r[8*i:])
	}
	if !slices.IsSorted(set) {
		return "", 0, nil, errKeySet
	}
	return path, size, set, nil
}

// readKeySet reads the key set of f kept at path.
func readKeySet(path string, f lake.File) ([]uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p, size, set, err := decodeKeySet(b)
	if err != nil {
		return nil, err
	}
	if p != f.Path || size != f.Bytes {
		return nil, errKeySet
	}
	return set, nil
}

// keySetFile reads which data file a key set file is of.
func keySetFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	p, _, _, err := decodeKeySet(b)
	return p, err
}

// writeKeySet writes a key set whole or not at all: a temporary file renamed
// into place (two lookups writing the same set write the same bytes).
func writeKeySet(path string, f lake.File, set []uint64) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(encodeKeySet(f, set)); err != nil {
		return errors.Join(err, tmp.Close(), os.Remove(tmp.Name()))
	}
	if err := tmp.Close(); err != nil {
		return errors.Join(err, os.Remove(tmp.Name()))
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return errors.Join(err, os.Remove(tmp.Name()))
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return errors.Join(err, os.Remove(tmp.Name()))
	}
	return nil
}

// anyCommon says whether two ascending lists share a value: each value of
// the shorter is searched in the longer.
func anyCommon(a, b []uint64) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	for _, v := range a {
		if _, ok := slices.BinarySearch(b, v); ok {
			return true
		}
	}
	return false
}
