package lake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
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

// acquireLease takes the lease name or says who holds it (ErrLocked).
func (r *remote) acquireLease(ctx context.Context, name string, ttl time.Duration) (func(), error) {
	if ttl <= 0 {
		ttl = DefaultLeaseTTL
	}
	host, _ := os.Hostname() // a name for messages; empty is fine
	owner := fmt.Sprintf("%s pid %d (%s)", host, os.Getpid(), NewRunID(time.Now()))
	key := leaseKey(name)
	put := func(cond PutCondition) (ObjectInfo, error) {
		b, err := json.Marshal(lease{Owner: owner, Expires: time.Now().Add(ttl).UTC()})
		if err != nil {
			return ObjectInfo{}, err
		}
		return r.store.Put(ctx, key, bytes.NewReader(b), int64(len(b)), cond)
	}
	oi, err := put(PutCondition{IfNoneMatch: true})
	if errors.Is(err, ErrPreconditionFailed) {
		b, cur, gerr := getBytes(ctx, r.store, key)
		var held lease
		switch {
		case errors.Is(gerr, ErrObjectNotFound):
			oi, err = put(PutCondition{IfNoneMatch: true}) // released meanwhile
		case gerr != nil:
			return nil, fmt.Errorf("lock %s of %s: %w", name, r.store, gerr)
		case json.Unmarshal(b, &held) != nil || time.Now().After(held.Expires):
			// Expired (or damaged): its holder is gone; take it over,
			// unless another taker was first.
			oi, err = put(PutCondition{IfMatch: cur.ETag})
		default:
			return nil, fmt.Errorf("lake %s: the %s lock is held by %s until %s unless renewed: %w", r.store, name, held.Owner, held.Expires.Format(time.RFC3339), ErrLocked)
		}
	}
	if errors.Is(err, ErrPreconditionFailed) {
		return nil, fmt.Errorf("lake %s: the %s lock was taken by another process just now: %w", r.store, name, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s of %s: %w", name, r.store, err)
	}
	var (
		mu   sync.Mutex
		etag = oi.ETag
		stop = make(chan struct{})
		done = make(chan struct{})
	)
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
			mu.Lock()
			oi, err := put(PutCondition{IfMatch: etag})
			if err == nil {
				etag = oi.ETag
			}
			mu.Unlock()
			switch {
			case errors.Is(err, ErrPreconditionFailed):
				// Taken over: this process was stalled past the TTL. Its
				// commits stay safe (they are conditional writes); the
				// role is another's now.
				r.logger().Error("lock lost: another process took it over after it expired", "lock", name, "lake", r.store.String())
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
		// Released only if still ours: a delete after a takeover would free
		// the new holder's lease.
		if _, cur, err := getBytes(context.Background(), r.store, key); err == nil && cur.ETag == etag {
			if err := r.store.Delete(context.Background(), key); err != nil {
				r.logger().Warn("lock not released; it expires by itself", "lock", name, "lake", r.store.String(), "err", err)
			}
		}
	}, nil
}

func (r *remote) logger() *slog.Logger {
	if r.log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.log
}
