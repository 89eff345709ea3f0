package bridge_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/bridge"
	"github.com/mailbridge/mailbridge/upstream/mock"
)

// TestResetCacheRebuildsFromUpstream: --reset-cache gives a new cache
// (a new UIDVALIDITY tells clients to forget what they had) with the same
// mail in it.
func TestResetCacheRebuildsFromUpstream(t *testing.T) {
	up := newMock(t, 20)
	dir := t.TempDir()
	info, br, stop := runBridge(t, dir, up, true)
	c := login(t, br, info)
	before, err := c.OK("STATUS INBOX (MESSAGES UIDVALIDITY)")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	stop()

	info, br, _ = runBridgeWith(t, bridge.Options{DataDir: dir, Backend: up, ResetCache: true}, false)
	c = login(t, br, info)
	after, err := c.OK("STATUS INBOX (MESSAGES UIDVALIDITY)")
	if err != nil {
		t.Fatal(err)
	}
	msgs := func(l []string) string { return strings.Fields(strings.Join(l, ""))[4] }
	if msgs(before) != msgs(after) {
		t.Fatalf("message count changed: %q -> %q", before, after)
	}
	if strings.Join(before, "") == strings.Join(after, "") {
		t.Fatalf("UIDVALIDITY kept across a cache reset: %q", after)
	}
}

// TestResetCacheKeepsUnsentChanges: a cache whose outbox still holds a
// client's change is not thrown away; the daemon says why.
func TestResetCacheKeepsUnsentChanges(t *testing.T) {
	up := newMock(t, 5)
	dir := t.TempDir()
	info, br, stop := runBridge(t, dir, up, true)
	up.SetFaults(mock.Faults{ErrorRate: 1}) // the change cannot leave
	c := login(t, br, info)
	if _, err := c.OK("SELECT INBOX"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.OK("STORE 1 +FLAGS (\\Flagged)"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	stop()

	b, err := bridge.New(bridge.Options{DataDir: dir, Backend: up, Ports: &bridge.Ports{}, ResetCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = b.Run(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), "not yet sent") {
		t.Fatalf("Run with --reset-cache and a pending change: %v", err)
	}
}
