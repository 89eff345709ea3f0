package smtpsrv

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testClock is a settable time source for the limiter.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// attempt runs one login attempt through the limiter and returns its wait.
func attempt(l *loginLimiter, ip, user string, ok bool) time.Duration {
	d := l.begin(ip, user)
	l.done(ip, user, ok)
	return d
}

func TestLoginLimiterBackoff(t *testing.T) {
	clk := &testClock{t: time.Unix(1e9, 0)}
	l := newLoginLimiter(clk.now)
	var got []time.Duration
	for range 9 {
		got = append(got, attempt(l, "10.0.0.1", "alice", false))
	}
	want := []time.Duration{0, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second,
		8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("waits %v, want %v", got, want)
	}

	// Both the IP and the username carry the failures.
	if d := attempt(l, "10.0.0.1", "bob", false); d != 30*time.Second {
		t.Errorf("same IP, other user: wait %v, want 30s", d)
	}
	if d := l.begin("10.0.0.2", "ALICE"); d != 30*time.Second {
		t.Errorf("other IP, same user: wait %v, want 30s", d)
	}
	// The right password still logs in, and clears the records it used.
	l.done("10.0.0.2", "ALICE", true)
	if d := attempt(l, "10.0.0.3", "alice", false); d != 0 {
		t.Errorf("after a success: wait %v, want 0", d)
	}
	// Failures are forgotten after a quiet period.
	clk.advance(loginForgetAfter + time.Second)
	if d := attempt(l, "10.0.0.1", "carol", false); d != 0 {
		t.Errorf("after %v: wait %v, want 0", loginForgetAfter, d)
	}
}

// Attempts running at the same time count against each other, so parallel
// connections do not multiply an attacker's guesses.
func TestLoginLimiterConcurrentAttempts(t *testing.T) {
	l := newLoginLimiter(nil)
	attempt(l, "10.0.0.1", "alice", false)
	first := l.begin("10.0.0.1", "x1")
	second := l.begin("10.0.0.1", "x2")
	if first != 500*time.Millisecond || second != time.Second {
		t.Errorf("concurrent waits %v and %v, want 500ms and 1s", first, second)
	}
	l.done("10.0.0.1", "x1", false)
	l.done("10.0.0.1", "x2", false)
}

func TestLoginLimiterBounded(t *testing.T) {
	l := newLoginLimiter(nil)
	l.maxKeys = 50
	for i := range 500 {
		attempt(l, "10.0.0.1", fmt.Sprintf("user%d", i), false)
	}
	if n := len(l.records); n > 50 {
		t.Errorf("%d records, want at most 50", n)
	}
	// The attacker's IP keeps its record: it was in use when pruned, or
	// recreated with the next failure.
	if d := l.begin("10.0.0.1", "new"); d == 0 {
		t.Error("the flooding IP lost its failures")
	}
	l.done("10.0.0.1", "new", false)
}

// TestLoginDelayOverSMTP checks the server waits before checking a
// password after failures, and that the right password still works.
func TestLoginDelayOverSMTP(t *testing.T) {
	var mu sync.Mutex
	var waits []time.Duration
	h := newHarnessWith(t, harnessOpts{sleep: func(_ context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return nil
	}})
	c := dial(t, h, true)
	c.ok(250, "EHLO client.test")
	for range 3 {
		c.ok(535, "AUTH PLAIN "+plainIR(userName, "wrong"))
	}
	// A new connection from the same address is slowed down too.
	c2 := dial(t, h, true)
	c2.ok(250, "EHLO client.test")
	c2.ok(235, "AUTH PLAIN "+plainIR(userName, userPass))
	c.ok(535, "AUTH PLAIN "+plainIR(userName, "wrong again"))

	mu.Lock()
	got := slices.Clone(waits)
	mu.Unlock()
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("waits %v, want %v (none after the successful login)", got, want)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "delaying login") || strings.Contains(logs, "wrong again") {
		t.Errorf("log does not record the delay, or holds a password:\n%s", logs)
	}
}
