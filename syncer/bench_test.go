package syncer_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/mailbridge/mailbridge/crypto"
	"github.com/mailbridge/mailbridge/store"
	"github.com/mailbridge/mailbridge/syncer"
	"github.com/mailbridge/mailbridge/upstream"
	"github.com/mailbridge/mailbridge/upstream/mock"
)

// benchN is the mailbox size of BenchmarkInitialSync: 10,000 unless
// MAILBRIDGE_BENCH_N says otherwise.
func benchN() int {
	if n, err := strconv.Atoi(os.Getenv("MAILBRIDGE_BENCH_N")); err == nil && n > 0 {
		return n
	}
	return 10000
}

// plain10k is a ~10 KiB text message.
func plain10k(i int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Alice Liddell <%s>\r\nTo: Demo User <%s>\r\nSubject: Benchmark message %d\r\n"+
		"Date: Mon, 2 Mar 2026 10:00:00 +0000\r\nMessage-ID: <bench.%d@example.test>\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n\r\n", mock.AliceEmail, mock.DemoEmail, i, i)
	for b.Len() < 10<<10 {
		fmt.Fprintf(&b, "Line %d of message %d: the quick brown fox jumps over the lazy dog.\r\n", b.Len(), i)
	}
	return []byte(b.String())
}

// seedBench stores n signed ~10 KiB Curve25519 PGP/MIME messages, encrypting
// on all cores.
func seedBench(b *testing.B, srv *mock.Server, n int) {
	alice := mock.AliceKey()
	pub, err := crypto.ArmorPublicKey(alice)
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.PublishKey(mock.AliceEmail, pub); err != nil {
		b.Fatal(err)
	}
	next := make(chan int)
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				if _, err := srv.DeliverSigned(user, plain10k(i), nil, mock.FormatPGPMIME, alice); err != nil {
					once.Do(func() { firstErr = err })
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
}

// BenchmarkInitialSync syncs a mailbox of benchN() messages from the
// in-process mock into a fresh cache per iteration, and reports the raw
// decrypt rate of the same messages on all cores next to it: the ratio
// is the pipeline's efficiency (target: at least 70%).
func BenchmarkInitialSync(b *testing.B) {
	n := benchN()
	srv := newMock(b, "", 0)
	seedBench(b, srv, n)
	sess := login(b, srv)

	dir := b.TempDir()
	var synced int
	var syncCPU, decryptCPU, decryptWall time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		// The machine's speed drifts (shared cores, boost clocks): a raw
		// decrypt pass before every sync, rather than one at the start,
		// keeps the ratio between the two honest.
		b.StopTimer()
		c0, w0 := cpuTime(), time.Now()
		rawDecrypt(b, srv, sess)
		decryptCPU += cpuTime() - c0
		decryptWall += time.Since(w0)
		b.StartTimer()

		path := filepath.Join(dir, fmt.Sprintf("cache-%d.db", i))
		st, err := store.Open(store.Options{Path: path, Key: cacheKey()})
		if err != nil {
			b.Fatal(err)
		}
		sy := syncer.New(syncer.Options{Session: sess, Store: st, Keys: keys(), Logger: slog.New(slog.DiscardHandler), MaxInFlight: benchInFlight()})
		c0 = cpuTime()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- sy.Run(ctx) }()
		<-sy.Synced()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		if p := sy.Progress(); p.Done != int64(n) || p.Failed != 0 {
			b.Fatalf("progress = %+v", p)
		}
		synced += n
		syncCPU += cpuTime() - c0
		b.StopTimer()
		st.Close()
		os.Remove(path)
		b.StartTimer()
	}
	rate := float64(synced) / b.Elapsed().Seconds()
	decryptRate := float64(synced) / decryptWall.Seconds()
	b.ReportMetric(rate, "msgs/s")
	b.ReportMetric(decryptRate, "decrypt-msgs/s")
	b.ReportMetric(100*rate/decryptRate, "%-of-decrypt")
	// CPU time per message is steadier than rates on a shared machine.
	b.ReportMetric(float64(syncCPU.Microseconds())/float64(synced), "sync-cpu-µs/msg")
	b.ReportMetric(float64(decryptCPU.Microseconds())/float64(synced), "decrypt-cpu-µs/msg")
}

// cpuTime is the process's user plus system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rawDecrypt decrypts (and verifies) every stored message on all cores,
// with sender keys already at hand: the ceiling for a sync.
func rawDecrypt(b *testing.B, srv *mock.Server, sess upstream.Session) {
	msgs, err := srv.Messages(user)
	if err != nil {
		b.Fatal(err)
	}
	armored, err := sess.PublicKeys(context.Background(), mock.AliceEmail)
	if err != nil {
		b.Fatal(err)
	}
	alice, err := crypto.ReadKeys(armored)
	if err != nil {
		b.Fatal(err)
	}
	lookup := func(string) openpgp.EntityList { return alice }
	mine := keys()
	next := make(chan int, 64)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				if res := crypto.Decrypt(msgs[i].Raw, mine, lookup); res.Failed {
					b.Errorf("message %d does not decrypt", i)
				}
			}
		})
	}
	for i := range msgs {
		next <- i
	}
	close(next)
	wg.Wait()
}

// BenchmarkChangeToWatch measures how long a message delivered upstream
// takes to reach a watcher of the store (an IDLE client's source).
func BenchmarkChangeToWatch(b *testing.B) {
	e := newEnv(b, 0)
	e.opts.Logger = slog.New(slog.DiscardHandler)
	e.start(b)
	e.waitSynced(b)
	archive := mailbox(b, e.st, "Archive").ID
	raw, err := crypto.EncryptMIME(plain10k(0), keys(), nil)
	if err != nil {
		b.Fatal(err)
	}
	added := make(chan struct{}, 1)
	stop := e.st.Watch(func(c store.Change) {
		if c.Kind == store.ChangeAdded && c.Mailbox == archive {
			select {
			case added <- struct{}{}:
			default:
			}
		}
	})
	defer stop()
	ctx := context.Background()
	for b.Loop() {
		if _, err := e.sess.Import(ctx, upstream.ImportRequest{Raw: raw, MailboxIDs: []string{upstream.Archive}}); err != nil {
			b.Fatal(err)
		}
		<-added
	}
}

func benchInFlight() int64 {
	n, _ := strconv.ParseInt(os.Getenv("MAILBRIDGE_BENCH_INFLIGHT"), 10, 64)
	return n
}
