package store

import (
	"fmt"
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
