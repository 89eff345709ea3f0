package store

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/upstream"
)

// BenchmarkApplySync is the writer's side of an initial sync: 10,000
// analysed ~10 KiB text messages applied in batches of 1,000 to a fresh
// store. cpu-µs/msg is steadier than ns/op on a shared machine.
func BenchmarkApplySync(b *testing.B) {
	const n, per = 10000, 1000
	s0, _ := openTest(b)
	msgs := make([]Incoming, n)
	for i := range msgs {
		body := textMessage(i)
		msgs[i] = Incoming{
			Meta:     upstream.MessageMeta{ID: fmt.Sprintf("m%08d", i), MailboxIDs: []string{upstream.Inbox}, Date: time.Unix(1700000000, 0)},
			Body:     body,
			Analysis: s0.Analyze(body),
		}
	}
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		s, _ := seeded(b)
		b.StartTimer()
		c0 := cpuTime()
		for i := 0; i < n; i += per {
			if err := s.Apply(Changes{Messages: msgs[i : i+per]}); err != nil {
				b.Fatal(err)
			}
		}
		cpu += cpuTime() - c0
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*n), "cpu-µs/msg")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// distinctWords is a text/plain message of about size bytes of random
// five-letter words, nearly all distinct: the worst case for the index
// writer, which must add each to the vocabulary.
func distinctWords(size int) []byte {
	rng := rand.New(rand.NewPCG(9, 9))
	var b strings.Builder
	b.WriteString("Subject: words\r\nContent-Type: text/plain\r\n\r\n")
	for b.Len() < size {
		for range 5 {
			b.WriteByte(byte('a' + rng.IntN(26)))
		}
		if rng.IntN(12) == 0 {
			b.WriteString("\r\n")
		} else {
			b.WriteByte(' ')
		}
	}
	return []byte(b.String())
}

// BenchmarkApplyDistinctWords writes one 1 MiB message of ~170,000
// distinct words to a fresh store: linear in the words, or one hostile
// message stalls every writer.
func BenchmarkApplyDistinctWords(b *testing.B) {
	s0, _ := openTest(b)
	raw := distinctWords(1 << 20)
	a := s0.Analyze(raw)
	for b.Loop() {
		b.StopTimer()
		s, _ := seeded(b)
		b.StartTimer()
		must(b, s.Apply(Changes{Messages: []Incoming{{Meta: upstream.MessageMeta{ID: "x", MailboxIDs: []string{upstream.Inbox}}, Body: raw, Analysis: a}}}))
	}
}
