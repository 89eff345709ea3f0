package store

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailbridge/mailbridge/upstream"
)

// frozenV1 is a cache written by schema version 1, kept so that every
// later version proves it still opens and upgrades such a file.
// Regenerate it only when adding version 1 fixtures:
// MAILBRIDGE_WRITE_TESTDATA=1 go test -run TestWriteFrozenV1 ./store
const frozenV1 = "testdata/v1.db"

func TestWriteFrozenV1(t *testing.T) {
	if os.Getenv("MAILBRIDGE_WRITE_TESTDATA") == "" {
		t.Skip("set MAILBRIDGE_WRITE_TESTDATA=1 to rewrite " + frozenV1)
	}
	must(t, os.MkdirAll("testdata", 0o755))
	_ = os.Remove(frozenV1)
	s, err := Open(Options{Path: frozenV1, Key: testKey(7)})
	must(t, err)
	cur := "cursor-1"
	must(t, s.Apply(Changes{Mailboxes: systemBoxes, Messages: []Incoming{msg("a", "inbox", "L1"), msg("b", "inbox")}, Cursor: &cur}))
	inbox := box(t, s, "INBOX")
	_, err = s.SetFlags(inbox.ID, []uint32{1}, imap.StoreFlagsAdd, []string{`\Seen`, "$Frozen"})
	must(t, err)
	_, _, err = s.Append(inbox.ID, []byte("Subject: message c\r\n\r\n"), nil, time.Unix(1700000000, 0))
	must(t, err)
	must(t, s.Close())
}

func TestOpenFrozenV1(t *testing.T) {
	raw, err := os.ReadFile(frozenV1)
	must(t, err)
	path := filepath.Join(t.TempDir(), "v1.db")
	must(t, os.WriteFile(path, raw, 0o600))
	s := reopen(t, path)

	if cur, _ := s.Cursor(); cur != "cursor-1" {
		t.Fatalf("cursor = %q", cur)
	}
	es := entries(t, s, "INBOX")
	if !slices.Equal(uids(es), []uint32{1, 2, 3}) || !slices.Equal(es[0].Flags, []string{`\Seen`, "$Frozen"}) {
		t.Fatalf("INBOX = %+v", es)
	}
	wantBodies(t, s, "INBOX", "a", "b", "c")
	wantBodies(t, s, "Work", "a")
	ops := pending(t, s)
	if len(ops) != 2 || ops[0].Update.SetFlags != upstream.FlagSeen || ops[1].Kind != OpImport {
		t.Fatalf("ops = %+v", ops)
	}
	// Migration 2 parsed and indexed what version 1 had cached.
	p, err := s.Parsed(es[1].MsgID)
	must(t, err)
	if p.Envelope.Subject != "message b" {
		t.Errorf("migrated envelope = %+v", p.Envelope)
	}
	found, err := s.Search(box(t, s, "INBOX").ID, &imap.SearchCriteria{Body: []string{"body of b"}})
	must(t, err)
	if !slices.Equal(found, []uint32{2}) {
		t.Errorf("search after migration = %v", found)
	}
	// Still writable after the upgrade.
	must(t, s.Apply(Changes{Messages: []Incoming{msg("d", "inbox")}}))
	if uid := uidOf(t, s, "INBOX", "d"); uid != 4 {
		t.Fatalf("new UID = %d", uid)
	}
}
