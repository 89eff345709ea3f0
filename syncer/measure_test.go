package syncer_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailbridge/mailbridge/internal/procmem"
	"github.com/mailbridge/mailbridge/store"
	"github.com/mailbridge/mailbridge/syncer"
	"github.com/mailbridge/mailbridge/upstream/mock"
)

// TestMeasureScale measures the scale targets: peak RSS while
// syncing N seeded messages, idle RSS and restart time with N cached, and
// SEARCH TEXT over them. It is a measurement, not a test: it runs only
// with MAILBRIDGE_MEASURE=N (say 100000; seeding costs ~0.3 ms a message)
// and prints its numbers:
//
//	MAILBRIDGE_MEASURE=100000 go test -run TestMeasureScale -v -timeout 1h ./syncer
//
// RSS is split as /proc reports it: anonymous memory (heap, stacks) and
// the pages of the cache file mapped in; the mock upstream lives in the
// same process, so its file mapping is left out, and its own heap is
// counted in (so the numbers err on the high side).
func TestMeasureScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("MAILBRIDGE_MEASURE"))
	if n <= 0 {
		t.Skip("set MAILBRIDGE_MEASURE=100000 to measure")
	}
	dir := t.TempDir()
	srv := newMock(t, filepath.Join(dir, "mock"), 0)
	start := time.Now()
	for seed := int64(1); int(seed-1)*5000 < n; seed++ {
		if err := srv.Seed(user, min(5000, n-int(seed-1)*5000), seed); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("seeded %d messages in %v", n, time.Since(start).Round(time.Second))
	debug.FreeOSMemory()

	sess := login(t, srv)
	path := filepath.Join(dir, "cache.db")
	st, err := store.Open(store.Options{Path: path, Key: cacheKey()})
	if err != nil {
		t.Fatal(err)
	}
	sy := syncer.New(syncer.Options{Session: sess, Store: st, Keys: keys(), Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	base := readRSS(path)
	start = time.Now()
	go func() { done <- sy.Run(ctx) }()
	var peak rss
	tick := time.NewTicker(100 * time.Millisecond)
	lastLog := time.Now()
wait:
	for {
		select {
		case <-sy.Synced():
			break wait
		case <-tick.C:
			peak = peak.max(readRSS(path))
			if time.Since(lastLog) > 10*time.Second {
				p := sy.Progress()
				t.Logf("  %d/%d, ETA %v, %v", p.Done, p.Total, p.ETA.Round(time.Second), readRSS(path))
				lastLog = time.Now()
			}
		}
	}
	took := time.Since(start)
	tick.Stop()
	peak = peak.max(readRSS(path))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sp, _ := st.Space()
	st.Close()
	t.Logf("initial sync of %d: %v, %.0f msgs/s; RSS before %v; peak %v; cache file %d MiB",
		n, took.Round(time.Millisecond), float64(n)/took.Seconds(), base, peak, sp.FileSize>>20)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart and idle in a fresh process, as the daemon would.
	cmd := exec.Command(os.Args[0], "-test.run=^TestMeasureIdle$", "-test.v")
	cmd.Env = append(os.Environ(), "MAILBRIDGE_MEASURE_IDLE="+dir)
	out, err := cmd.CombinedOutput()
	t.Logf("restarted process:\n%s", out)
	if err != nil {
		t.Fatal(err)
	}
}

// TestMeasureIdle is TestMeasureScale's restarted process.
func TestMeasureIdle(t *testing.T) {
	dir := os.Getenv("MAILBRIDGE_MEASURE_IDLE")
	if dir == "" {
		t.Skip("run by TestMeasureScale")
	}
	path := filepath.Join(dir, "cache.db")
	start := time.Now()
	st, err := store.Open(store.Options{Path: path, Key: cacheKey()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	inbox, err := st.MailboxByName("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	es, err := st.Entries(inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("restart: open + LIST + SELECT INBOX (%d messages) in %v", len(es), time.Since(start).Round(time.Microsecond))

	all, _ := st.MailboxByName(store.AllMailName)
	// The first pass reads the file from the page cache or the disk and
	// loads the vocabulary; the second shows a daemon that has run a while.
	for _, pass := range []string{"cold", "warm"} {
		for _, q := range []string{"xylophonist", "weather", "zürich", "the staging server", "the staging budget"} {
			start = time.Now()
			got, err := st.Search(all.ID, &imap.SearchCriteria{Text: []string{q}})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: SEARCH TEXT %q in All Mail (%d messages): %d hits in %v", pass, q, all.Messages, len(got), time.Since(start).Round(time.Microsecond))
		}
	}

	srv, err := mock.New(mock.Options{Dir: filepath.Join(dir, "mock")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	sess := login(t, srv)
	sy := syncer.New(syncer.Options{Session: sess, Store: st, Keys: keys(), Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sy.Run(ctx) }()
	<-sy.Synced()
	time.Sleep(3 * time.Second)
	runtime.GC()
	t.Logf("idle, live, after SEARCH: %v", readRSS(path))
	debug.FreeOSMemory()
	t.Logf("idle after returning freed memory to the OS: %v", readRSS(path))
	if err := st.ReleaseMemory(); err != nil {
		t.Fatal(err)
	}
	t.Logf("idle after store.ReleaseMemory: %v", readRSS(path))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// rss is a process's resident memory, in KiB.
type rss struct {
	anon, file, cache int64 // anonymous; file-backed; of which the cache file
}

func (r rss) String() string {
	return fmt.Sprintf("anon %d MiB + cache file %d MiB (all file-backed %d MiB)", r.anon>>10, r.cache>>10, r.file>>10)
}

func (r rss) max(o rss) rss {
	return rss{anon: max(r.anon, o.anon), file: max(r.file, o.file), cache: max(r.cache, o.cache)}
}

// readRSS reads /proc/self/status and the cache file's mapping in
// /proc/self/smaps.
func readRSS(cachePath string) rss {
	var r rss
	if f, err := os.Open("/proc/self/status"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ":")
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			switch k {
			case "RssAnon":
				r.anon = kb
			case "RssFile":
				r.file = kb
			}
		}
		f.Close()
	}
	r.cache, _ = procmem.MappedKiB(cachePath)
	return r
}
