package store

import (
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	bolt "go.etcd.io/bbolt"
)

func unindexedCount(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	must(t, s.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte(bktUnindexed)); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	}))
	return n
}

// An appended message is searchable once IndexAppended has run, and
// leaves no marker behind.
func TestAppendIndexedInBatch(t *testing.T) {
	s, _ := seeded(t)
	inbox := box(t, s, "INBOX")
	for i := range 3 {
		_, _, err := s.Append(inbox.ID, []byte("Subject: s\r\n\r\nquokka "+string(rune('a'+i))+"\r\n"), nil, time.Time{})
		must(t, err)
	}
	if n := unindexedCount(t, s); n != 3 {
		t.Fatalf("%d messages marked unindexed after APPEND, want 3", n)
	}
	must(t, s.IndexAppended())
	got, err := s.Search(inbox.ID, &imap.SearchCriteria{Body: []string{"quokka"}})
	must(t, err)
	if !slices.Equal(got, []uint32{1, 2, 3}) {
		t.Fatalf("search = %v, want [1 2 3]", got)
	}
	if n := unindexedCount(t, s); n != 0 {
		t.Fatalf("%d markers left", n)
	}
}

// A crash between APPEND and its batch loses no index terms: Open writes
// them from the marked messages' bodies.
func TestAppendIndexAfterCrash(t *testing.T) {
	s, path := seeded(t)
	inbox := box(t, s, "INBOX")
	_, _, err := s.Append(inbox.ID, []byte("Subject: s\r\n\r\nwallaby\r\n"), nil, time.Time{})
	must(t, err)
	// What a crash does: the queued batch is never written.
	s.idxq.mu.Lock()
	s.idxq.pending = nil
	s.idxq.timer.Stop()
	s.idxq.timer = nil
	s.idxq.mu.Unlock()
	must(t, s.Close())

	s = reopen(t, path)
	if n := unindexedCount(t, s); n != 0 {
		t.Fatalf("%d markers left after Open", n)
	}
	got, err := s.Search(inbox.ID, &imap.SearchCriteria{Body: []string{"wallaby"}})
	must(t, err)
	if !slices.Equal(got, []uint32{1}) {
		t.Fatalf("search after reopen = %v, want [1]", got)
	}
}

// An APPEND writes no parsed record: until its batch is written, readers
// get the parsed form from the queue, and then from the file.
func TestAppendParsedFromQueue(t *testing.T) {
	s, path := seeded(t)
	inbox := box(t, s, "INBOX")
	_, _, err := s.Append(inbox.ID, []byte("Subject: numbat\r\nFrom: a@b.test\r\n\r\nhi\r\n"), nil, time.Time{})
	must(t, err)
	id := entries(t, s, "INBOX")[0].MsgID
	stored := func() bool {
		var ok bool
		must(t, s.view(func(tx *bolt.Tx) error {
			ok = tx.Bucket([]byte(bktParsed)).Get(u64key(id)) != nil
			return nil
		}))
		return ok
	}
	subject := func() string {
		p, err := s.Parsed(id)
		must(t, err)
		return p.Envelope.Subject
	}
	if stored() || s.queuedParsed(id) == nil {
		t.Fatal("APPEND wrote the parsed record, or did not queue it")
	}
	if got := subject(); got != "numbat" {
		t.Fatalf("subject from the queue = %q", got)
	}
	must(t, s.IndexAppended())
	if !stored() || s.queuedParsed(id) != nil {
		t.Fatal("the batch did not write the parsed record, or left it queued")
	}
	if got := subject(); got != "numbat" {
		t.Fatalf("subject from the file = %q", got)
	}

	// A crash before the batch: Open writes it from the body.
	_, _, err = s.Append(inbox.ID, []byte("Subject: quoll\r\n\r\nhi\r\n"), nil, time.Time{})
	must(t, err)
	id = entries(t, s, "INBOX")[1].MsgID
	s.idxq.mu.Lock()
	s.idxq.pending = nil
	s.idxq.timer.Stop()
	s.idxq.timer = nil
	s.idxq.mu.Unlock()
	if got := subject(); got != "quoll" {
		t.Fatalf("subject with neither = %q", got)
	}
	must(t, s.Close())
	s = reopen(t, path)
	if !stored() || subject() != "quoll" {
		t.Fatal("Open did not write the parsed record of the unindexed message")
	}
}
