package bridge_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/bridge"
	"github.com/mailbridge/mailbridge/upstream/mock"
)

// BenchmarkAppendToUpstream is APPEND as the issue counts it: from one
// IMAP client over TLS until the message is stored upstream, encrypted
// to self. The clock runs until the outbox is empty and the mock holds
// every message, so ns/op is the end-to-end cost of one APPEND; the
// client's own rate (replies with APPENDUID) is reported beside it.
// The latency cases give every upstream call that much delay, like a
// provider across the internet.
func BenchmarkAppendToUpstream(b *testing.B) {
	for _, latency := range []time.Duration{0, 20 * time.Millisecond} {
		b.Run(fmt.Sprintf("latency=%v", latency), func(b *testing.B) {
			benchAppend(b, latency)
		})
	}
}

func benchAppend(b *testing.B, latency time.Duration) {
	up := newMock(b, 0)
	info, br, _ := runBridge(b, b.TempDir(), up, true)
	c := login(b, br, info)
	if _, err := c.OK("CREATE Bench"); err != nil {
		b.Fatal(err)
	}
	up.SetFaults(mock.Faults{Latency: latency})
	defer up.SetFaults(mock.Faults{})

	body := strings.Repeat("The appended message's body, about ten KiB of it in all.\r\n", 175)
	var clientTime time.Duration
	b.ResetTimer()
	for i := range b.N {
		msg := fmt.Sprintf("From: Live <%s>\r\nTo: Live <%s>\r\nSubject: appended %d\r\nMessage-ID: <append.%d@bench.test>\r\n"+
			"Date: Mon, 2 Mar 2026 10:00:00 +0000\r\n\r\n%s", liveUser, liveUser, i, i, body)
		if _, err := c.OK("APPEND Bench (\\Seen) {%d+}\r\n%s", len(msg), msg); err != nil {
			b.Fatal(err)
		}
	}
	clientTime = b.Elapsed()
	waitOutbox(b, br)
	b.StopTimer()
	if msgs, err := up.Messages(liveUser); err != nil || len(msgs) != b.N {
		b.Fatalf("upstream holds %d of %d appended messages (%v)", len(msgs), b.N, err)
	}
	b.ReportMetric(float64(b.N)/clientTime.Seconds(), "client-appends/s")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "upstream-appends/s")
}

// waitOutbox waits until the account has pushed every change upstream.
func waitOutbox(b *testing.B, br *bridge.Bridge) {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		st := br.Status()
		if len(st.Accounts) == 1 && st.Accounts[0].Outbox == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("outbox not drained: %+v", st.Accounts)
		}
		time.Sleep(time.Millisecond)
	}
}
