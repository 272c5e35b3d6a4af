package lake_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keystone/nexus/internal/lake"
	"github.com/keystone/nexus/internal/s3test"
)

// The S3 store against a real S3 server: objects round-trip (one request
// and in parts), listing is by prefix and in key order, and the two
// conditional writes the snapshot commit rests on hold: If-None-Match: *
// loses to an existing object, If-Match to a changed one.
func TestS3Store(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	st, err := lake.NewS3Store(ctx, lake.S3Location{Bucket: srv.Bucket, Prefix: "lakes/one"},
		lake.S3Options{Endpoint: srv.Endpoint, PartSize: 5 << 20, PartConcurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	put := func(key string, body []byte, cond lake.PutCondition) (lake.ObjectInfo, error) {
		return st.Put(ctx, key, bytes.NewReader(body), int64(len(body)), cond)
	}
	get := func(key string) []byte {
		t.Helper()
		r, _, err := st.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	small := []byte("hello lake")
	big := bytes.Repeat([]byte("0123456789abcdef"), (12<<20)/16+7) // 3 parts of 5 MiB
	for key, body := range map[string][]byte{"a/small.txt": small, "a/big.parquet": big} {
		oi, err := put(key, body, lake.PutCondition{})
		if err != nil {
			t.Fatal(err)
		}
		if oi.ETag == "" {
			t.Errorf("%s: no ETag", key)
		}
		if got := get(key); !bytes.Equal(got, body) {
			t.Errorf("%s: %d bytes back, %d put", key, len(got), len(body))
		}
		h, err := st.Head(ctx, key)
		if err != nil || h.Size != int64(len(body)) {
			t.Errorf("head %s: %+v %v", key, h, err)
		}
	}
	if _, _, err := st.Get(ctx, "a/none"); !errors.Is(err, lake.ErrObjectNotFound) {
		t.Errorf("get of a missing object: %v", err)
	}
	if _, err := st.Head(ctx, "a/none"); !errors.Is(err, lake.ErrObjectNotFound) {
		t.Errorf("head of a missing object: %v", err)
	}
	var keys []string
	if err := st.List(ctx, "a/", func(oi lake.ObjectInfo) bool { keys = append(keys, oi.Key); return true }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, ",") != "a/big.parquet,a/small.txt" {
		t.Errorf("list: %v", keys)
	}

	// The pointer: created once, then changed only by who read its ETag.
	first, err := put("_nexus/CURRENT", []byte("1"), lake.PutCondition{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := put("_nexus/CURRENT", []byte("1"), lake.PutCondition{IfNoneMatch: true}); !errors.Is(err, lake.ErrPreconditionFailed) {
		t.Errorf("a second create: %v", err)
	}
	second, err := put("_nexus/CURRENT", []byte("2"), lake.PutCondition{IfMatch: first.ETag})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := put("_nexus/CURRENT", []byte("3"), lake.PutCondition{IfMatch: first.ETag}); !errors.Is(err, lake.ErrPreconditionFailed) {
		t.Errorf("a write with a stale ETag: %v", err)
	}
	if got := string(get("_nexus/CURRENT")); got != "2" || second.ETag == first.ETag {
		t.Errorf("pointer %q, ETags %s %s", got, first.ETag, second.ETag)
	}
	// A conditional write in parts is conditional too.
	if _, err := put("a/big.parquet", big, lake.PutCondition{IfNoneMatch: true}); !errors.Is(err, lake.ErrPreconditionFailed) {
		t.Errorf("a multipart create over an object: %v", err)
	}
	if err := st.Delete(ctx, "a/small.txt"); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "a/small.txt"); err != nil {
		t.Errorf("deleting a deleted object: %v", err)
	}
}

func TestParseS3(t *testing.T) {
	for _, tc := range []struct {
		in, bucket, prefix, err string
	}{
		{"s3://b", "b", "", ""},
		{"s3://b/", "b", "", ""},
		{"s3://b/p/q/", "b", "p/q", ""},
		{"s3:///p", "", "", "no bucket"},
		{"s3://b/../x", "", "", "not a prefix segment"},
		{"s3://u@b/p", "", "", "no user"},
		{"http://b/p", "", "", "want s3://"},
	} {
		l, err := lake.ParseS3(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || l.Bucket != tc.bucket || l.Prefix != tc.prefix {
			t.Errorf("%s: %+v %v", tc.in, l, err)
		}
	}
}

// The cache keeps at most its bound: the files used longest ago go first.
func TestEvictCache(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	for i, name := range []string{"old", "mid", "new"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, bytes.Repeat([]byte("x"), 100), 0o644); err != nil {
			t.Fatal(err)
		}
		at := now.Add(time.Duration(i-3) * time.Hour)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	// A download in progress is not the cache's to remove.
	if err := os.WriteFile(filepath.Join(dir, ".get-1"), bytes.Repeat([]byte("x"), 500), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := lake.EvictCache(dir, 200)
	if err != nil || n != 1 {
		t.Fatalf("evicted %d, %v", n, err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(left) != 3 || filepath.Base(left[0]) != ".get-1" || filepath.Base(left[1]) != "mid" || filepath.Base(left[2]) != "new" {
		t.Errorf("left %v", left)
	}
}
