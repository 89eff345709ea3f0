package bridge_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/bridge"
	"github.com/mailbridge/mailbridge/internal/procmem"
	"github.com/mailbridge/mailbridge/upstream/mock"
)

// A client reading a lot from the cache while the upstream is down still
// gets the cache's pages handed back: the account cares for its cache
// whether or not it has a session.
func TestReleaseWhileOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the account's 30 s check")
	}
	up := newMock(t, 200)
	dir := t.TempDir()
	_, _, stop := runBridge(t, dir, up, true)
	stop()

	up.SetFaults(mock.Faults{ErrorRate: 1})
	br, err := bridge.New(bridge.Options{DataDir: dir, Backend: up, Ports: &bridge.Ports{}})
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan bridge.Info, 1)
	var wg sync.WaitGroup
	wg.Go(func() { _ = br.Run(ctx, func(i bridge.Info) { ready <- i }) })
	defer wg.Wait()
	defer cancel()
	info := <-ready
	c := login(t, br, info)
	if _, err := c.OK("SELECT INBOX"); err != nil {
		t.Fatal(err)
	}
	caches, _ := filepath.Glob(filepath.Join(dir, "cache", "*.db"))
	if len(caches) != 1 {
		t.Fatalf("caches: %v", caches)
	}
	var read int
	for read < 80<<20 {
		lines, err := c.OK("FETCH 1:* BODY.PEEK[]")
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			read += len(l)
		}
	}
	if state := br.Status().Accounts[0].State; state == "online" {
		t.Fatalf("the account is %s; the test needs it offline", state)
	}
	resident := func() int64 {
		kib, err := procmem.MappedKiB(caches[0])
		if err != nil {
			t.Skip(err)
		}
		return kib
	}
	mapped := resident()
	if mapped < 512 {
		t.Fatalf("%d KiB mapped after reading %d MiB: the measure does not work here", mapped, read>>20)
	}
	deadline := time.Now().Add(45 * time.Second)
	for resident() > mapped/4 {
		if time.Now().After(deadline) {
			t.Fatalf("%d KiB of the cache still mapped 45 s after reading %d MiB offline", resident(), read>>20)
		}
		time.Sleep(time.Second)
	}
}
