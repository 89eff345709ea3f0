package syncer_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailbridge/mailbridge/store"
	"github.com/mailbridge/mailbridge/upstream"
	"github.com/mailbridge/mailbridge/upstream/mock"
)

// Every seeded message arrives once, with the content crypto.Decrypt
// gives, in the mailboxes of its labels.
func TestInitialSync(t *testing.T) {
	e := newEnv(t, 120)
	e.start(t)
	e.waitSynced(t)

	want := decryptAll(t, e.srv, e.sess)
	got := cachedBodies(t, e.st)
	if len(got) != len(want) {
		t.Fatalf("cached %d messages, upstream has %d", len(got), len(want))
	}
	for id, body := range want {
		if !bytes.Equal(got[id], body) {
			t.Fatalf("message %s differs from its decryption", id)
		}
	}
	converged(t, e.st, e.srv)
	p := e.sy.Progress()
	if p.Phase != "live" || p.Done != 120 || p.Total != 120 || p.Failed != 0 {
		t.Errorf("progress = %+v", p)
	}

	// A restart resumes live, without syncing again.
	e.stop(t)
	e.start(t)
	e.waitSynced(t)
	if n := e.log.count("sync started"); n != 1 {
		t.Errorf("%d syncs after a restart, want 1", n)
	}
}

// New mail upstream reaches a watcher of the store.
func TestLiveEvents(t *testing.T) {
	e := newEnv(t, 5)
	e.start(t)
	e.waitSynced(t)
	inbox := mailbox(t, e.st, "INBOX")

	added := make(chan store.Change, 16)
	stop := e.st.Watch(func(c store.Change) {
		if c.Kind == store.ChangeAdded && c.Mailbox == inbox.ID {
			added <- c
		}
	})
	defer stop()
	plain := []byte("From: alice@example.test\r\nSubject: live\r\n\r\nhello live\r\n")
	id, err := e.srv.Deliver(user, plain, nil, mock.FormatPGPMIME)
	if err != nil {
		t.Fatal(err)
	}
	c := <-added
	es, err := e.st.Entries(inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	last := es[len(es)-1]
	if last.UID != c.UID {
		t.Fatalf("added UID %d, last entry %d", c.UID, last.UID)
	}
	body, _ := e.st.Body(last.MsgID)
	if up, _ := e.st.UpstreamID(last.MsgID); up != id || !bytes.Contains(body, []byte("hello live")) {
		t.Fatalf("new message %s = %q", up, body)
	}
	converged(t, e.st, e.srv)
}

// Every kind of client write reaches the upstream once, and the echo of
// each is not applied a second time.
func TestOutboxPushes(t *testing.T) {
	e := newEnv(t, 30)
	e.start(t)
	e.waitSynced(t)
	st := e.st
	before := upstreamState(t, e.srv)

	var mu sync.Mutex
	added := map[uint64]int{}
	stop := st.Watch(func(c store.Change) {
		if c.Kind == store.ChangeAdded {
			mu.Lock()
			added[c.Mailbox]++
			mu.Unlock()
		}
	})
	defer stop()

	inbox := mailbox(t, st, "INBOX")
	es, _ := st.Entries(inbox.ID)
	if len(es) < 4 {
		t.Fatalf("INBOX has %d messages", len(es))
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := st.SetFlags(inbox.ID, []uint32{es[0].UID}, imap.StoreFlagsAdd, []string{`\Flagged`, `\Answered`})
	must(err)
	uid, _, err := st.Append(inbox.ID, []byte("Subject: appended\r\n\r\nappended here\r\n"), []string{`\Seen`}, es[0].Date)
	must(err)
	_, err = st.CreateMailbox("Projects/2026")
	must(err)
	proj := mailbox(t, st, "Projects/2026")
	_, _, err = st.Copy(inbox.ID, []uint32{es[1].UID, uid}, proj.ID)
	must(err)
	archive := mailbox(t, st, "Archive")
	_, _, err = st.Move(inbox.ID, []uint32{es[2].UID}, archive.ID)
	must(err)
	trash := mailbox(t, st, "Trash")
	_, _, err = st.Move(inbox.ID, []uint32{es[3].UID}, trash.ID)
	must(err)
	must(st.RenameMailbox("Projects", "Plans"))
	state := converged(t, st, e.srv)

	// Expunge from Trash deletes for good; deleting a label keeps mail.
	tes, _ := st.Entries(trash.ID)
	gone := tes[len(tes)-1]
	goneID, _ := st.UpstreamID(gone.MsgID)
	_, err = st.SetFlags(trash.ID, []uint32{gone.UID}, imap.StoreFlagsAdd, []string{`\Deleted`})
	must(err)
	_, err = st.Expunge(trash.ID, []uint32{gone.UID})
	must(err)
	must(st.DeleteMailbox("Plans/2026"))
	after := converged(t, st, e.srv)

	if _, ok := after[goneID]; ok {
		t.Errorf("expunged message %s is still upstream", goneID)
	}
	snap, _ := e.srv.Snapshot(user)
	names := map[string]string{}
	for _, mb := range snap.Mailboxes {
		names[mb.Name] = mb.ID
	}
	if _, ok := names["Plans"]; !ok || names["Projects"] != "" || names["Plans/2026"] != "" {
		t.Errorf("upstream labels = %v", slices.Sorted(maps.Keys(names)))
	}
	// One new message upstream, the appended one, stored once.
	if len(state) != len(before)+1 {
		t.Errorf("upstream has %d messages, want %d", len(state), len(before)+1)
	}
	var imported []string
	for id, s := range state {
		if _, old := before[id]; !old {
			imported = append(imported, id)
			if s.flags != upstream.FlagSeen {
				t.Errorf("appended message flags %v", s.flags)
			}
		}
	}
	if len(imported) != 1 {
		t.Fatalf("imported %v", imported)
	}
	bodies := cachedBodies(t, st)
	if !bytes.Contains(bodies[imported[0]], []byte("appended here")) {
		t.Errorf("the import is bound to the wrong message")
	}
	// The echoes added nothing: one ChangeAdded in INBOX for the append,
	// none from the import's echo.
	mu.Lock()
	defer mu.Unlock()
	if added[inbox.ID] != 1 {
		t.Errorf("INBOX saw %d additions, want 1", added[inbox.ID])
	}
}

// A lost cursor means a full resync: UIDVALIDITY and the UIDs of the
// messages still there stay, vanished ones go, new ones get new UIDs.
func TestRefreshKeepsUIDs(t *testing.T) {
	e := newEnv(t, 40)
	e.start(t)
	e.waitSynced(t)
	inbox := mailbox(t, e.st, "INBOX")
	uidOf := func() map[string]uint32 {
		es, err := e.st.Entries(inbox.ID)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]uint32{}
		for _, en := range es {
			up, _ := e.st.UpstreamID(en.MsgID)
			out[up] = en.UID
		}
		return out
	}
	old := uidOf()
	e.stop(t)

	// Changes the event stream will never tell: it is reset.
	ctx := context.Background()
	ids := slices.Sorted(maps.Keys(old))
	if err := e.sess.DeleteMessages(ctx, ids[:2]); err != nil {
		t.Fatal(err)
	}
	if err := e.sess.UpdateMessages(ctx, ids[2:3], upstream.Update{SetFlags: upstream.FlagFlagged}); err != nil {
		t.Fatal(err)
	}
	fresh, err := e.srv.Deliver(user, []byte("Subject: after refresh\r\n\r\nnew\r\n"), nil, mock.FormatWhole)
	if err != nil {
		t.Fatal(err)
	}
	e.srv.ForceRefresh(user)
	e.start(t)
	converged(t, e.st, e.srv)
	if n := e.log.count("event cursor expired; resyncing"); n != 1 {
		t.Fatalf("resyncs = %d, want 1", n)
	}

	if got := mailbox(t, e.st, "INBOX"); got.UIDValidity != inbox.UIDValidity {
		t.Errorf("UIDVALIDITY changed from %d to %d", inbox.UIDValidity, got.UIDValidity)
	}
	now := uidOf()
	for id, uid := range old {
		switch {
		case id == ids[0] || id == ids[1]:
			if _, ok := now[id]; ok {
				t.Errorf("deleted message %s still in INBOX", id)
			}
		case now[id] != uid:
			t.Errorf("message %s moved from UID %d to %d", id, uid, now[id])
		}
	}
	if now[fresh] < inbox.UIDNext {
		t.Errorf("new message got UID %d, below the old UIDNEXT %d", now[fresh], inbox.UIDNext)
	}
}

// With a fifth of the calls failing and rate limits on top, a sync of
// many messages and a stream of local changes still converge exactly.
func TestConvergesUnderFaults(t *testing.T) {
	n := 600
	if testing.Short() {
		n = 150
	}
	e := newEnv(t, n)
	e.srv.SetFaults(mock.Faults{ErrorRate: 0.2, RateLimitRate: 0.05, DropRate: 0.05, RetryAfter: 20e6})
	e.start(t)

	// Client writes while the sync runs.
	waitFor(t, "the mailboxes", func() bool { _, err := e.st.MailboxByName("INBOX"); return err == nil })
	inbox := mailbox(t, e.st, "INBOX")
	var appended int
	for i := range 10 {
		if _, _, err := e.st.Append(inbox.ID, fmt.Appendf(nil, "Subject: during %d\r\n\r\nx\r\n", i), nil, time.Time{}); err != nil {
			t.Fatal(err)
		}
		appended++
	}
	e.waitSynced(t)
	es, _ := e.st.Entries(inbox.ID)
	for i, en := range es {
		if i%3 == 0 {
			if _, err := e.st.SetFlags(inbox.ID, []uint32{en.UID}, imap.StoreFlagsAdd, []string{`\Seen`, `\Flagged`}); err != nil {
				t.Fatal(err)
			}
		}
	}
	state := converged(t, e.st, e.srv)
	if len(state) != n+appended {
		t.Errorf("upstream has %d messages, want %d", len(state), n+appended)
	}
	e.srv.SetFaults(mock.Faults{}) // for the test's own key lookups
	want := decryptAll(t, e.srv, e.sess)
	got := cachedBodies(t, e.st)
	for id, body := range want {
		if !bytes.Equal(got[id], body) {
			t.Fatalf("message %s differs from its decryption:\n%.600s\n----\n%.600s", id, got[id], body)
		}
	}
	if p := e.sy.Progress(); p.Failed != 0 {
		t.Logf("progress = %+v", p) // placeholders are allowed, but say so
	}
}
