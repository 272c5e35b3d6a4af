package lake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// A named lock of a lake on an object store (one scheduler per lake, one
// cycle at a time) cannot be a file lock: the holders are on different
// machines. It is a lease: an object _nexus/locks/<name>.json created with
// If-None-Match, renewed with If-Match on its ETag, taken over (If-Match)
// only once it has expired, so a holder that died frees it after its TTL.
// Expiry compares the holder's clock with the taker's: clocks must agree to
// well within the TTL (NTP does).

// DefaultLeaseTTL is how long a lease outlives its holder's last renewal.
const DefaultLeaseTTL = time.Minute

// lease is what the lock object holds.
type lease struct {
	Owner   string    `json:"owner"` // host, pid and a random tag
	Expires time.Time `json:"expires"`
}

func leaseKey(name string) string { return metaDir + "/locks/" + name + ".json" }

// LeaseHolder says who holds the named lock of a lake on an object store
// now (its host, pid and tag) and its host; held is false when no live
// lease is there (none, or expired), and always for a local lake.
func (l *Lake) LeaseHolder(ctx context.Context, name string) (owner, host string, held bool, err error) {
	if l.remote == nil {
		return "", "", false, nil
	}
	b, _, err := getBytes(ctx, l.remote.store, leaseKey(name))
	if errors.Is(err, ErrObjectNotFound) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("lock %s of %s: %w", name, l.remote.store, err)
	}
	var ls lease
	if json.Unmarshal(b, &ls) != nil || time.Now().After(ls.Expires) {
		return "", "", false, nil
	}
	host, _, _ = strings.Cut(ls.Owner, " pid ")
	return ls.Owner, host, true, nil
}

// acquireLease takes the lease name or says who holds it (ErrLocked). The
// channel is closed when the lease is lost: taken over, or not renewed in
// time (the store unreachable), so that another process may hold it now.
func (r *remote) acquireLease(ctx context.Context, name string, ttl time.Duration) (func(), <-chan struct{}, error) {
	if ttl <= 0 {
		ttl = DefaultLeaseTTL
	}
	host, _ := os.Hostname() // a name for messages; empty is fine
	owner := fmt.Sprintf("%s pid %d (%s)", host, os.Getpid(), NewRunID(time.Now()))
	key := leaseKey(name)
	put := func(ctx context.Context, cond PutCondition) (ObjectInfo, error) {
		b, err := json.Marshal(lease{Owner: owner, Expires: time.Now().Add(ttl).UTC()})
		if err != nil {
			return ObjectInfo{}, err
		}
		return r.store.Put(ctx, key, bytes.NewReader(b), int64(len(b)), cond)
	}
	start := time.Now()
	oi, err := put(ctx, PutCondition{IfNoneMatch: true})
	if errors.Is(err, ErrPreconditionFailed) {
		b, cur, gerr := getBytes(ctx, r.store, key)
		var held lease
		switch {
		case errors.Is(gerr, ErrObjectNotFound):
			oi, err = put(ctx, PutCondition{IfNoneMatch: true}) // released meanwhile
		case gerr != nil:
			return nil, nil, fmt.Errorf("lock %s of %s: %w", name, r.store, gerr)
		case json.Unmarshal(b, &held) == nil && held.Owner == owner:
			// The SDK retried a PUT whose answer was lost: the first try
			// took it.
			oi, err = cur, nil
		case json.Unmarshal(b, &held) != nil || time.Now().After(held.Expires):
			// Expired (or damaged): its holder is gone; take it over,
			// unless another taker was first.
			oi, err = put(ctx, PutCondition{IfMatch: cur.ETag})
		default:
			return nil, nil, fmt.Errorf("lake %s: the %s lock is held by %s until %s unless renewed: %w", r.store, name, held.Owner, held.Expires.Format(time.RFC3339), ErrLocked)
		}
	}
	if errors.Is(err, ErrPreconditionFailed) {
		return nil, nil, fmt.Errorf("lake %s: the %s lock was taken by another process just now: %w", r.store, name, ErrLocked)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("lock %s of %s: %w", name, r.store, err)
	}
	var (
		mu     sync.Mutex
		etag   = oi.ETag
		stop   = make(chan struct{})
		done   = make(chan struct{})
		lost   = make(chan struct{})
		lastOK = start // monotonic: the lease is surely ours until lastOK+ttl
	)
	// gone says the lease is no longer surely this process's: the holder
	// must stop acting in its role (a scheduler stops).
	gone := func(msg string, args ...any) {
		r.logger().Error(msg, append(args, "lock", name, "lake", r.store.String())...)
		close(lost)
	}
	go func() {
		defer close(done)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			tried := time.Now()
			// A renewal that hangs must not outlive the lease.
			rctx, cancel := context.WithDeadline(ctx, lastOK.Add(ttl))
			mu.Lock()
			oi, err := put(rctx, PutCondition{IfMatch: etag})
			if errors.Is(err, ErrPreconditionFailed) {
				// The SDK retries a PUT whose answer was lost: when the
				// first try renewed the lease, the retry fails its own
				// condition. The lease then still names this process.
				if b, cur, gerr := getBytes(rctx, r.store, key); gerr == nil {
					var held lease
					if json.Unmarshal(b, &held) == nil && held.Owner == owner {
						oi, err = cur, nil
					}
				}
			}
			if err == nil {
				etag, lastOK = oi.ETag, tried
			}
			mu.Unlock()
			cancel()
			switch {
			case errors.Is(err, ErrPreconditionFailed):
				// Taken over: this process was stalled past the TTL. Its
				// commits stay safe (they are conditional writes); the
				// role is another's now.
				gone("lock lost: another process took it over after it expired")
				return
			case err != nil && time.Since(lastOK) >= ttl-ttl/3:
				// The next tick would come after the lease expired:
				// another process may take it over any moment now.
				gone("lock lost: not renewed within its TTL", "err", err, "ttl", ttl)
				return
			case err != nil:
				// Tried again at the next tick, while the lease lasts.
				r.logger().Warn("lock renewal failed", "lock", name, "lake", r.store.String(), "err", err)
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		select {
		case <-lost:
			return // not ours any more: nothing to release
		default:
		}
		// Released only if still ours: a delete after a takeover would free
		// the new holder's lease.
		if _, cur, err := getBytes(context.Background(), r.store, key); err == nil && cur.ETag == etag {
			if err := r.store.Delete(context.Background(), key); err != nil {
				r.logger().Warn("lock not released; it expires by itself", "lock", name, "lake", r.store.String(), "err", err)
			}
		}
	}, lost, nil
}

func (r *remote) logger() *slog.Logger {
	if r.log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.log
}
