package lake

import (
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/zeebo/xxh3"
)

// FingerprintFile returns a source file's size and content hash (XXH3-128:
// fast enough that hashing 1 GB costs well under a second, so a no-change
// re-run stays cheap without trusting modification times).
func FingerprintFile(path string) (Input, error) {
	f, err := os.Open(path)
	if err != nil {
		return Input{}, fmt.Errorf("fingerprint %s: %w", path, err)
	}
	defer f.Close()
	in, err := FingerprintReader(f)
	if err != nil {
		return Input{}, fmt.Errorf("fingerprint %s: %w", path, err)
	}
	in.Name = path
	return in, nil
}

// FingerprintReader is FingerprintFile for content the caller has opened
// (a file it checked and reads through a cancellable reader, for example).
// The returned Input has no Name.
func FingerprintReader(r io.Reader) (Input, error) {
	h := xxh3.New()
	n, err := io.CopyBuffer(h, r, make([]byte, 1<<20))
	if err != nil {
		return Input{}, err
	}
	sum := h.Sum128().Bytes()
	return Input{Size: n, Hash: "xxh3:" + hex.EncodeToString(sum[:])}, nil
}

// HashStrings returns a short stable hash of the given strings, for
// fingerprints built from several parts.
func HashStrings(parts ...string) string {
	h := xxh3.New()
	for _, p := range parts {
		_, _ = io.WriteString(h, p) // a hash's Write never fails
		_, _ = h.Write([]byte{0})
	}
	sum := h.Sum128().Bytes()
	return hex.EncodeToString(sum[:])
}
