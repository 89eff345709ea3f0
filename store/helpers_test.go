package store

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/upstream"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// openTest opens a store in a temp dir and closes it when the test ends.
func openTest(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cache.db")
	return reopen(t, path), path
}

func reopen(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(Options{Path: path, Key: testKey(7)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var systemBoxes = []upstream.Mailbox{
	{ID: upstream.Inbox, Name: "Inbox", Kind: upstream.KindSystem},
	{ID: upstream.Drafts, Name: "Drafts", Kind: upstream.KindSystem},
	{ID: upstream.Sent, Name: "Sent", Kind: upstream.KindSystem},
	{ID: upstream.Archive, Name: "Archive", Kind: upstream.KindSystem},
	{ID: upstream.Spam, Name: "Spam", Kind: upstream.KindSystem},
	{ID: upstream.Trash, Name: "Trash", Kind: upstream.KindSystem},
	{ID: "L1", Name: "Work", Kind: upstream.KindUser},
	{ID: "L2", Name: "Home", Kind: upstream.KindUser},
}

// seeded opens a store that knows the system labels plus Work and Home.
func seeded(t testing.TB) (*Store, string) {
	t.Helper()
	s, path := openTest(t)
	must(t, s.Apply(Changes{Mailboxes: systemBoxes}))
	return s, path
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func msg(id string, labels ...string) Incoming {
	return Incoming{
		Meta: upstream.MessageMeta{ID: id, MailboxIDs: labels, Date: time.Unix(1700000000, 0)},
		Body: fmt.Appendf(nil, "Subject: message %s\r\n\r\nbody of %s\r\n", id, id),
	}
}

func box(t testing.TB, s *Store, name string) Mailbox {
	t.Helper()
	mb, err := s.MailboxByName(name)
	if err != nil {
		t.Fatalf("MailboxByName(%q): %v", name, err)
	}
	return mb
}

func entries(t testing.TB, s *Store, name string) []Entry {
	t.Helper()
	es, err := s.Entries(box(t, s, name).ID)
	if err != nil {
		t.Fatalf("Entries(%q): %v", name, err)
	}
	return es
}

func uids(es []Entry) []uint32 {
	out := []uint32{}
	for _, e := range es {
		out = append(out, e.UID)
	}
	return out
}

// bodies returns the bodies listed in a mailbox, to see which messages it holds.
func bodies(t testing.TB, s *Store, name string) []string {
	t.Helper()
	out := []string{}
	for _, e := range entries(t, s, name) {
		b, err := s.Body(e.MsgID)
		if err != nil {
			t.Fatalf("Body(%d): %v", e.MsgID, err)
		}
		out = append(out, string(bytes.TrimPrefix(bytes.SplitN(b, []byte("\r\n"), 2)[0], []byte("Subject: message "))))
	}
	slices.Sort(out)
	return out
}

func wantBodies(t testing.TB, s *Store, name string, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	slices.Sort(want)
	if got := bodies(t, s, name); !slices.Equal(got, want) {
		t.Errorf("%s holds %q, want %q", name, got, want)
	}
}

func uidOf(t testing.TB, s *Store, mailbox, id string) uint32 {
	t.Helper()
	for _, e := range entries(t, s, mailbox) {
		b, err := s.Body(e.MsgID)
		must(t, err)
		if bytes.HasPrefix(b, []byte("Subject: message "+id+"\r\n")) {
			return e.UID
		}
	}
	t.Fatalf("message %s not in %s", id, mailbox)
	return 0
}

func pending(t testing.TB, s *Store) []Op {
	t.Helper()
	ops, err := s.PendingOps(100)
	must(t, err)
	return ops
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}

// recorder collects watched changes.
type recorder struct {
	mu      sync.Mutex
	changes []Change
}

func (r *recorder) add(c Change) {
	r.mu.Lock()
	r.changes = append(r.changes, c)
	r.mu.Unlock()
}

func (r *recorder) take() []Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.changes
	r.changes = nil
	return out
}

func (r *recorder) count(kind ChangeKind, mailbox uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.changes {
		if c.Kind == kind && (mailbox == 0 || c.Mailbox == mailbox) {
			n++
		}
	}
	return n
}

// CompleteOp is CompleteOps for one op.
func (s *Store) CompleteOp(seq uint64, upstreamID string) error {
	return s.CompleteOps([]Completed{{seq, upstreamID}})
}
