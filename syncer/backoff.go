package syncer

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/mailbridge/mailbridge/upstream"
)

// backoff spaces out retries of a failing upstream: exponential with full
// jitter, so many bridges that lost the same upstream don't come back in
// lockstep, and never sooner than a rate limit's retry-after.
type backoff struct {
	min, max time.Duration
	n        int
}

// newBackoff starts at 100ms, or at an eighth of max when max is small
// (tests, and bridges told to retry eagerly), so that a few transient
// failures in a row cost a few waits, not the whole cap.
func newBackoff(max time.Duration) *backoff {
	return &backoff{min: min(100*time.Millisecond, max/8), max: max}
}

func (b *backoff) reset() { b.n = 0 }

// next returns how long to wait after a failure with err.
func (b *backoff) next(err error) time.Duration {
	d := b.min << min(b.n, 16)
	if d > b.max || d <= 0 {
		d = b.max
	}
	b.n++
	d = d/2 + rand.N(d/2+1)
	if ra := upstream.RetryAfter(err); ra > d {
		d = ra
	}
	return d
}

// wait sleeps for the backoff after err, or until ctx is done.
func (b *backoff) wait(ctx context.Context, err error) error {
	t := time.NewTimer(b.next(err))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retry runs f until it succeeds, fails for good or ctx ends, waiting
// between attempts. At most attempts tries are made (0 = unbounded).
func retry[T any](ctx context.Context, s *Syncer, attempts int, f func() (T, error)) (T, error) {
	b := newBackoff(s.opts.MaxBackoff)
	for i := 1; ; i++ {
		v, err := f()
		if err == nil || !upstream.Retryable(err) || ctx.Err() != nil || (attempts > 0 && i >= attempts) {
			return v, err
		}
		if werr := b.wait(ctx, err); werr != nil {
			return v, err
		}
	}
}
