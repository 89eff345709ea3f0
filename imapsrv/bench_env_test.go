package imapsrv

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/store"
	"github.com/mailbridge/mailbridge/upstream"
)

// The benchmarks share one server over one real store whose INBOX holds
// benchMessages() messages, built once per test binary with store.Apply
// in batches of 1,000 (what the syncer does) and closed by TestMain.

// benchMessagesEnv selects a bigger mailbox, e.g. 100000; the default is
// 10,000, like the numbers in the issue.
const benchMessagesEnv = "MAILBRIDGE_BENCH_MESSAGES"

func benchMessages() int {
	if n, err := strconv.Atoi(os.Getenv(benchMessagesEnv)); err == nil && n > 0 {
		return n
	}
	return 10000
}

// bigUID is the UID of the 100 KiB message: the last one of the INBOX.
type benchEnv struct {
	dir    string
	st     *store.Store
	srv    *Server
	addr   string
	roots  *x509.CertPool
	n      int    // messages in INBOX
	bigUID uint32 // the 100 KiB message
	done   chan error
}

var (
	benchOnce   sync.Once
	benchShared *benchEnv
	benchErr    error
)

// sharedBenchEnv returns the benchmarks' server, building it on first use.
func sharedBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	benchOnce.Do(func() { benchShared, benchErr = newBenchEnv(b, benchMessages()) })
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchShared
}

// closeBenchEnv stops the shared server, if a benchmark started it.
func closeBenchEnv() {
	if e := benchShared; e != nil {
		e.srv.Close()
		<-e.done
		e.st.Close()
		os.RemoveAll(e.dir)
	}
}

func newBenchEnv(b *testing.B, n int) (*benchEnv, error) {
	dir, err := os.MkdirTemp("", "imapsrv-bench")
	if err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	rand.Read(key)
	st, err := store.Open(store.Options{Path: filepath.Join(dir, "cache.db"), Key: key, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	e := &benchEnv{dir: dir, st: st, n: n, done: make(chan error, 1)}
	err = st.Apply(store.Changes{Mailboxes: []upstream.Mailbox{
		{ID: upstream.Inbox, Name: "Inbox", Kind: upstream.KindSystem},
		{ID: upstream.Archive, Name: "Archive", Kind: upstream.KindSystem},
		{ID: upstream.Sent, Name: "Sent", Kind: upstream.KindSystem},
		{ID: upstream.Trash, Name: "Trash", Kind: upstream.KindSystem},
		{ID: "lbl-bench", Name: "Bench", Kind: upstream.KindUser},
	}})
	if err != nil {
		return nil, err
	}
	start := time.Now()
	rng := mrand.New(mrand.NewPCG(1, 2))
	for i := 0; i < n; i += 1000 {
		var batch []store.Incoming
		for j := i; j < min(i+1000, n); j++ {
			body := benchMessage(rng, j, j == n-1)
			var flags upstream.Flags
			if rng.IntN(3) > 0 {
				flags |= upstream.FlagSeen
			}
			if rng.IntN(20) == 0 {
				flags |= upstream.FlagFlagged
			}
			batch = append(batch, store.Incoming{
				Meta: upstream.MessageMeta{ID: fmt.Sprintf("b%07d", j), MailboxIDs: []string{upstream.Inbox}, Flags: flags,
					Date: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(j) * time.Hour), Size: int64(len(body))},
				Body: body,
			})
		}
		if err := st.Apply(store.Changes{Messages: batch}); err != nil {
			return nil, fmt.Errorf("apply: %w", err)
		}
	}
	b.Logf("built a %d-message INBOX in %v", n, time.Since(start).Round(time.Millisecond))
	e.bigUID = uint32(n)

	cert := testCert(b)
	e.roots = x509.NewCertPool()
	e.roots.AppendCertsFromPEM(cert.PEM())
	e.srv = New(Options{Auth: testAuth{st}, TLSConfig: cert.TLSConfig()})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e.addr = l.Addr().String()
	go func() { e.done <- e.srv.ServeTLS(l) }()
	return e, nil
}

var (
	benchFirst = []string{"Anna", "Bernd", "Chloé", "Dmitri", "Eva", "François", "Günther", "Hana", "Ivan", "Jürgen", "Kim", "Lena"}
	benchLast  = []string{"Meier", "Novak", "O'Brien", "Petrov", "Quinn", "Rossi", "Schmidt", "Tanaka", "Ueda", "Vogel"}
	benchWords = strings.Fields(`the quarterly report budget meeting agenda invoice shipment delivery
		project timeline review draft contract signature holiday schedule conference travel expenses
		server outage incident postmortem release candidate feature request customer feedback survey
		lunch coffee weekend birthday party photos garden bicycle train ticket museum concert
		Grüße Straße Köln Zürich naïve café résumé`)
)

// benchMessage is a plausible message of 1-4 KiB, or of 100 KiB if big.
func benchMessage(rng *mrand.Rand, i int, big bool) []byte {
	first, last := benchFirst[rng.IntN(len(benchFirst))], benchLast[rng.IntN(len(benchLast))]
	words := func(n int) string {
		w := make([]string, n)
		for k := range w {
			w[k] = benchWords[rng.IntN(len(benchWords))]
		}
		return strings.Join(w, " ")
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "From: %s %s <%s.%d@example.com>\r\n", first, last, strings.ToLower(last), i%97)
	fmt.Fprintf(&sb, "To: Alice <alice@example.org>, team-%d@example.org\r\n", i%13)
	fmt.Fprintf(&sb, "Subject: %s %d\r\n", words(4), i)
	fmt.Fprintf(&sb, "Date: %s\r\n", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i)*time.Hour).Format(time.RFC1123Z))
	fmt.Fprintf(&sb, "Message-ID: <bench-%d@example.com>\r\n", i)
	sb.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	size := 1024 + rng.IntN(3072)
	if big {
		size = 100 << 10
	}
	for sb.Len() < size {
		sb.WriteString(words(12))
		sb.WriteString("\r\n")
	}
	return []byte(sb.String())
}

// benchClient is a minimal IMAP client for benchmarks: it sends one
// command and reads to its tagged reply, skipping literals.
type benchClient struct {
	conn net.Conn
	r    *bufio.Reader
	tag  int
}

func (e *benchEnv) dial(b *testing.B) *benchClient {
	b.Helper()
	conn, err := tls.Dial("tcp", e.addr, &tls.Config{RootCAs: e.roots, ServerName: "127.0.0.1"})
	if err != nil {
		b.Fatal(err)
	}
	c := &benchClient{conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}
	if _, err := c.r.ReadString('\n'); err != nil {
		b.Fatal(err)
	}
	if _, err := c.do("LOGIN " + testUser + " " + testPass); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return c
}

// do runs a command and returns how many untagged replies it got.
func (c *benchClient) do(cmd string) (int, error) {
	c.tag++
	tag := "t" + strconv.Itoa(c.tag)
	if _, err := io.WriteString(c.conn, tag+" "+cmd+"\r\n"); err != nil {
		return 0, err
	}
	return c.wait(tag)
}

func (c *benchClient) wait(tag string) (int, error) {
	untagged := 0
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return 0, err
		}
		if line[0] == '*' {
			untagged++
		}
		if l := literalSize(line); l > 0 {
			if _, err := c.r.Discard(l); err != nil {
				return 0, err
			}
			continue // the rest of the reply follows the literal
		}
		if len(line) > len(tag) && string(line[:len(tag)]) == tag && line[len(tag)] == ' ' {
			if !strings.HasPrefix(string(line[len(tag)+1:]), "OK") {
				return 0, fmt.Errorf("%s", strings.TrimSpace(string(line)))
			}
			return untagged, nil
		}
	}
}

// literalSize returns n if line ends with {n} (a literal follows).
func literalSize(line []byte) int {
	s := strings.TrimRight(string(line), "\r\n")
	if !strings.HasSuffix(s, "}") {
		return 0
	}
	i := strings.LastIndexByte(s, '{')
	if i < 0 {
		return 0
	}
	n, err := strconv.Atoi(s[i+1 : len(s)-1])
	if err != nil {
		return 0
	}
	return n
}

// latencies collects per-operation times for percentiles.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	pct := func(p float64) float64 {
		return float64(l[int(math.Ceil(p*float64(len(l))))-1].Nanoseconds())
	}
	b.ReportMetric(pct(0.50), "p50-ns")
	b.ReportMetric(pct(0.99), "p99-ns")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// rssMB is the process's resident set (server and benchmark client).
func rssMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

func newBenchRand() *mrand.Rand { return mrand.New(mrand.NewPCG(3, 4)) }

// dropIdleViews makes the next SELECT of any mailbox list it again.
func (e *benchEnv) dropIdleViews() {
	e.srv.mu.Lock()
	defer e.srv.mu.Unlock()
	for _, a := range e.srv.accounts {
		a.mu.Lock()
		a.dropIdleLocked()
		a.mu.Unlock()
	}
}
