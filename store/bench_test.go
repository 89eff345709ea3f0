package store

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/upstream"
)

func batch(n, size, start int) []Incoming {
	body := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	out := make([]Incoming, n)
	for i := range out {
		out[i] = Incoming{
			Meta: upstream.MessageMeta{ID: fmt.Sprintf("m%08d", start+i), MailboxIDs: []string{upstream.Inbox}, Date: time.Unix(1700000000, 0)},
			Body: body,
		}
	}
	return out
}

// BenchmarkApply stores 1,000 messages of 10 KiB per Changes (one op).
func BenchmarkApply(b *testing.B) {
	s, _ := seeded(b)
	n := 0
	b.SetBytes(1000 * 10 << 10)
	for b.Loop() {
		if err := s.Apply(Changes{Messages: batch(1000, 10<<10, n)}); err != nil {
			b.Fatal(err)
		}
		n += 1000
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkEntries lists a mailbox of 10,000 messages (SELECT).
func BenchmarkEntries(b *testing.B) {
	s, _ := seeded(b)
	for i := range 10 {
		if err := s.Apply(Changes{Messages: batch(1000, 1<<10, i*1000)}); err != nil {
			b.Fatal(err)
		}
	}
	id := box(b, s, "INBOX").ID
	for b.Loop() {
		es, err := s.Entries(id)
		if err != nil || len(es) != 10000 {
			b.Fatal(len(es), err)
		}
	}
}
