package bridge_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/bridge"
	"github.com/mailbridge/mailbridge/internal/rawimap"
	"github.com/mailbridge/mailbridge/upstream"
	"github.com/mailbridge/mailbridge/upstream/mock"
)

const (
	liveUser = "live@example.test"
	livePass = "live-upstream-password"
)

// runBridge starts a bridge on free ports over up and returns its client
// settings and a stop function that waits for Run to return.
func runBridge(t testing.TB, dir string, up upstream.Backend, add bool) (bridge.Info, *bridge.Bridge, func()) {
	t.Helper()
	return runBridgeWith(t, bridge.Options{DataDir: dir, Backend: up}, add)
}

// runBridgeWith is runBridge with more options; Ports are always free ones.
func runBridgeWith(t testing.TB, opts bridge.Options, add bool) (bridge.Info, *bridge.Bridge, func()) {
	t.Helper()
	opts.Ports = &bridge.Ports{}
	br, err := bridge.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if add {
		if _, err := br.AddAccount(ctx, liveUser, livePass, nil); err != nil {
			t.Fatal(err)
		}
	}
	ready := make(chan bridge.Info, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := br.Run(ctx, func(i bridge.Info) { ready <- i }); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	var info bridge.Info
	select {
	case info = <-ready:
	case <-time.After(time.Minute):
		t.Fatal("bridge not ready")
	}
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	if err := br.WaitSynced(wctx); err != nil {
		t.Fatalf("initial sync: %v", err)
	}
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); wg.Wait(); br.Close() }) }
	t.Cleanup(stop)
	return info, br, stop
}

func newMock(t testing.TB, n int) *mock.Server {
	t.Helper()
	up, err := mock.New(mock.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	if err := up.AddUser(mock.UserSpec{Username: liveUser, Password: livePass}); err != nil {
		t.Fatal(err)
	}
	if err := up.Seed(liveUser, n, 3); err != nil {
		t.Fatal(err)
	}
	return up
}

func login(t testing.TB, br *bridge.Bridge, info bridge.Info) *rawimap.Conn {
	t.Helper()
	c, err := rawimap.DialTLS(fmt.Sprintf("127.0.0.1:%d", info.IMAPS.Port), br.Cert().PEM())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	a := info.Accounts[0]
	if _, err := c.OK("LOGIN %s %s", a.Username, a.Password); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestNewUpstreamMailReachesIdle is the inbound path live: mail arriving
// upstream is synced, decrypted and announced to an idling client.
func TestNewUpstreamMailReachesIdle(t *testing.T) {
	up := newMock(t, 20)
	info, br, _ := runBridge(t, t.TempDir(), up, true)
	c := login(t, br, info)

	lines, err := c.OK("SELECT INBOX")
	if err != nil {
		t.Fatal(err)
	}
	exists := -1
	for _, l := range lines {
		if strings.HasSuffix(l, " EXISTS") {
			fmt.Sscanf(l, "* %d EXISTS", &exists)
		}
	}
	if exists < 0 {
		t.Fatalf("no EXISTS in %q", lines)
	}

	if err := c.Send("I1 IDLE"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitFor("+"); err != nil {
		t.Fatal(err)
	}
	msg := "From: Bob <bob@example.test>\r\nTo: " + liveUser + "\r\nSubject: Hot off the wire\r\n" +
		"Message-ID: <live-1@example.test>\r\nDate: Sun, 22 Nov 2026 10:00:00 +0000\r\n\r\nArrived while you were idling.\r\n"
	if _, err := up.Deliver(liveUser, []byte(msg), []string{upstream.Inbox}, mock.FormatPGPMIME); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("* %d EXISTS", exists+1)
	if _, err := c.WaitFor(want); err != nil {
		t.Fatalf("waiting for %q: %v", want, err)
	}
	if err := c.Send("DONE"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitFor("I1 OK"); err != nil {
		t.Fatal(err)
	}
	lines, err = c.OK("FETCH %d (BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT])", exists+1)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(lines, "\n")
	if !strings.Contains(got, "Subject: Hot off the wire") || !strings.Contains(got, "Arrived while you were idling.") {
		t.Fatalf("new message reads as:\n%s", got)
	}
}

// TestFlagChangeReachesUpstreamAndSurvivesRestart is the outbound path for
// client writes, and the cache's promise that UIDs and UIDVALIDITY do not
// change across a restart.
func TestFlagChangeReachesUpstreamAndSurvivesRestart(t *testing.T) {
	up := newMock(t, 20)
	dir := t.TempDir()
	info, br, stop := runBridge(t, dir, up, true)
	c := login(t, br, info)

	before, err := c.OK("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.OK("SELECT INBOX"); err != nil {
		t.Fatal(err)
	}
	lines, err := c.OK("UID STORE 1:* +FLAGS (\\Flagged)")
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) == 0 {
		t.Fatal("STORE reported no messages")
	}

	// The change goes upstream through the outbox, asynchronously.
	deadline := time.Now().Add(time.Minute)
	for {
		snap, err := up.Snapshot(liveUser)
		if err != nil {
			t.Fatal(err)
		}
		flagged, inbox := 0, 0
		for _, m := range snap.Messages {
			for _, id := range m.MailboxIDs {
				if id == upstream.Inbox {
					inbox++
					if m.Flags.Has(upstream.FlagFlagged) {
						flagged++
					}
				}
			}
		}
		if inbox > 0 && flagged == inbox {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("upstream has %d of %d inbox messages flagged", flagged, inbox)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.Close()
	stop()

	info, br, _ = runBridge(t, dir, up, false)
	c = login(t, br, info)
	after, err := c.OK("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY)")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(before, "") != strings.Join(after, "") {
		t.Fatalf("mailbox changed across restart:\nbefore %q\nafter  %q", before, after)
	}
	_, err = c.OK("EXAMINE INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if lines, err = c.OK("SEARCH UNFLAGGED"); err != nil || strings.TrimSpace(strings.Join(lines, "")) != "* SEARCH" {
		t.Fatalf("after restart, unflagged messages: %q %v", lines, err)
	}
}
