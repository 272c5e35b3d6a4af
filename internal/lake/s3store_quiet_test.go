package lake_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/s3test"
)

// TestS3StoreQuiet: reading objects writes nothing on stderr. The SDK logs
// "Response has no supported checksum. Not validating response payload."
// (and "Skipped validation of multipart checksum") there, whatever
// --log-level says, for an object stored without a checksum (uploaded by
// another tool) and for one uploaded in parts.
func TestS3StoreQuiet(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	// The SDK's logger writes to the os.Stderr of when the store is made.
	stderr, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = stderr
	t.Cleanup(func() { os.Stderr = saved })
	st, err := lake.NewS3Store(ctx, lake.S3Location{Bucket: srv.Bucket, Prefix: "quiet"},
		lake.S3Options{Endpoint: srv.Endpoint, PartSize: 5 << 20})
	os.Stderr = saved
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), (12<<20)/16) // 3 parts of 5 MiB
	for i, tc := range []struct {
		name string
		body []byte
		put  func(key string, body []byte) error
	}{
		{"put by the store", []byte("small"), func(key string, body []byte) error {
			_, err := st.Put(ctx, key, bytes.NewReader(body), int64(len(body)), lake.PutCondition{})
			return err
		}},
		{"put in parts", big, func(key string, body []byte) error {
			_, err := st.Put(ctx, key, bytes.NewReader(body), int64(len(body)), lake.PutCondition{})
			return err
		}},
		{"written by another tool, no checksum", []byte("no checksum"), func(key string, body []byte) error {
			path := filepath.Join(srv.Dir, srv.Bucket, "quiet", key)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			return os.WriteFile(path, body, 0o644)
		}},
	} {
		key := fmt.Sprintf("obj/%d", i)
		if err := tc.put(key, tc.body); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		r, _, err := st.Get(ctx, key)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(b, tc.body) {
			t.Errorf("%s: %d bytes back (%v), %d put", tc.name, len(b), err, len(tc.body))
		}
	}
	if b, err := os.ReadFile(stderr.Name()); err != nil || len(b) > 0 {
		t.Errorf("the S3 store wrote on stderr (%v):\n%s", err, b)
	}
}
