package store

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mailbridge/mailbridge/upstream"
	"github.com/mailbridge/mailbridge/upstream/mock"
)

// textMessage is a ~10 KiB plain-text message like the sync benchmark's.
func textMessage(i int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Alice Liddell <alice@example.test>\r\nTo: Demo User <demo@example.test>\r\nSubject: Benchmark message %d\r\n"+
		"Date: Mon, 2 Mar 2026 10:00:00 +0000\r\nMessage-ID: <bench.%d@example.test>\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n\r\n", i, i)
	for b.Len() < 10<<10 {
		fmt.Fprintf(&b, "Line %d of message %d: the quick brown fox jumps over the lazy dog.\r\n", b.Len(), i)
	}
	return []byte(b.String())
}

// BenchmarkAnalyze is the per-message cost the sync's workers pay to
// parse and index a message.
func BenchmarkAnalyze(b *testing.B) {
	s, _ := openTest(b)
	seeds := mock.SeedMessages(200, 1, upstream.Address{Email: mock.DemoEmail, Name: "Demo User"})
	texts := make([][]byte, 200)
	for i := range texts {
		texts[i] = textMessage(i)
	}
	for _, c := range []struct {
		name string
		msg  func(i int) []byte
	}{
		{"text-10k", func(i int) []byte { return texts[i%len(texts)] }},
		{"seeded", func(i int) []byte { return seeds[i%len(seeds)].Raw }},
	} {
		b.Run(c.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				s.Analyze(c.msg(i))
				i++
			}
		})
	}
}
