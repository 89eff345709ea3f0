package bridge_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/bridge"
	"github.com/mailbridge/mailbridge/upstream/mock"
)

// mappedKiB is how much of the file at path is resident in this process's
// mappings, as /proc/self/smaps counts it.
func mappedKiB(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	var kib int64
	in := false
	for sc := bufio.NewScanner(f); sc.Scan(); {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 5 && strings.Contains(fields[0], "-") {
			in = fields[len(fields)-1] == path
			continue
		}
		if in && len(fields) >= 2 && fields[0] == "Rss:" {
			n, _ := strconv.ParseInt(fields[1], 10, 64)
			kib += n
		}
	}
	return kib
}

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
	mapped := mappedKiB(t, caches[0])
	if mapped < 512 {
		t.Fatalf("%d KiB mapped after reading %d MiB: the measure does not work here", mapped, read>>20)
	}
	deadline := time.Now().Add(45 * time.Second)
	for mappedKiB(t, caches[0]) > mapped/4 {
		if time.Now().After(deadline) {
			t.Fatalf("%d KiB of the cache still mapped 45 s after reading %d MiB offline", mappedKiB(t, caches[0]), read>>20)
		}
		time.Sleep(time.Second)
	}
}
