package store

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailbridge/mailbridge/upstream"
	"github.com/mailbridge/mailbridge/upstream/mock"
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

// searchBenchN is the cache size of BenchmarkSearch: 10,000 unless
// MAILBRIDGE_BENCH_N says otherwise (100000 for the target).
func searchBenchN() int {
	if n, err := strconv.Atoi(os.Getenv("MAILBRIDGE_BENCH_N")); err == nil && n > 0 {
		return n
	}
	return 10000
}

// BenchmarkSearch answers SEARCH over a mailbox of seeded messages
// (realistic text, several languages) plus one with a unique word.
func BenchmarkSearch(b *testing.B) {
	n := searchBenchN()
	s, _ := seeded(b)
	me := upstream.Address{Email: mock.DemoEmail, Name: "Demo User"}
	msgs := mock.SeedMessages(n, 1, me)
	for start := 0; start < len(msgs); start += 1000 {
		end := min(start+1000, len(msgs))
		in := make([]Incoming, 0, end-start)
		var wg sync.WaitGroup
		ana := make([]*Analysis, end-start)
		for i := start; i < end; i++ {
			wg.Go(func() { ana[i-start] = s.Analyze(msgs[i].Raw) })
		}
		wg.Wait()
		for i := start; i < end; i++ {
			in = append(in, Incoming{Meta: upstream.MessageMeta{ID: msgs[i].ID, MailboxIDs: []string{upstream.Inbox}, Date: msgs[i].Date},
				Body: msgs[i].Raw, Analysis: ana[i-start]})
		}
		if err := s.Apply(Changes{Messages: in}); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Apply(Changes{Messages: []Incoming{{Meta: upstream.MessageMeta{ID: "unique", MailboxIDs: []string{upstream.Inbox}},
		Body: []byte("Subject: hello\r\n\r\nThe xylophonist arrives at noon.\r\n")}}}); err != nil {
		b.Fatal(err)
	}
	inbox := box(b, s, "INBOX").ID
	queries := []struct {
		name string
		c    imap.SearchCriteria
	}{
		{"text-rare-word", imap.SearchCriteria{Text: []string{"xylophonist"}}},
		{"text-common-word", imap.SearchCriteria{Text: []string{"weather"}}},
		{"text-phrase", imap.SearchCriteria{Text: []string{"the staging server"}}},
		// Common words, a phrase found nowhere: every message with all
		// three words is read to the end.
		{"text-absent-phrase", imap.SearchCriteria{Text: []string{"the staging budget"}}},
		{"body-phrase", imap.SearchCriteria{Body: []string{"the staging server"}}},
		{"from-address", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "alice@example.test"}}}},
		{"unseen-since", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}, Since: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}},
	}
	for _, q := range queries {
		b.Run(q.name, func(b *testing.B) {
			var hits int
			for b.Loop() {
				got, err := s.Search(inbox, &q.c)
				if err != nil {
					b.Fatal(err)
				}
				hits = len(got)
			}
			b.ReportMetric(float64(hits), "hits")
		})
	}
}
