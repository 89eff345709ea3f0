package syncer_test

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailbridge/mailbridge/store"
	"github.com/mailbridge/mailbridge/upstream"
	"github.com/mailbridge/mailbridge/upstream/mock"
)

// brokenFetch is a session whose GetMessage always fails for some IDs.
type brokenFetch struct {
	upstream.Session
	mu    sync.Mutex
	fail  map[string]bool
	calls map[string]int
}

func (b *brokenFetch) GetMessage(ctx context.Context, id string) (*upstream.Message, error) {
	b.mu.Lock()
	broken := b.fail[id]
	if broken {
		b.calls[id]++
	}
	b.mu.Unlock()
	if broken {
		return nil, upstream.Errorf(upstream.Temporary, "injected: this message never downloads")
	}
	return b.Session.GetMessage(ctx, id)
}

// A message that never downloads and one that does not decrypt are
// stored with an explanation and counted; the sync completes.
func TestBadMessagesDoNotBlock(t *testing.T) {
	e := newEnv(t, 20)
	ctx := context.Background()
	garbage, err := e.sess.Import(ctx, upstream.ImportRequest{
		Raw:        []byte("-----BEGIN PGP MESSAGE-----\n\nbm90IGEgcmVhbCBtZXNzYWdl\n-----END PGP MESSAGE-----\n"),
		MailboxIDs: []string{upstream.Inbox},
	})
	if err != nil {
		t.Fatal(err)
	}
	snap, _ := e.srv.Snapshot(user)
	var unfetchable string
	for _, m := range snap.Messages {
		if slices.Equal(m.MailboxIDs, []string{upstream.Inbox}) {
			unfetchable = m.ID
		}
	}
	bf := &brokenFetch{Session: e.sess, fail: map[string]bool{unfetchable: true}, calls: map[string]int{}}
	e.opts.Session = bf
	e.start(t)
	e.waitSynced(t)

	p := e.sy.Progress()
	if p.Failed != 2 || p.Done != 21 {
		t.Errorf("progress = %+v, want 2 failed of 21", p)
	}
	bodies := cachedBodies(t, e.st)
	if len(bodies) != 21 {
		t.Fatalf("cached %d messages, want 21", len(bodies))
	}
	for _, id := range []string{garbage.ID, unfetchable} {
		if !bytes.Contains(bodies[id], []byte("X-Mailbridge-Decryption: failed")) {
			t.Errorf("message %s has no explanation:\n%.300s", id, bodies[id])
		}
	}
	bf.mu.Lock()
	if n := bf.calls[unfetchable]; n == 0 || n > 10 {
		t.Errorf("the broken message was tried %d times", n)
	}
	bf.mu.Unlock()
	// The explanations are ordinary messages: searchable, and mail
	// arriving later is still applied.
	inbox := mailbox(t, e.st, "INBOX")
	found, err := e.st.Search(inbox.ID, &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "X-Mailbridge-Decryption", Value: "failed"}}})
	if err != nil || len(found) != 2 {
		t.Errorf("search for failed messages = %v, %v", found, err)
	}
	if _, err := e.srv.Deliver(user, []byte("Subject: later\r\n\r\nlater\r\n"), nil, mock.FormatPGPMIME); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the later message", func() bool { return len(cachedBodies(t, e.st)) == 22 })
}

// With the upstream down, client writes apply locally at once and wait
// in the outbox; when it is back, they drain.
func TestUpstreamDownThenBack(t *testing.T) {
	e := newEnv(t, 10)
	e.start(t)
	e.waitSynced(t)
	st := e.st
	e.srv.SetFaults(mock.Faults{ErrorRate: 1})

	inbox := mailbox(t, st, "INBOX")
	es, _ := st.Entries(inbox.ID)
	got, err := st.SetFlags(inbox.ID, []uint32{es[0].UID}, imap.StoreFlagsAdd, []string{`\Flagged`})
	if err != nil || len(got) != 1 || !containsFlag(got[0].Flags, `\Flagged`) {
		t.Fatalf("SetFlags = %+v, %v", got, err)
	}
	if _, _, err := st.Append(inbox.ID, []byte("Subject: offline\r\n\r\nwritten offline\r\n"), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateMailbox("Offline"); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.OutboxLen(); n != 3 {
		t.Fatalf("outbox holds %d ops, want 3", n)
	}
	waitFor(t, "a failed push", func() bool { return e.log.count("upstream write failed; will retry") > 0 })
	if n, _ := st.OutboxLen(); n != 3 {
		t.Fatalf("outbox holds %d ops while the upstream is down, want 3", n)
	}

	e.srv.SetFaults(mock.Faults{})
	state := converged(t, st, e.srv)
	if len(state) != 11 {
		t.Errorf("upstream has %d messages, want 11", len(state))
	}
	up, _ := st.UpstreamID(es[0].MsgID)
	if !state[up].flags.Has(upstream.FlagFlagged) {
		t.Errorf("the offline flag change did not arrive")
	}
	snap, _ := e.srv.Snapshot(user)
	if !hasLabel(snap, "Offline") {
		t.Errorf("the offline CREATE did not arrive")
	}
}

func containsFlag(flags []string, f string) bool {
	for _, x := range flags {
		if x == f {
			return true
		}
	}
	return false
}

func hasLabel(snap mock.Snapshot, name string) bool {
	for _, mb := range snap.Mailboxes {
		if mb.Name == name {
			return true
		}
	}
	return false
}

// A flag change queued for a message deleted upstream is dropped: the
// deletion wins on both sides.
func TestConflictDeletedUpstreamWithQueuedFlag(t *testing.T) {
	e := newEnv(t, 10)
	e.start(t)
	e.waitSynced(t)
	e.stop(t)

	inbox := mailbox(t, e.st, "INBOX")
	es, _ := e.st.Entries(inbox.ID)
	victim, _ := e.st.UpstreamID(es[0].MsgID)
	if _, err := e.st.SetFlags(inbox.ID, []uint32{es[0].UID}, imap.StoreFlagsAdd, []string{`\Flagged`}); err != nil {
		t.Fatal(err)
	}
	if err := e.sess.DeleteMessages(context.Background(), []string{victim}); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	state := converged(t, e.st, e.srv)
	if _, ok := state[victim]; ok {
		t.Errorf("the deleted message came back upstream")
	}
	if _, ok := cachedBodies(t, e.st)[victim]; ok {
		t.Errorf("the deleted message is still cached")
	}
}

// A mailbox renamed on both sides ends with the name that reached the
// upstream last: the local rename, pushed after the remote one.
func TestConflictRenamedOnBothSides(t *testing.T) {
	e := newEnv(t, 40)
	e.start(t)
	e.waitSynced(t)
	e.stop(t)

	if err := e.st.RenameMailbox("Work", "Local"); err != nil {
		t.Fatal(err)
	}
	if err := e.sess.RenameMailbox(context.Background(), mock.LabelWork, "Remote", ""); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	converged(t, e.st, e.srv)
	waitNames(t, e.st, e.srv)
	if _, err := e.st.MailboxByName("Local/Projects"); err != nil {
		t.Errorf("the child did not follow: %v", err)
	}
}

// A local rename onto a name taken upstream meanwhile is refused there:
// the cache takes the upstream's names back.
func TestConflictRenameRefused(t *testing.T) {
	e := newEnv(t, 40)
	e.start(t)
	e.waitSynced(t)
	e.stop(t)

	if err := e.st.RenameMailbox("Work/Projects", "Taken"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sess.CreateMailbox(context.Background(), "Taken", ""); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	converged(t, e.st, e.srv)
	waitNames(t, e.st, e.srv)
	if _, err := e.st.MailboxByName("Work/Projects"); err != nil {
		t.Errorf("the refused rename was not undone: %v", err)
	}
}

// waitNames waits until every user label has the same name on both sides.
func waitNames(t *testing.T, st *store.Store, srv *mock.Server) {
	t.Helper()
	var why string
	waitFor2(t, "mailbox names to agree", func() bool {
		snap, err := srv.Snapshot(user)
		if err != nil {
			why = err.Error()
			return false
		}
		local, err := st.Mailboxes()
		if err != nil {
			why = err.Error()
			return false
		}
		byID := map[string]string{}
		for _, mb := range local {
			byID[mb.UpstreamID] = mb.Name
		}
		for _, mb := range snap.Mailboxes {
			if mb.Kind == upstream.KindUser && byID[mb.ID] != mb.Name {
				why = mb.Name + " is " + byID[mb.ID] + " locally"
				return false
			}
		}
		return true
	}, func() string { return why })
}

// APPEND into Trash; the import reaches the upstream but its response is
// lost; the message is then expunged for good here before the import is
// pushed again. The upstream copy must go too, and the cache must not
// get it back.
func TestImportResponseLostThenExpunged(t *testing.T) {
	e := newEnv(t, 0)
	e.opts.PollTimeout = 100 * time.Millisecond
	e.start(t)
	e.waitSynced(t)
	trash, err := e.st.MailboxByName("Trash")
	if err != nil {
		t.Fatal(err)
	}
	e.srv.SetFaults(mock.Faults{DropRate: 1})
	time.Sleep(500 * time.Millisecond) // the long poll in flight ends
	if _, _, err := e.st.Append(trash.ID, []byte("Subject: x\r\n\r\nbody\r\n"), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the import upstream", func() bool { return len(upstreamState(t, e.srv)) == 1 })
	e.stop(t)
	e.srv.SetFaults(mock.Faults{})

	es, err := e.st.Entries(trash.ID)
	if err != nil || len(es) != 1 {
		t.Fatalf("%v %v", es, err)
	}
	upID, _ := e.st.UpstreamID(es[0].MsgID)
	n, _ := e.st.OutboxLen()
	t.Logf("before the expunge: upstream ID %q, outbox %d", upID, n)
	if _, err := e.st.SetFlags(trash.ID, []uint32{es[0].UID}, imap.StoreFlagsAdd, []string{`\Deleted`}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Expunge(trash.ID, nil); err != nil {
		t.Fatal(err)
	}

	e.start(t)
	waitFor(t, "the outbox to drain", func() bool { n, _ := e.st.OutboxLen(); return n == 0 })
	time.Sleep(2 * time.Second) // events
	up := upstreamState(t, e.srv)
	es, _ = e.st.Entries(trash.ID)
	if len(up) != 0 || len(es) != 0 {
		t.Errorf("upstream holds %v; Trash holds %d entries here", up, len(es))
	}
}
