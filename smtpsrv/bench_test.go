package smtpsrv

import (
	"bytes"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mailbridge/mailbridge/crypto"
)

// benchSetup starts a server whose fake upstream publishes a key for each
// of n recipients, and returns the recipients and a message of about size
// bytes. Key lookups are cached after the first message, as in a running
// bridge.
func benchSetup(b *testing.B, size, n int) (*harness, []string, []byte) {
	b.Helper()
	h := newHarness(b, 0)
	h.up.discard = true
	rcpts := make([]string, n)
	for i := range rcpts {
		rcpts[i] = fmt.Sprintf("rcpt%d@example.net", i)
		e, err := crypto.GenerateKey("Recipient", rcpts[i])
		if err != nil {
			b.Fatal(err)
		}
		pub, err := crypto.ArmorPublicKey(e)
		if err != nil {
			b.Fatal(err)
		}
		h.up.keys[rcpts[i]] = pub
	}
	var msg bytes.Buffer
	msg.WriteString("From: Alice <alice@example.org>\r\nTo: " + strings.Join(rcpts, ", ") + "\r\n")
	msg.WriteString("Subject: benchmark\r\nDate: Mon, 1 Jan 2024 12:00:00 +0000\r\n")
	msg.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
	line := strings.Repeat("lorem ipsum ", 6) + "\r\n"
	for msg.Len() < size {
		msg.WriteString(line)
	}
	return h, rcpts, msg.Bytes()
}

// benchClient returns an authenticated go-smtp client over implicit TLS.
func benchClient(h *harness) (*smtp.Client, error) {
	c, err := smtp.DialTLS(h.tlsAddr, h.clientTLS)
	if err != nil {
		return nil, err
	}
	if err := c.Auth(sasl.NewPlainClient("", userName, userPass)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// sendOne submits msg with a fresh Message-ID, so the upstream sees a new
// message each time, and returns when the server accepted it.
func sendOne(c *smtp.Client, rcpts []string, msg []byte, i int64) error {
	id := fmt.Sprintf("Message-ID: <bench-%d@example.org>\r\n", i)
	return c.SendMail(aliceAddr, rcpts, bytes.NewReader(append([]byte(id), msg...)))
}

var benchSizes = []struct {
	name  string
	bytes int
}{{"10KiB", 10 << 10}, {"1MiB", 1 << 20}}

// BenchmarkSubmit measures submit-to-accepted latency (ns/op) on one
// connection: MAIL, RCPT for every recipient, DATA, encryption to all
// recipients and the sender, the Sent copy, and the 250 reply.
func BenchmarkSubmit(b *testing.B) {
	for _, size := range benchSizes {
		for _, n := range []int{1, 5, 50} {
			b.Run(fmt.Sprintf("%s/rcpts=%d", size.name, n), func(b *testing.B) {
				h, rcpts, msg := benchSetup(b, size.bytes, n)
				c, err := benchClient(h)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				if err := sendOne(c, rcpts, msg, -1); err != nil { // warm the key cache
					b.Fatal(err)
				}
				b.SetBytes(int64(len(msg)))
				var i int64
				for b.Loop() {
					i++
					if err := sendOne(c, rcpts, msg, i); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}

// BenchmarkSubmitParallel measures throughput with several clients
// submitting at once, one connection each.
func BenchmarkSubmitParallel(b *testing.B) {
	for _, size := range benchSizes {
		for _, n := range []int{1, 5, 50} {
			b.Run(fmt.Sprintf("%s/rcpts=%d", size.name, n), func(b *testing.B) {
				h, rcpts, msg := benchSetup(b, size.bytes, n)
				warm, err := benchClient(h)
				if err != nil {
					b.Fatal(err)
				}
				err = sendOne(warm, rcpts, msg, -1) // warm the key cache
				warm.Close()
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(msg)))
				b.SetParallelism(2)
				var seq atomic.Int64
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					c, err := benchClient(h)
					if err != nil {
						b.Error(err)
						return
					}
					defer c.Close()
					for pb.Next() {
						if err := sendOne(c, rcpts, msg, seq.Add(1)); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}
