package store

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	bolt "go.etcd.io/bbolt"
)

// frozenV2 is a cache written by schema version 2 (one index class for
// every header field), kept to prove that migration 3 adds the per-field
// terms to such a file. Regenerate it only when adding version 2 fixtures,
// with the code of version 2:
// MAILBRIDGE_WRITE_TESTDATA=1 go test -run TestWriteFrozenV2 ./store
const frozenV2 = "testdata/v2.db"

func TestWriteFrozenV2(t *testing.T) {
	if os.Getenv("MAILBRIDGE_WRITE_TESTDATA") == "" {
		t.Skip("set MAILBRIDGE_WRITE_TESTDATA=1 to rewrite " + frozenV2)
	}
	must(t, os.MkdirAll("testdata", 0o755))
	_ = os.Remove(frozenV2)
	s, err := Open(Options{Path: frozenV2, Key: testKey(8)})
	must(t, err)
	cur := "cursor-2"
	must(t, s.Apply(Changes{Mailboxes: systemBoxes, Messages: []Incoming{msg("a", "inbox"), msg("b", "inbox")}, Cursor: &cur}))
	inbox := box(t, s, "INBOX")
	raw := []byte("From: Hanako Tanaka <hanako@example.jp>\r\nTo: Bob Rossi <bob@example.org>\r\n" +
		"Cc: carol@example.net\r\nSubject: quarterly figures\r\n\r\nsee attached\r\n")
	_, _, err = s.Append(inbox.ID, raw, nil, time.Unix(1700000000, 0))
	must(t, err)
	must(t, s.Close())
}

func TestOpenFrozenV2(t *testing.T) {
	raw, err := os.ReadFile(frozenV2)
	must(t, err)
	path := filepath.Join(t.TempDir(), "v2.db")
	must(t, os.WriteFile(path, raw, 0o600))
	s, err := Open(Options{Path: path, Key: testKey(8)})
	must(t, err)
	t.Cleanup(func() { _ = s.Close() })

	inbox := box(t, s, "INBOX").ID
	search := func(c *imap.SearchCriteria) []uint32 {
		t.Helper()
		got, err := s.Search(inbox, c)
		must(t, err)
		return got
	}
	hdr := func(k, v string) *imap.SearchCriteria {
		return &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: k, Value: v}}}
	}
	for _, tc := range []struct {
		c    *imap.SearchCriteria
		want []uint32
	}{
		{hdr("From", "tanaka"), []uint32{3}},
		{hdr("To", "tanaka"), nil},
		{hdr("To", "ross"), []uint32{3}},
		{hdr("Cc", "carol"), []uint32{3}},
		{hdr("Subject", "quarterly fig"), []uint32{3}},
		{hdr("Subject", "hanako"), nil},
	} {
		if got := search(tc.c); !slices.Equal(got, tc.want) {
			t.Errorf("%+v = %v, want %v", tc.c.Header, got, tc.want)
		}
	}
	// The answer came from the per-field terms migration 3 wrote.
	must(t, s.view(func(tx *bolt.Tx) error {
		set, sure, err := s.candidates(tx, "tanaka", []byte{classFrom})
		if err != nil {
			return err
		}
		if set == nil || !sure {
			t.Errorf("no per-field index after migration: set %v sure %v", set, sure)
		}
		return nil
	}))
}
