//go:build unix

package imapsrv

import (
	"bufio"
	"crypto/tls"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The STARTTLS port's FETCH speed: since the front does STARTTLS, its
// connections write through a buffer above TLS, as implicit TLS ones do.
// cpu-us/op is the process's CPU time (server and client) per command,
// steadier than wall time on a shared machine.

func BenchmarkUIDFetchFlagsSTARTTLS(b *testing.B) {
	e := sharedBenchEnv(b)
	c := e.dialSTARTTLS(b)
	if _, err := c.do("SELECT INBOX"); err != nil {
		b.Fatal(err)
	}
	cpu := cpuTime()
	e.run(b, c, func(int) string { return "UID FETCH 1:* (FLAGS)" }, func(n int) bool { return n == e.n })
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-us/op")
}

func BenchmarkFetchEnvelopeSTARTTLS(b *testing.B) {
	e := sharedBenchEnv(b)
	c := e.dialSTARTTLS(b)
	if _, err := c.do("SELECT INBOX"); err != nil {
		b.Fatal(err)
	}
	cpu := cpuTime()
	e.run(b, c, func(int) string { return "FETCH 1:1000 (ENVELOPE BODYSTRUCTURE)" }, func(n int) bool { return n == 1000 })
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-us/op")
}

// dialSTARTTLS serves the benchmarks' server on a plain listener of its
// own and logs in there after STARTTLS.
func (e *benchEnv) dialSTARTTLS(b *testing.B) *benchClient {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go e.srv.Serve(l)
	b.Cleanup(func() { l.Close() })
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	r := bufio.NewReader(conn)
	if _, err := r.ReadString('\n'); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Write([]byte("s1 STARTTLS\r\n")); err != nil {
		b.Fatal(err)
	}
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "s1 OK") {
		b.Fatalf("STARTTLS: %q %v", line, err)
	}
	tc := tls.Client(conn, &tls.Config{RootCAs: e.roots, ServerName: "127.0.0.1"})
	c := &benchClient{conn: tc, r: bufio.NewReaderSize(tc, 64<<10)}
	if _, err := c.do("LOGIN " + testUser + " " + testPass); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tc.Close() })
	return c
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// The implicit TLS port, with the same CPU metric, for comparison.
func BenchmarkUIDFetchFlagsImplicitTLS(b *testing.B) {
	e, c := selected(b)
	cpu := cpuTime()
	e.run(b, c, func(int) string { return "UID FETCH 1:* (FLAGS)" }, func(n int) bool { return n == e.n })
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-us/op")
}
