package lake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// ObjectStore is where a lake's bytes live when they are not in a local
// directory: an S3 bucket (or an S3-compatible server). Keys are relative
// to the lake's prefix, with forward slashes, as the lake's paths are.
type ObjectStore interface {
	// Get opens an object; ErrObjectNotFound when there is none.
	Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error)
	// Head says what an object is; ErrObjectNotFound when there is none.
	Head(ctx context.Context, key string) (ObjectInfo, error)
	// Put writes an object of size bytes from r, under cond; a condition
	// that does not hold is ErrPreconditionFailed, and nothing is written.
	Put(ctx context.Context, key string, r io.ReaderAt, size int64, cond PutCondition) (ObjectInfo, error)
	// List calls fn for every object whose key starts with prefix, in key
	// order, until fn returns false.
	List(ctx context.Context, prefix string, fn func(ObjectInfo) bool) error
	// Delete removes an object (no error when it is already gone).
	Delete(ctx context.Context, key string) error
	// String names the store for messages: s3://bucket/prefix.
	String() string
}

// ObjectInfo is what a store says of an object.
type ObjectInfo struct {
	Key      string
	Size     int64
	ETag     string
	Modified time.Time
}

// PutCondition makes a write conditional: the commit of a snapshot is one
// conditional write, so that two writers on two machines never both commit.
type PutCondition struct {
	// IfNoneMatch: write only when no object has the key (If-None-Match: *).
	IfNoneMatch bool
	// IfMatch: write only when the object's ETag is this one (If-Match).
	IfMatch string
}

var (
	// ErrObjectNotFound: no object has the key.
	ErrObjectNotFound = errors.New("no such object")
	// ErrNoBucket: the lake's bucket does not exist.
	ErrNoBucket = errors.New("no such bucket")
	// ErrPreconditionFailed: a conditional write lost (another writer
	// created or changed the object first).
	ErrPreconditionFailed = errors.New("precondition failed")
)

// S3Location is a lake's place in S3: s3://bucket/prefix.
type S3Location struct {
	Bucket, Prefix string
}

// IsRemote reports whether a --lake value names an object store rather
// than a local directory.
func IsRemote(root string) bool { return strings.HasPrefix(root, "s3://") }

// ParseS3 reads s3://bucket[/prefix]. The prefix has no leading or
// trailing slash.
func ParseS3(root string) (S3Location, error) {
	u, err := url.Parse(root)
	if err != nil || u.Scheme != "s3" {
		return S3Location{}, fmt.Errorf("lake %q: want s3://bucket/prefix", root)
	}
	if u.Host == "" {
		return S3Location{}, fmt.Errorf("lake %q: no bucket (want s3://bucket/prefix)", root)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return S3Location{}, fmt.Errorf("lake %q: an S3 location has no user, query or fragment", root)
	}
	p := strings.Trim(u.Path, "/")
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return S3Location{}, fmt.Errorf("lake %q: %q is not a prefix segment", root, seg)
		}
	}
	return S3Location{Bucket: u.Host, Prefix: p}, nil
}

func (l S3Location) String() string {
	if l.Prefix == "" {
		return "s3://" + l.Bucket
	}
	return "s3://" + l.Bucket + "/" + l.Prefix
}

// key is the object key of a lake-relative path.
func (l S3Location) key(rel string) string {
	if l.Prefix == "" {
		return rel
	}
	return l.Prefix + "/" + rel
}
