package imapsrv

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The workload on a 10,000-message INBOX (see bench_env_test.go;
// MAILBRIDGE_BENCH_MESSAGES=100000 for the big variant). Each reports
// ns/op (one IMAP command over TLS, round trip included), ops/s, p50 and
// p99 latency, and the process's RSS.

// run times op b.N times on one connection.
func (e *benchEnv) run(b *testing.B, c *benchClient, op func(i int) string, check func(untagged int) bool) {
	b.Helper()
	lat := make(latencies, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		n, err := c.do(op(i))
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		if check != nil && !check(n) {
			b.Fatalf("%s: %d untagged replies", op(i), n)
		}
	}
	b.StopTimer()
	lat.report(b)
	b.ReportMetric(rssMB(), "MB-rss")
}

func selected(b *testing.B) (*benchEnv, *benchClient) {
	e := sharedBenchEnv(b)
	c := e.dial(b)
	if _, err := c.do("SELECT INBOX"); err != nil {
		b.Fatal(err)
	}
	return e, c
}

// BenchmarkSelect is a SELECT of a mailbox no session has selected, but
// that the account has selected before: its view is kept, current with
// the store's changes, so SELECT does not list the mailbox again.
func BenchmarkSelect(b *testing.B) {
	e := sharedBenchEnv(b)
	c := e.dial(b)
	e.run(b, c, func(i int) string {
		if i > 0 {
			c.do("UNSELECT")
		}
		return "SELECT INBOX"
	}, nil)
}

// BenchmarkSelectCold is the first SELECT of a mailbox: its entries are
// listed from the store each time.
func BenchmarkSelectCold(b *testing.B) {
	e := sharedBenchEnv(b)
	c := e.dial(b)
	e.run(b, c, func(i int) string {
		if i > 0 {
			c.do("UNSELECT")
			e.dropIdleViews()
		}
		return "SELECT INBOX"
	}, nil)
}

func BenchmarkUIDFetchFlags(b *testing.B) {
	e, c := selected(b)
	e.run(b, c, func(int) string { return "UID FETCH 1:* (FLAGS)" }, func(n int) bool { return n == e.n })
}

func BenchmarkFetchEnvelopeBodyStructure(b *testing.B) {
	e, c := selected(b)
	e.run(b, c, func(int) string { return "FETCH 1:1000 (ENVELOPE BODYSTRUCTURE)" }, func(n int) bool { return n == 1000 })
}

func BenchmarkSearchText(b *testing.B) {
	e, c := selected(b)
	e.run(b, c, func(int) string { return "SEARCH TEXT postmortem" }, func(n int) bool { return n == 1 })
}

func BenchmarkSearchFrom(b *testing.B) {
	e, c := selected(b)
	e.run(b, c, func(int) string { return "SEARCH FROM tanaka" }, func(n int) bool { return n == 1 })
}

// BenchmarkSearchMessageID looks one message up by its Message-ID, as
// clients do to find a copy they saved (and APPEND to Sent does).
func BenchmarkSearchMessageID(b *testing.B) {
	e, c := selected(b)
	cmd := "UID SEARCH HEADER Message-ID <bench-" + strconv.Itoa(e.n/2) + "@example.com>"
	e.run(b, c, func(int) string { return cmd }, func(n int) bool { return n == 1 })
}

func BenchmarkFetchBody100K(b *testing.B) {
	e, c := selected(b)
	b.SetBytes(100 << 10)
	cmd := "UID FETCH " + strconv.Itoa(int(e.bigUID)) + " (BODY.PEEK[])"
	e.run(b, c, func(int) string { return cmd }, func(n int) bool { return n == 1 })
}

// BenchmarkAppend appends to a user mailbox from one client. The cost of
// encrypting to self is not here: APPEND stores the plaintext and an
// OpImport in one transaction, and the syncer encrypts it when it pushes
// the outbox upstream (see the syncer's benchmarks).
func BenchmarkAppend(b *testing.B) {
	e := sharedBenchEnv(b)
	c := e.dial(b)
	msg := string(benchMessage(newBenchRand(), 1, false))
	cmd := "APPEND Bench (\\Seen) {" + strconv.Itoa(len(msg)) + "+}\r\n" + msg
	e.run(b, c, func(int) string { return cmd }, nil)
}

// BenchmarkConcurrentMixed has 10 clients on the same INBOX, each doing a
// mix of what a mail client does: flag syncs of recent mail, header and
// body fetches, searches, flag changes and NOOPs. ns/op is per command
// across all clients.
func BenchmarkConcurrentMixed(b *testing.B) {
	e := sharedBenchEnv(b)
	const clients = 10
	cs := make([]*benchClient, clients)
	for i := range cs {
		_, cs[i] = selected(b)
	}
	var next atomic.Int64
	lats := make([]latencies, clients)
	b.ResetTimer()
	var wg sync.WaitGroup
	for k, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := newBenchRand()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				uid := 1 + rng.IntN(e.n-1)
				var cmd string
				switch i % 10 {
				case 0, 1, 2:
					cmd = "UID FETCH " + strconv.Itoa(max(1, e.n-200)) + ":* (FLAGS)"
				case 3, 4:
					cmd = "UID FETCH " + strconv.Itoa(uid) + " (BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE)] RFC822.SIZE)"
				case 5, 6:
					cmd = "UID FETCH " + strconv.Itoa(uid) + " (BODY.PEEK[])"
				case 7:
					cmd = "UID SEARCH FROM rossi"
				case 8:
					cmd = "UID STORE " + strconv.Itoa(uid) + " +FLAGS.SILENT (\\Flagged)"
				default:
					cmd = "NOOP"
				}
				start := time.Now()
				if _, err := c.do(cmd); err != nil {
					b.Error(err)
					return
				}
				lats[k] = append(lats[k], time.Since(start))
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	var all latencies
	for _, l := range lats {
		all = append(all, l...)
	}
	all.report(b)
	b.ReportMetric(rssMB(), "MB-rss")
}
