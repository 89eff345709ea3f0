package smtpsrv

import (
	"strings"
	"sync"
	"time"
)

// loginLimiter slows down password guessing. Every failed login counts
// against the client's IP address and against the username tried; the next
// attempt for either waits base·2^(failures-1), capped at max, before its
// password is even checked. Attempts that are still waiting count as
// failures too, so opening many connections at once does not buy an
// attacker parallel guesses. A correct password still logs in (after the
// wait), and clears both records. Records are forgotten after forget
// without a failure, and the table never holds more than maxKeys of them.
//
// It depends on nothing else in this package, so it can move to a shared
// package when IMAP and POP3 use it too.
type loginLimiter struct {
	base, max, forget time.Duration
	maxKeys           int
	now               func() time.Time

	mu      sync.Mutex
	records map[string]*loginRecord
}

type loginRecord struct {
	failures int
	pending  int // attempts waiting or being checked
	last     time.Time
}

// Defaults for the login limiter: after three wrong passwords the next
// attempt waits 2s, after five 8s, and after seven or more 30s.
const (
	loginDelayBase   = 500 * time.Millisecond
	loginDelayMax    = 30 * time.Second
	loginForgetAfter = 15 * time.Minute
	loginMaxRecords  = 10000
)

func newLoginLimiter(now func() time.Time) *loginLimiter {
	if now == nil {
		now = time.Now
	}
	return &loginLimiter{
		base: loginDelayBase, max: loginDelayMax, forget: loginForgetAfter, maxKeys: loginMaxRecords,
		now: now, records: map[string]*loginRecord{},
	}
}

func limiterKeys(ip, user string) [2]string {
	return [2]string{"ip:" + ip, "user:" + strings.ToLower(user)}
}

// begin registers an attempt and returns how long it must wait before the
// password is checked. Every begin must be followed by exactly one done.
func (l *loginLimiter) begin(ip, user string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var wait time.Duration
	for _, k := range limiterKeys(ip, user) {
		r := l.record(k, now)
		if d := l.delay(r.failures + r.pending); d > wait {
			wait = d
		}
		r.pending++
	}
	return wait
}

// done ends an attempt begun with begin.
func (l *loginLimiter) done(ip, user string, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range limiterKeys(ip, user) {
		r := l.record(k, now)
		r.pending = max(r.pending-1, 0)
		if ok {
			r.failures = 0
		} else {
			r.failures++
			r.last = now
		}
		if r.failures == 0 && r.pending == 0 {
			delete(l.records, k)
		}
	}
}

// record returns the live record for k, creating it; l.mu is held.
func (l *loginLimiter) record(k string, now time.Time) *loginRecord {
	r := l.records[k]
	if r != nil && r.pending == 0 && now.Sub(r.last) > l.forget {
		r.failures = 0
	}
	if r == nil {
		if len(l.records) >= l.maxKeys {
			l.prune(now)
		}
		r = &loginRecord{last: now}
		l.records[k] = r
	}
	return r
}

// prune drops forgotten records and, if the table is still full, idle
// ones, so a flood of distinct usernames cannot grow it without bound.
func (l *loginLimiter) prune(now time.Time) {
	for k, r := range l.records {
		if r.pending == 0 && now.Sub(r.last) > l.forget {
			delete(l.records, k)
		}
	}
	for k, r := range l.records {
		if len(l.records) < l.maxKeys {
			return
		}
		if r.pending == 0 {
			delete(l.records, k)
		}
	}
}

func (l *loginLimiter) delay(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	d := l.base
	for i := 1; i < n && d < l.max; i++ {
		d *= 2
	}
	return min(d, l.max)
}
