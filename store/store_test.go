package store

import (
	"bytes"
	"encoding/binary"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/mailbridge/mailbridge/upstream"
)

func TestOpenCreatesAllMail(t *testing.T) {
	s, _ := openTest(t)
	ms, err := s.Mailboxes()
	must(t, err)
	if len(ms) != 1 || ms[0].Name != AllMailName || ms[0].Role != RoleAll || ms[0].UIDValidity == 0 || !ms[0].Subscribed {
		t.Fatalf("mailboxes of a new cache = %+v, want only All Mail", ms)
	}
	if cur, err := s.Cursor(); err != nil || cur != "" {
		t.Fatalf("Cursor = %q, %v; want empty", cur, err)
	}
}

func TestSystemMailboxes(t *testing.T) {
	s, _ := seeded(t)
	for name, role := range map[string]Role{"INBOX": RoleInbox, "Drafts": RoleDrafts, "Sent": RoleSent,
		"Archive": RoleArchive, "Spam": RoleSpam, "Trash": RoleTrash, "Work": RoleNone, "All Mail": RoleAll} {
		if mb := box(t, s, name); mb.Role != role {
			t.Errorf("%s role = %q, want %q", name, mb.Role, role)
		}
	}
	if box(t, s, "inbox").Name != "INBOX" {
		t.Error("INBOX is not found case-insensitively")
	}
	if _, err := s.MailboxByName("work"); err == nil {
		t.Error("user mailbox names must match exactly")
	}
}

func TestUIDValidityDistinctAndStable(t *testing.T) {
	s, path := seeded(t)
	ms, err := s.Mailboxes()
	must(t, err)
	seen := map[uint32]string{}
	for _, mb := range ms {
		if other, dup := seen[mb.UIDValidity]; dup {
			t.Errorf("%s and %s share UIDVALIDITY %d", mb.Name, other, mb.UIDValidity)
		}
		seen[mb.UIDValidity] = mb.Name
	}
	must(t, s.Apply(Changes{Mailboxes: systemBoxes, Messages: []Incoming{msg("a", "inbox")}}))
	must(t, s.Close())
	s = reopen(t, path)
	again, err := s.Mailboxes()
	must(t, err)
	for i := range ms {
		if again[i].ID != ms[i].ID || again[i].UIDValidity != ms[i].UIDValidity {
			t.Errorf("%s changed across apply and reopen: %+v -> %+v", ms[i].Name, ms[i], again[i])
		}
	}
}

func TestUIDsStableAcrossReopen(t *testing.T) {
	s, path := seeded(t)
	must(t, s.Apply(Changes{Messages: []Incoming{msg("a", "inbox"), msg("b", "inbox"), msg("c", "inbox", "L1")}}))
	before := entries(t, s, "INBOX")
	if got := uids(before); !slices.Equal(got, []uint32{1, 2, 3}) {
		t.Fatalf("INBOX UIDs = %v", got)
	}
	must(t, s.Close())

	s = reopen(t, path)
	after := entries(t, s, "INBOX")
	if !slices.EqualFunc(before, after, func(a, b Entry) bool { return a.UID == b.UID && a.MsgID == b.MsgID }) {
		t.Fatalf("entries changed across reopen: %+v -> %+v", before, after)
	}
	// Resync of the same messages must not renumber; new ones continue.
	must(t, s.Apply(Changes{Messages: []Incoming{msg("a", "inbox"), msg("d", "inbox")}}))
	if got := uids(entries(t, s, "INBOX")); !slices.Equal(got, []uint32{1, 2, 3, 4}) {
		t.Fatalf("INBOX UIDs after resync = %v, want 1..4", got)
	}
	if mb := box(t, s, "INBOX"); mb.UIDNext != 5 || mb.Messages != 4 {
		t.Fatalf("INBOX UIDNext/Messages = %d/%d, want 5/4", mb.UIDNext, mb.Messages)
	}
	// Removing the last message does not let a UID be reused.
	must(t, s.Apply(Changes{Deleted: []string{"d"}}))
	must(t, s.Apply(Changes{Messages: []Incoming{msg("e", "inbox")}}))
	if got := uidOf(t, s, "INBOX", "e"); got != 5 {
		t.Fatalf("UID of e = %d, want 5", got)
	}
}

func TestCursorAndMessageIDs(t *testing.T) {
	s, _ := seeded(t)
	cur := "ev-42"
	must(t, s.Apply(Changes{Messages: []Incoming{msg("a", "inbox"), msg("b", "L1")}, Cursor: &cur}))
	if got, err := s.Cursor(); err != nil || got != cur {
		t.Fatalf("Cursor = %q, %v", got, err)
	}
	ids, err := s.MessageIDs()
	must(t, err)
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"a", "b"}) {
		t.Fatalf("MessageIDs = %v", ids)
	}
	if ok, err := s.HasMessage("b"); err != nil || !ok {
		t.Fatalf("HasMessage(b) = %v, %v", ok, err)
	}
	if ok, _ := s.HasMessage("zz"); ok {
		t.Fatal("HasMessage of an unknown ID")
	}
}

func TestWrongKey(t *testing.T) {
	s, path := seeded(t)
	must(t, s.Close())
	_, err := Open(Options{Path: path, Key: testKey(8)})
	wantErr(t, err, ErrBadKey)
	if _, err := Open(Options{Path: path, Key: []byte("short")}); err == nil {
		t.Fatal("a short key was accepted")
	}
}

// The grep test: no mail content may be readable in the file.
func TestSealedAtRest(t *testing.T) {
	s, path := seeded(t)
	secrets := []string{"Zanzibarsubject", "quokkabody", "walrus@example.org", "Marmotlabel", "Narwhalkeyword", "Ocelotappended"}
	in := Incoming{
		Meta: upstream.MessageMeta{ID: "m1", MailboxIDs: []string{upstream.Inbox}},
		Body: []byte("From: Walrus <walrus@example.org>\r\nSubject: Zanzibarsubject\r\n\r\nquokkabody\r\n"),
	}
	must(t, s.Apply(Changes{Mailboxes: []upstream.Mailbox{{ID: "L9", Name: "Marmotlabel"}}, Messages: []Incoming{in}}))
	inbox := box(t, s, "INBOX")
	_, err := s.SetFlags(inbox.ID, []uint32{1}, imap.StoreFlagsAdd, []string{"Narwhalkeyword"})
	must(t, err)
	_, err = s.CreateMailbox("Marmotlabel/child")
	must(t, err)
	_, _, err = s.Append(inbox.ID, []byte("Subject: Ocelotappended\r\n\r\nx\r\n"), nil, time.Time{})
	must(t, err)
	must(t, s.Close())

	raw, err := os.ReadFile(path)
	must(t, err)
	for _, w := range secrets {
		if bytes.Contains(raw, []byte(w)) {
			t.Errorf("%q is readable in the cache file", w)
		}
	}
	// The upstream IDs may be clear: proof that the grep can succeed.
	if !bytes.Contains(raw, []byte("m1")) {
		t.Error("grep found not even the clear upstream ID; the test is broken")
	}
}

// A sealed value moved to another key must not open.
func TestSwappedValueFails(t *testing.T) {
	s, path := seeded(t)
	must(t, s.Apply(Changes{Messages: []Incoming{msg("a", "inbox"), msg("b", "inbox")}}))
	es := entries(t, s, "INBOX")
	must(t, s.Close())

	db, err := bolt.Open(path, 0o600, nil)
	must(t, err)
	must(t, db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bktBodies))
		v := slices.Clone(b.Get(u64key(es[0].MsgID)))
		return b.Put(u64key(es[1].MsgID), v)
	}))
	must(t, db.Close())

	s = reopen(t, path)
	if _, err := s.Body(es[0].MsgID); err != nil {
		t.Fatalf("untouched body: %v", err)
	}
	_, err = s.Body(es[1].MsgID)
	wantErr(t, err, ErrBadKey)
}

func TestNewerSchemaRefused(t *testing.T) {
	path2 := t.TempDir() + "/c.db"
	s := reopen(t, path2)
	must(t, s.Close())
	db, err := bolt.Open(path2, 0o600, nil)
	must(t, err)
	must(t, db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bktMeta)).Put(keyVersion, binary.BigEndian.AppendUint32(nil, 99))
	}))
	must(t, db.Close())
	if _, err := Open(Options{Path: path2, Key: testKey(7)}); err == nil {
		t.Fatal("a cache from a newer schema was opened")
	}
}

func TestMigrationsOrdered(t *testing.T) {
	ms := migrations()
	for i, m := range ms {
		if m.version != uint32(i+1) || m.up == nil {
			t.Fatalf("migration %d has version %d: versions must be 1, 2, 3... without gaps", i, m.version)
		}
	}
}

func TestWatchOrderAndStop(t *testing.T) {
	s, _ := seeded(t)
	var rec recorder
	stop := s.Watch(rec.add)
	inbox := box(t, s, "INBOX")

	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				in := msg(string(rune('a'+g))+string(rune('A'+i)), "inbox")
				if err := s.Apply(Changes{Messages: []Incoming{in}}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	var last uint32
	n := 0
	for _, c := range rec.take() {
		if c.Kind == ChangeAdded && c.Mailbox == inbox.ID {
			if c.UID <= last {
				t.Fatalf("INBOX UID %d reported after %d: changes out of commit order", c.UID, last)
			}
			last = c.UID
			n++
		}
	}
	if n != 100 {
		t.Fatalf("%d INBOX additions reported, want 100", n)
	}
	stop()
	must(t, s.Apply(Changes{Messages: []Incoming{msg("late", "inbox")}}))
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("changes after stop: %+v", got)
	}
}

func TestConcurrentReadersAndWriter(t *testing.T) {
	s, _ := seeded(t)
	must(t, s.Apply(Changes{Messages: []Incoming{msg("seed", "inbox")}}))
	inbox := box(t, s, "INBOX")
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				es, err := s.Entries(inbox.ID)
				if err != nil {
					t.Error(err)
					return
				}
				for _, e := range es {
					if _, err := s.Body(e.MsgID); err != nil {
						t.Error(err)
						return
					}
				}
				if _, err := s.Mailboxes(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := range 50 {
		must(t, s.Apply(Changes{Messages: []Incoming{msg(string(rune('A'+i%26))+string(rune('a'+i/26)), "inbox")}}))
		_, err := s.SetFlags(inbox.ID, []uint32{1}, imap.StoreFlagsAdd, []string{`\Seen`})
		must(t, err)
	}
	close(done)
	wg.Wait()
	if n := len(entries(t, s, "INBOX")); n != 51 {
		t.Fatalf("INBOX has %d messages, want 51", n)
	}
}
