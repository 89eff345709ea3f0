package store

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	bolt "go.etcd.io/bbolt"
)

// Writes queued behind a commit go into one transaction; one of them
// failing rolls the group back, and each runs again on its own, so the
// others still succeed, once, and the failing one gets its own error.
func TestGroupCommitIsolatesErrors(t *testing.T) {
	s, _ := seeded(t)
	inbox, all := box(t, s, "INBOX"), box(t, s, AllMailName)
	const n = 10
	s.wmu.Lock() // as if a commit were running: the writes below queue up
	uids := make([]uint32, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			mb := inbox.ID
			if i == n/2 {
				mb = all.ID // refused
			}
			uids[i], _, errs[i] = s.Append(mb, fmt.Appendf(nil, "Subject: message %d\r\n\r\nbody\r\n", i), nil, time.Time{})
		})
	}
	waitQueued(t, s, n)
	s.wmu.Unlock()
	wg.Wait()

	var got []uint32
	for i, err := range errs {
		switch {
		case i == n/2:
			if !errors.Is(err, ErrNotAllowed) {
				t.Errorf("APPEND into All Mail: %v", err)
			}
		case err != nil:
			t.Errorf("APPEND %d: %v", i, err)
		default:
			got = append(got, uids[i])
		}
	}
	slices.Sort(got)
	es := entries(t, s, "INBOX")
	if len(es) != n-1 || len(slices.Compact(got)) != n-1 {
		t.Fatalf("UIDs %v, entries %+v", got, es)
	}
	for i, e := range es {
		if e.UID != got[i] {
			t.Fatalf("entry %d has UID %d; APPEND answered %v", i, e.UID, got)
		}
	}
	if ops := pending(t, s); len(ops) != n-1 {
		t.Fatalf("%d imports queued, want %d", len(ops), n-1)
	}
}

// Writes queued together commit together: one transaction, not one each.
func TestGroupCommitSharesTransaction(t *testing.T) {
	s, _ := seeded(t)
	inbox := box(t, s, "INBOX")
	lastTx := func() (id int) {
		must(t, s.view(func(tx *bolt.Tx) error { id = tx.ID(); return nil }))
		return id
	}
	before := lastTx()
	const n = 20
	s.wmu.Lock()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := s.SetFlags(inbox.ID, nil, imap.StoreFlagsAdd, []string{fmt.Sprintf("$K%d", i)}); err != nil {
				t.Error(err)
			}
		})
	}
	waitQueued(t, s, n)
	s.wmu.Unlock()
	wg.Wait()
	if commits := lastTx() - before; commits != 1 {
		t.Fatalf("%d writes took %d transactions", n, commits)
	}
}

// The cached mailbox records are what the last commit wrote: a write that
// changed one and rolled back leaves them, and the next write and every
// reader see the committed name.
func TestMailboxCacheFollowsCommits(t *testing.T) {
	s, path := seeded(t)
	inbox := box(t, s, "INBOX")
	boom := errors.New("boom")
	err := s.update(func(w *wtx) error {
		mb := w.mboxes[inbox.ID]
		mb.Name, mb.UIDNext = "Renamed", 999
		w.dirty[mb.ID] = true
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if got := box(t, s, "INBOX"); got != inbox {
		t.Fatalf("after a rollback: %+v, want %+v", got, inbox)
	}
	must(t, s.update(func(w *wtx) error {
		if w.mboxes[inbox.ID].Name != "INBOX" {
			t.Errorf("the next write sees %q", w.mboxes[inbox.ID].Name)
		}
		return nil
	}))
	_, err = s.CreateMailbox("Fresh")
	must(t, err)
	must(t, s.Close())
	s = reopen(t, path)
	if _, err := s.MailboxByName("Fresh"); err != nil {
		t.Fatalf("after reopening: %v", err)
	}
}

// A write that panics in a group (a message the parser chokes on, which
// go-imap and the account's goroutine recover from) panics in its own
// caller, and the other writes of the group are answered: they waited
// for ever when the committer, not they, ran the panicking function.
func TestGroupCommitPanicStaysWithItsWrite(t *testing.T) {
	s, _ := seeded(t)
	inbox := box(t, s, "INBOX")
	s.wmu.Lock()
	panicked := make(chan any, 1)
	innocent := make(chan error, 1)
	go func() {
		defer func() { panicked <- recover() }()
		s.update(func(w *wtx) error { panic("boom") })
	}()
	waitQueued(t, s, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				innocent <- fmt.Errorf("the innocent write panicked: %v", v)
			}
		}()
		innocent <- s.SetSubscribed(inbox.Name, false)
	}()
	waitQueued(t, s, 2)
	s.wmu.Unlock()
	select {
	case err := <-innocent:
		must(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the other write of the group never returned")
	}
	if v := <-panicked; v != "boom" {
		t.Errorf("the panicking write's caller recovered %v", v)
	}
	if box(t, s, "INBOX").Subscribed {
		t.Error("the innocent write did not commit")
	}
	// And alone.
	func() {
		defer func() {
			if v := recover(); v != "again" {
				t.Errorf("recovered %v", v)
			}
		}()
		s.update(func(w *wtx) error { panic("again") })
	}()
	must(t, s.SetSubscribed(inbox.Name, true))
}

func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		s.queueMu.Lock()
		q := len(s.queued)
		s.queueMu.Unlock()
		if q == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", q, n)
		}
	}
}
