package imapsrv

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a throttle clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestFailedLoginsAreThrottled(t *testing.T) {
	f := newFixture(t)
	clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	f.srv.throttle.now = clock.Now

	c := f.dialTLS()
	for i := range freeLogins {
		c.C("a" + itoa(i) + " LOGIN " + testUser + " guess" + itoa(i))
		c.NO("a" + itoa(i))
		c.checkCode(t, "AUTHENTICATIONFAILED")
	}
	// Locked: even the right password is refused, unchecked, here and on
	// a fresh connection, by LOGIN and AUTHENTICATE alike.
	c.C("b1 LOGIN " + testUser + " " + testPass)
	c.NO("b1")
	c.checkCode(t, "UNAVAILABLE")
	d := f.dialTLS()
	d.C("b2 AUTHENTICATE PLAIN " + plain(testUser, testPass))
	d.NO("b2")
	d.checkCode(t, "UNAVAILABLE")

	// Each further failure doubles the wait.
	clock.Advance(baseLoginWait)
	c.C("b3 LOGIN " + testUser + " guess")
	c.NO("b3")
	c.checkCode(t, "AUTHENTICATIONFAILED")
	clock.Advance(baseLoginWait)
	c.C("b4 LOGIN " + testUser + " " + testPass)
	c.NO("b4")
	c.checkCode(t, "UNAVAILABLE")

	// Once the wait is over, the right password works and clears the count.
	clock.Advance(baseLoginWait)
	c.C("b5 LOGIN " + testUser + " " + testPass)
	c.OK("b5")
	d.C("b6 LOGIN " + testUser + " guess")
	d.NO("b6")
	d.checkCode(t, "AUTHENTICATIONFAILED")
}

func TestThrottleKeys(t *testing.T) {
	clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	th := newThrottle()
	th.now = clock.Now

	// Failures for many accounts from one address lock the address.
	for i := range freeLogins {
		th.fail(addrKey("10.0.0.1"), userKey("user"+itoa(i)))
	}
	if th.wait(addrKey("10.0.0.1"), userKey("fresh")) == 0 {
		t.Error("address not locked after failures for several accounts")
	}
	if th.wait(addrKey("10.0.0.2"), userKey("user1")) != 0 {
		t.Error("another address locked for an account with one failure")
	}
	// Failures for one account from many addresses lock the account,
	// whatever the case of its name.
	for i := range freeLogins {
		th.fail(addrKey("10.1.0."+itoa(i)), userKey("Bob"))
	}
	if th.wait(addrKey("10.9.9.9"), userKey("bob")) == 0 {
		t.Error("account not locked after failures from several addresses")
	}
	// The delay is bounded.
	for range 100 {
		th.fail(userKey("bob"))
	}
	if w := th.wait(userKey("bob")); w <= 0 || w > maxLoginDelay {
		t.Errorf("wait after 100 failures: %v", w)
	}
	// Failures long ago do not count towards a new run.
	th.fail(userKey("carol"))
	clock.Advance(forgetLogins + time.Second)
	for range freeLogins - 1 {
		th.fail(userKey("carol"))
	}
	if th.wait(userKey("carol")) != 0 {
		t.Error("an old failure counted towards the lock")
	}
}

func TestLoginTimeout(t *testing.T) {
	f := newFixtureWith(t, func(o *Options) { o.LoginTimeout = 50 * time.Millisecond })
	// Logged in first: its timer, which would fire first, is stopped.
	in := f.login()

	// A busy client does not keep an unauthenticated connection open.
	c := f.dialTLS()
	c.conn.SetReadDeadline(time.Now().Add(20 * time.Second)) // a safety net only
	bye := false
	i := 0
	for ; !bye; i++ {
		if _, err := io.WriteString(c.conn, "n"+itoa(i)+" NOOP\r\n"); err != nil {
			break
		}
		for {
			l, err := c.r.ReadString('\n')
			if err != nil {
				t.Fatalf("connection ended without BYE: %v", err)
			}
			if strings.HasPrefix(l, "* BYE Login timeout") {
				bye = true
				break
			}
			if strings.HasPrefix(l, "n"+itoa(i)+" ") {
				break
			}
		}
	}
	// The timer's BYE can overtake the reply to the NOOP in flight, which
	// may still follow it; nothing else may, and the connection must end.
	inFlight := "n" + itoa(i-1) + " "
	for {
		l, err := c.r.ReadString('\n')
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("connection still open after BYE")
		}
		if err != nil {
			break
		}
		if !strings.HasPrefix(l, inFlight) {
			t.Fatalf("after BYE: %q", l)
		}
		inFlight = "\x00" // at most once
	}
	in.C("a NOOP")
	in.OK("a")
}
