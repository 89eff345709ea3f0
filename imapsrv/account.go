package imapsrv

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/mailbridge/mailbridge/store"
)

// account is the state the sessions of one account share: the views of
// the mailboxes they have selected, fed by the store's change stream, and
// who has seen which message as \Recent.
//
// mu is only ever held for short, non-blocking work: the store's Watch
// callback takes it, so nobody may call into the store while holding it.
type account struct {
	store  *store.Store
	logger *slog.Logger
	refs   int // sessions using this account; guarded by Server.mu

	stopWatch func()
	loadMu    sync.Mutex // serialises view loads

	mu      sync.Mutex
	views   map[uint64]*mailboxView
	loading map[uint64][]store.Change // changes that arrive while a view loads
	// recentNext is, per mailbox, the first UID no session has claimed as
	// \Recent yet. A mailbox missing from it appeared after the account
	// was opened: all of its messages are new.
	recentNext map[uint64]uint32
	// idle are views no session has selected, least recently released
	// first. They stay in views, kept current by the change stream, so
	// that selecting the mailbox again costs no listing of the store.
	idle []*mailboxView
}

// maxIdleViews is how many unselected mailbox views an account keeps.
// Clients switch among a few mailboxes (INBOX, Sent, Drafts, a folder or
// two); a view costs about 70 bytes a message.
const maxIdleViews = 6

func newAccount(st *store.Store, logger *slog.Logger) (*account, error) {
	a := &account{
		store:      st,
		logger:     logger,
		views:      make(map[uint64]*mailboxView),
		loading:    make(map[uint64][]store.Change),
		recentNext: make(map[uint64]uint32),
	}
	// Watch first, so nothing committed after the snapshot below is lost.
	a.stopWatch = st.Watch(a.onChange)
	mboxes, err := st.Mailboxes()
	if err != nil {
		a.stopWatch()
		return nil, fmt.Errorf("list mailboxes: %w", err)
	}
	a.mu.Lock()
	for _, m := range mboxes {
		// Mail that was there before the bridge started is not \Recent.
		if _, ok := a.recentNext[m.ID]; !ok {
			a.recentNext[m.ID] = m.UIDNext
		}
	}
	a.mu.Unlock()
	return a, nil
}

func (a *account) close() {
	a.stopWatch()
}

// onChange is the store's Watch callback. It runs in the committing
// goroutine and must not block: it only updates in-memory views and
// queues tracker updates.
func (a *account) onChange(c store.Change) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c.Kind == store.ChangeMailboxes {
		// An idle view may belong to a mailbox that is gone; they are
		// cheap to rebuild, so drop them rather than track which.
		a.dropIdleLocked()
		return
	}
	if pending, ok := a.loading[c.Mailbox]; ok {
		a.loading[c.Mailbox] = append(pending, c)
		return
	}
	if v := a.views[c.Mailbox]; v != nil {
		a.applyLocked(v, c)
	}
}

// acquireView returns the view of a mailbox, loading it from the store if
// no session has it selected yet. Release it with releaseView.
func (a *account) acquireView(mboxID uint64) (*mailboxView, error) {
	a.loadMu.Lock()
	defer a.loadMu.Unlock()

	a.mu.Lock()
	if v := a.views[mboxID]; v != nil {
		if v.refs == 0 {
			a.idle = slices.DeleteFunc(a.idle, func(x *mailboxView) bool { return x == v })
		}
		v.refs++
		a.mu.Unlock()
		return v, nil
	}
	a.loading[mboxID] = nil
	a.mu.Unlock()

	entries, err := a.store.Entries(mboxID)

	a.mu.Lock()
	defer a.mu.Unlock()
	pending := a.loading[mboxID]
	delete(a.loading, mboxID)
	if err != nil {
		return nil, fmt.Errorf("load mailbox: %w", err)
	}
	v := newMailboxView(mboxID, entries)
	// Changes committed while Entries ran may or may not be in the
	// snapshot; applying them is idempotent.
	for _, c := range pending {
		a.applyLocked(v, c)
	}
	v.refs = 1
	a.views[mboxID] = v
	return v, nil
}

func (a *account) releaseView(v *mailboxView) {
	a.mu.Lock()
	defer a.mu.Unlock()
	v.refs--
	if v.refs > 0 || a.views[v.id] != v {
		return
	}
	a.idle = append(a.idle, v)
	if len(a.idle) > maxIdleViews {
		old := a.idle[0]
		a.idle = slices.Delete(a.idle, 0, 1)
		delete(a.views, old.id)
	}
}

// dropIdleLocked forgets the views no session has selected.
func (a *account) dropIdleLocked() {
	for _, v := range a.idle {
		if a.views[v.id] == v {
			delete(a.views, v.id)
		}
	}
	a.idle = nil
}

// claimRecentLocked returns the UIDs of v that are \Recent for a session
// selecting it now. A read-write SELECT takes them: later sessions do not
// see them as \Recent (RFC 3501 section 2.3.2); EXAMINE only looks.
func (a *account) claimRecentLocked(v *mailboxView, readOnly bool) map[uint32]struct{} {
	next := a.recentNext[v.id] // 0 for a mailbox created since: all new
	recent := make(map[uint32]struct{})
	for i := len(v.uids) - 1; i >= 0 && v.uids[i] >= next; i-- {
		recent[v.uids[i]] = struct{}{}
	}
	if !readOnly && v.uidNext > next {
		a.recentNext[v.id] = v.uidNext
	}
	return recent
}

// fillView completes the view's partial entries, if it has any, with one
// listing of the mailbox read outside account.mu.
func (a *account) fillView(v *mailboxView) {
	a.mu.Lock()
	partial := v.partial
	a.mu.Unlock()
	if partial == 0 {
		return
	}
	entries, err := a.store.Entries(v.id)
	if err != nil {
		// The entries stay partial; commands treat them as gone.
		a.logger.Warn("imap: list mailbox", "err", err)
		return
	}
	a.mu.Lock()
	v.fillLocked(entries)
	a.mu.Unlock()
}
