package store

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailbridge/mailbridge/upstream"
)

// mappedKiB is how much of the file at path is resident in this process's
// mappings, as /proc/self/smaps counts it.
func mappedKiB(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	var kib int64
	in := false
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") {
			in = strings.HasSuffix(line, path)
			continue
		}
		if in && len(fields) >= 2 && fields[0] == "Rss:" {
			n, _ := strconv.ParseInt(fields[1], 10, 64)
			kib += n
		}
	}
	return kib
}

// Reading a lot through the mapping, by a search that confirms a phrase
// against every message or by fetching bodies, releases the mapped pages
// as it goes, so RSS does not wait for the account's idle round.
func TestReadingReleasesMappedPages(t *testing.T) {
	s, path := seeded(t)
	var in []Incoming
	for i := range 300 {
		in = append(in, Incoming{Meta: upstream.MessageMeta{ID: fmt.Sprintf("m%d", i), MailboxIDs: []string{upstream.Inbox}}, Body: textMessage(i)})
	}
	must(t, s.Apply(Changes{Messages: in}))
	inbox := box(t, s, "INBOX").ID
	readAll := func() {
		t.Helper()
		// A phrase of words every message has: each is confirmed.
		got, err := s.Search(inbox, &imap.SearchCriteria{Text: []string{"the lazy dog"}})
		must(t, err)
		if len(got) != len(in) {
			t.Fatalf("search found %d, want %d", len(got), len(in))
		}
		for _, e := range entries(t, s, "INBOX") {
			if _, err := s.Body(e.MsgID); err != nil {
				t.Fatal(err)
			}
		}
		for s.releasing.Load() {
			time.Sleep(time.Millisecond)
		}
	}

	must(t, s.ReleaseMemory())
	s.releaseAfter = 1 << 40
	readAll()
	kept := mappedKiB(t, path)
	if kept < 3*1024 { // 300 bodies of 10 KiB, read twice
		t.Fatalf("reading without releasing left %d KiB mapped: the measure does not work here", kept)
	}

	must(t, s.ReleaseMemory())
	s.releaseAfter = 256 << 10
	readAll()
	got := mappedKiB(t, path)
	t.Logf("mapped after reading: %d KiB without releasing, %d KiB with", kept, got)
	if got > 1024 {
		t.Errorf("after reading %d KiB, %d KiB stay mapped (without releasing: %d KiB)", 2*len(in)*10, got, kept)
	}
}
