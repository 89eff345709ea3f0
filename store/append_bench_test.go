package store

import (
	"testing"
	"time"
)

// BenchmarkAppend is one client's APPENDs of ~10 KiB, one at a time, as
// the store sees them. The disk bounds it: pages-written is the number of
// page writes per APPEND, each costing some 30 µs of the data sync here.
func BenchmarkAppend(b *testing.B) {
	s, _ := seeded(b)
	mb := box(b, s, "INBOX")
	msgs := make([][]byte, 64)
	for i := range msgs {
		msgs[i] = textMessage(i)
	}
	date := time.Unix(1700000000, 0)
	before := s.db.Stats()
	for i := 0; b.Loop(); i++ {
		if _, _, err := s.Append(mb.ID, msgs[i%len(msgs)], []string{`\Seen`}, date); err != nil {
			b.Fatal(err)
		}
	}
	after := s.db.Stats()
	d := after.Sub(&before)
	b.ReportMetric(float64(d.TxStats.GetWrite())/float64(b.N), "pages-written")
	b.ReportMetric(float64(d.TxStats.GetWriteTime().Microseconds())/float64(b.N), "write-µs")
}
