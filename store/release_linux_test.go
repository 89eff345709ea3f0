package store

import (
	"fmt"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/mailbridge/mailbridge/internal/procmem"
	"github.com/mailbridge/mailbridge/upstream"
)

// What reading adds to RSS is counted, and ReleaseMemory hands it back:
// the bridge releases an account's cache once reading has mapped in a
// lot, rather than waiting for its idle round.
func TestMappedReadReleased(t *testing.T) {
	s, path := seeded(t)
	var in []Incoming
	for i := range 300 {
		in = append(in, Incoming{Meta: upstream.MessageMeta{ID: fmt.Sprintf("m%d", i), MailboxIDs: []string{upstream.Inbox}}, Body: textMessage(i)})
	}
	must(t, s.Apply(Changes{Messages: in}))
	must(t, s.ReleaseMemory())
	if n := s.MappedRead(); n != 0 {
		t.Fatalf("MappedRead after a release = %d", n)
	}
	// A phrase of words every message has, so that each is confirmed
	// against its body, then every body fetched.
	got, err := s.Search(box(t, s, "INBOX").ID, &imap.SearchCriteria{Text: []string{"the lazy dog"}})
	must(t, err)
	if len(got) != len(in) {
		t.Fatalf("search found %d, want %d", len(got), len(in))
	}
	for _, e := range entries(t, s, "INBOX") {
		if _, err := s.Body(e.MsgID); err != nil {
			t.Fatal(err)
		}
	}
	mapped, err := procmem.MappedKiB(path)
	if err != nil {
		t.Skip(err)
	}
	read := s.MappedRead()
	if min := int64(2 * len(in) * len(in[0].Body)); read < min {
		t.Errorf("MappedRead = %d after reading every body twice, want at least %d", read, min)
	}
	if mapped < read/1024/2 {
		t.Fatalf("%d KiB mapped after reading %d KiB: the measure does not work here", mapped, read/1024)
	}
	must(t, s.ReleaseMemory())
	kib, _ := procmem.MappedKiB(path)
	if n := s.MappedRead(); n != 0 || kib > 64 {
		t.Errorf("after ReleaseMemory: MappedRead %d, %d KiB mapped (%d before)", n, kib, mapped)
	}
}
