package mock

import (
	"context"
	"time"

	"github.com/mailbridge/mailbridge/upstream"
)

// Faults makes Backend and Session calls misbehave, to test retries and
// idempotency. The rates are probabilities between 0 and 1, drawn
// independently for every call. The inspection helpers of Server (Seed,
// Deliver, Messages, ...) are never affected.
type Faults struct {
	// Latency delays every call; the delay honours the call's context.
	Latency time.Duration
	// ErrorRate fails calls with a Temporary error before they run.
	ErrorRate float64
	// RateLimitRate fails calls with RateLimited before they run.
	RateLimitRate float64
	// DropRate runs the call but loses the response: the change is
	// applied, yet the caller gets a Temporary error.
	DropRate float64
	// RetryAfter is what rate-limited errors ask for; 0 means one second.
	RetryAfter time.Duration
}

// SetFaults replaces the fault settings; the zero Faults turns them off.
func (s *Server) SetFaults(f Faults) {
	s.faultMu.Lock()
	s.faults = f
	s.faultMu.Unlock()
}

// verdict is the fault decision for one call.
type verdict struct {
	latency time.Duration
	err     error
	drop    bool
}

func (s *Server) drawFaults() verdict {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	f := s.faults
	v := verdict{latency: f.Latency}
	switch {
	case f.ErrorRate > 0 && s.rng.Float64() < f.ErrorRate:
		v.err = upstream.Errorf(upstream.Temporary, "injected server error (503)")
	case f.RateLimitRate > 0 && s.rng.Float64() < f.RateLimitRate:
		after := f.RetryAfter
		if after <= 0 {
			after = time.Second
		}
		v.err = &upstream.Error{Kind: upstream.RateLimited, Msg: "injected rate limit (429)", RetryAfter: after}
	}
	v.drop = f.DropRate > 0 && s.rng.Float64() < f.DropRate
	return v
}

// before runs the fault plan of one call up to the point where the call
// itself would run: latency, then an injected failure. It reports whether
// the response is to be dropped afterwards.
func (s *Server) before(ctx context.Context) (drop bool, err error) {
	if err := ctxErr(ctx); err != nil {
		return false, err
	}
	v := s.drawFaults()
	if v.latency > 0 {
		t := time.NewTimer(v.latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return false, ctxErr(ctx)
		case <-s.done:
			return false, &upstream.Error{Kind: upstream.Temporary, Err: errClosed}
		}
	}
	if v.err != nil {
		s.log.Debug("mock: injected fault", "err", v.err)
		return false, v.err
	}
	return v.drop, nil
}

// errDropped is what the caller of a call with a lost response sees.
func errDropped() error {
	return upstream.Errorf(upstream.Temporary, "connection reset (injected: response lost)")
}

// ctxErr wraps a done context's error so that it is both Temporary and
// errors.Is-comparable with context.Canceled / DeadlineExceeded.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return &upstream.Error{Kind: upstream.Temporary, Msg: "request aborted", Err: err}
	}
	return nil
}
