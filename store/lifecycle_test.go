package store

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/mailbridge/mailbridge/upstream"
)

// Deleted messages leave free pages; Compact gives them back and keeps
// everything else as it was.
func TestCompactReclaimsDeletedSpace(t *testing.T) {
	s, path := seeded(t)
	filler := bytes.Repeat([]byte("lorem ipsum dolor sit amet "), 400)
	var in []Incoming
	var ids []string
	for i := range 300 {
		id := fmt.Sprintf("m%03d", i)
		ids = append(ids, id)
		in = append(in, Incoming{Meta: upstream.MessageMeta{ID: id, MailboxIDs: []string{upstream.Inbox}},
			Body: fmt.Appendf(nil, "Subject: message %s\r\n\r\nbody of %s word%d\r\n%s", id, id, i, filler)})
	}
	must(t, s.Apply(Changes{Messages: in}))
	must(t, s.Apply(Changes{Deleted: ids[:250]}))
	sp, err := s.Space()
	must(t, err)
	if sp.FreeSize < sp.FileSize/2 {
		t.Errorf("after deleting 5/6 of the mail only %d of %d bytes are free", sp.FreeSize, sp.FileSize)
	}
	wantUIDs := uids(entries(t, s, "INBOX"))
	must(t, s.Close())

	before, after, err := Compact(path)
	must(t, err)
	t.Logf("compaction: %d -> %d bytes", before, after)
	if after >= before/2 {
		t.Errorf("compaction took %d bytes to %d", before, after)
	}
	if fi, _ := os.Stat(path); fi.Size() != after {
		t.Errorf("file is %d bytes, Compact said %d", fi.Size(), after)
	}
	s = reopen(t, path)
	if got := uids(entries(t, s, "INBOX")); !slices.Equal(got, wantUIDs) {
		t.Errorf("UIDs after compaction = %v, want %v", got, wantUIDs)
	}
	found, err := s.Search(box(t, s, "INBOX").ID, &imap.SearchCriteria{Body: []string{"word299"}})
	must(t, err)
	if !slices.Equal(found, []uint32{300}) {
		t.Errorf("search after compaction = %v", found)
	}
}

func TestReset(t *testing.T) {
	s, path := seeded(t)
	must(t, s.Apply(Changes{Messages: []Incoming{msg("a", "inbox")}}))
	must(t, s.Close())
	must(t, Reset(path))
	must(t, Reset(path)) // nothing left: still fine
	s = reopen(t, path)
	if ids, _ := s.MessageIDs(); len(ids) != 0 {
		t.Errorf("after Reset the cache holds %v", ids)
	}
	if cur, _ := s.Cursor(); cur != "" {
		t.Errorf("after Reset the cursor is %q", cur)
	}
}

func TestReleaseMemoryKeepsData(t *testing.T) {
	s, _ := seeded(t)
	must(t, s.Apply(Changes{Messages: []Incoming{msg("a", "inbox")}}))
	e := entries(t, s, "INBOX")[0]
	before, err := s.Body(e.MsgID)
	must(t, err)
	must(t, s.ReleaseMemory())
	after, err := s.Body(e.MsgID)
	must(t, err)
	if !bytes.Equal(before, after) {
		t.Fatal("the body changed after ReleaseMemory")
	}
	must(t, s.Apply(Changes{Messages: []Incoming{msg("b", "inbox")}}))
	wantBodies(t, s, "INBOX", "a", "b")
}
