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
