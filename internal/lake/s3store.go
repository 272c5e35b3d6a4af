package lake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"
)

// S3Options say how to reach S3: the standard AWS chain (environment,
// shared config and credentials files, profile, instance role) gives the
// credentials and region unless set here.
type S3Options struct {
	Region  string
	Profile string
	// Endpoint, for an S3-compatible server (versitygw, MinIO…): its URL;
	// path-style addressing is then used.
	Endpoint string
	// PartSize: files larger than this are uploaded in parts of this size,
	// PartConcurrency at once (0: 64 MiB, 4).
	PartSize        int64
	PartConcurrency int
	// MaxAttempts of a request, with backoff (0: 5).
	MaxAttempts int
}

// S3Store is an ObjectStore on an S3 bucket and prefix.
type S3Store struct {
	loc    S3Location
	client *s3.Client
	o      S3Options
}

// NewS3Store connects to the bucket of loc.
func NewS3Store(ctx context.Context, loc S3Location, o S3Options) (*S3Store, error) {
	if o.PartSize <= 0 {
		o.PartSize = 64 << 20
	}
	if o.PartConcurrency <= 0 {
		o.PartConcurrency = 4
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	var lopts []func(*config.LoadOptions) error
	if o.Region != "" {
		lopts = append(lopts, config.WithRegion(o.Region))
	}
	if o.Profile != "" {
		lopts = append(lopts, config.WithSharedConfigProfile(o.Profile))
	}
	lopts = append(lopts, config.WithRetryer(func() aws.Retryer {
		return retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = o.MaxAttempts
			so.MaxBackoff = 5 * time.Second
			// The SDK's retry budget is shared by the client's requests: a
			// commit's parallel uploads to a server that went away used it
			// up at once and were not retried at all.
			so.RateLimiter = ratelimit.None
		})
	}))
	cfg, err := config.LoadDefaultConfig(ctx, lopts...)
	if err != nil {
		return nil, fmt.Errorf("%s: AWS configuration: %w", loc, err)
	}
	if cfg.Region == "" {
		// An S3-compatible server ignores it; AWS needs one.
		cfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		// The SDK would print on stderr, whatever --log-level says, each
		// object it reads without a checksum to validate (written by
		// another tool, or an older SDK): nothing the user can act on.
		so.DisableLogOutputChecksumValidationSkipped = true
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
			so.UsePathStyle = true
		}
	})
	return &S3Store{loc: loc, client: client, o: o}, nil
}

func (s *S3Store) String() string { return s.loc.String() }

// s3Err maps the SDK's answers to the lake's errors, with what was asked.
func (s *S3Store) s3Err(op, key string, err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "NoSuchKey", "NotFound": // NotFound: a HEAD's answer has no body
			return fmt.Errorf("%s %s/%s: %w", op, s.loc, key, ErrObjectNotFound)
		case "NoSuchBucket":
			return fmt.Errorf("%s %s/%s: %w: bucket %s does not exist%s", op, s.loc, key, ErrNoBucket, s.loc.Bucket, s.at())
		case "PreconditionFailed", "ConditionalRequestConflict":
			return fmt.Errorf("%s %s/%s: %w", op, s.loc, key, ErrPreconditionFailed)
		case "AccessDenied":
			return fmt.Errorf("%s %s/%s: %w (%v)", op, s.loc, key, fs.ErrPermission, err)
		}
	}
	// Any other 404 is not "no such object": a server that is not S3, a key
	// the server does not know, say. Only a condition's status is mapped.
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case http.StatusPreconditionFailed, http.StatusConflict:
			return fmt.Errorf("%s %s/%s: %w", op, s.loc, key, ErrPreconditionFailed)
		}
	}
	return fmt.Errorf("%s %s/%s: %w", op, s.loc, key, err)
}

// at says which server, when it is not AWS.
func (s *S3Store) at() string {
	if s.o.Endpoint == "" {
		return ""
	}
	return " at " + s.o.Endpoint
}

func info(key string, size *int64, etag *string, mod *time.Time) ObjectInfo {
	oi := ObjectInfo{Key: key, Size: aws.ToInt64(size), ETag: aws.ToString(etag)}
	if mod != nil {
		oi.Modified = *mod
	}
	return oi
}

// Get opens an object.
func (s *S3Store) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.loc.Bucket, Key: aws.String(s.loc.key(key))})
	if err != nil {
		return nil, ObjectInfo{}, s.s3Err("get", key, err)
	}
	return out.Body, info(key, out.ContentLength, out.ETag, out.LastModified), nil
}

// Head says what an object is.
func (s *S3Store) Head(ctx context.Context, key string) (ObjectInfo, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.loc.Bucket, Key: aws.String(s.loc.key(key))})
	if err != nil {
		return ObjectInfo{}, s.s3Err("head", key, err)
	}
	return info(key, out.ContentLength, out.ETag, out.LastModified), nil
}

// Put writes an object: in one request, or in parts (uploaded at once,
// each retried by the SDK) past PartSize. A condition applies to the
// request that makes the object visible.
func (s *S3Store) Put(ctx context.Context, key string, r io.ReaderAt, size int64, cond PutCondition) (ObjectInfo, error) {
	k := aws.String(s.loc.key(key))
	var ifNone, ifMatch *string
	if cond.IfNoneMatch {
		ifNone = aws.String("*")
	}
	if cond.IfMatch != "" {
		ifMatch = aws.String(cond.IfMatch)
	}
	if size <= s.o.PartSize {
		out, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.loc.Bucket, Key: k,
			Body: io.NewSectionReader(r, 0, size), ContentLength: aws.Int64(size), IfNoneMatch: ifNone, IfMatch: ifMatch})
		if err != nil {
			return ObjectInfo{}, s.s3Err("put", key, err)
		}
		return info(key, &size, out.ETag, nil), nil
	}
	up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.loc.Bucket, Key: k})
	if err != nil {
		return ObjectInfo{}, s.s3Err("put", key, err)
	}
	abort := func(err error) (ObjectInfo, error) {
		// The parts uploaded so far are dropped; a failure to drop them
		// leaves storage a lifecycle rule reclaims, and says nothing new.
		_, _ = s.client.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: &s.loc.Bucket, Key: k, UploadId: up.UploadId})
		return ObjectInfo{}, s.s3Err("put", key, err)
	}
	n := int((size + s.o.PartSize - 1) / s.o.PartSize)
	parts := make([]types.CompletedPart, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.o.PartConcurrency)
	for i := range n {
		off := int64(i) * s.o.PartSize
		length := min(s.o.PartSize, size-off)
		g.Go(func() error {
			out, err := s.client.UploadPart(gctx, &s3.UploadPartInput{Bucket: &s.loc.Bucket, Key: k, UploadId: up.UploadId,
				PartNumber: aws.Int32(int32(i + 1)), Body: io.NewSectionReader(r, off, length), ContentLength: aws.Int64(length)})
			if err != nil {
				return fmt.Errorf("part %d of %d: %w", i+1, n, err)
			}
			parts[i] = types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(i + 1))}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return abort(err)
	}
	out, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &s.loc.Bucket, Key: k, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}, IfNoneMatch: ifNone, IfMatch: ifMatch})
	if err != nil {
		return abort(err)
	}
	return info(key, &size, out.ETag, nil), nil
}

// List calls fn for the objects under prefix, in key order.
func (s *S3Store) List(ctx context.Context, prefix string, fn func(ObjectInfo) bool) error {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.loc.Bucket, Prefix: aws.String(s.loc.key(prefix))})
	strip := s.loc.key("")
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return s.s3Err("list", prefix, err)
		}
		objs := page.Contents
		// S3 lists in key order; an S3-compatible server may not.
		sort.Slice(objs, func(i, j int) bool { return aws.ToString(objs[i].Key) < aws.ToString(objs[j].Key) })
		for _, o := range objs {
			if !fn(info(strings.TrimPrefix(aws.ToString(o.Key), strip), o.Size, o.ETag, o.LastModified)) {
				return nil
			}
		}
	}
	return nil
}

// Delete removes an object.
func (s *S3Store) Delete(ctx context.Context, key string) error {
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.loc.Bucket, Key: aws.String(s.loc.key(key))}); err != nil {
		if err := s.s3Err("delete", key, err); !errors.Is(err, ErrObjectNotFound) {
			return err
		}
	}
	return nil
}
