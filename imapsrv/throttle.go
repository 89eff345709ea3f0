package imapsrv

import (
	"strings"
	"sync"
	"time"
)

// Failed-login throttling. Every failure counts against the client's
// address and against the account name it tried. After freeLogins
// failures in a row a key is locked for a delay that doubles with each
// further failure, up to maxLoginDelay; while it is locked, LOGIN and
// AUTHENTICATE are refused before the password is even checked, so
// neither opening many connections nor guessing faster gets an attacker
// anywhere: one guess per delay at most. A successful login clears the
// account and the address. The delay is bounded so that a local process
// hammering the port cannot lock the real user out for long.
const (
	freeLogins    = 5
	baseLoginWait = time.Second
	maxLoginDelay = time.Minute
	// forgetLogins is how long after its last failure a key is dropped.
	forgetLogins = 15 * time.Minute
	// maxThrottleKeys bounds the tables against a flood of made-up
	// account names; beyond it, expired keys are dropped first.
	maxThrottleKeys = 10000
)

// throttle tracks failed logins. Its zero value is not usable; see
// newThrottle.
type throttle struct {
	now func() time.Time // time.Now; a fake clock in tests

	mu   sync.Mutex
	keys map[string]*failures
}

type failures struct {
	count int
	last  time.Time // of the last failure
	until time.Time // locked until then
}

func newThrottle() *throttle {
	return &throttle{now: time.Now, keys: make(map[string]*failures)}
}

func addrKey(host string) string { return "addr:" + host }

func userKey(user string) string { return "user:" + strings.ToLower(user) }

// wait returns how long the caller must still wait before trying these
// keys again; zero means the attempt may go ahead.
func (t *throttle) wait(keys ...string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var wait time.Duration
	for _, k := range keys {
		if f := t.keys[k]; f != nil {
			wait = max(wait, f.until.Sub(now))
		}
	}
	return wait
}

// fail records a failed attempt against every key.
func (t *throttle) fail(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if len(t.keys) >= maxThrottleKeys {
		t.pruneLocked(now)
	}
	for _, k := range keys {
		f := t.keys[k]
		if f == nil {
			if len(t.keys) >= maxThrottleKeys {
				continue // still full of live keys: the address key still counts
			}
			f = &failures{}
			t.keys[k] = f
		}
		if now.Sub(f.last) > forgetLogins {
			f.count = 0 // failures long ago were not a run
		}
		f.count++
		f.last = now
		if n := f.count - freeLogins; n >= 0 {
			delay := maxLoginDelay
			if n < 16 {
				delay = min(baseLoginWait<<n, maxLoginDelay)
			}
			f.until = now.Add(delay)
		}
	}
}

// succeed forgets the failures of every key.
func (t *throttle) succeed(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		delete(t.keys, k)
	}
}

func (t *throttle) pruneLocked(now time.Time) {
	for k, f := range t.keys {
		if now.Sub(f.last) > forgetLogins && !now.Before(f.until) {
			delete(t.keys, k)
		}
	}
}
