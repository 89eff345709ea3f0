package imapsrv

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailbridge/mailbridge/store"
)

var _ imapserver.SessionIMAP4rev2 = (*session)(nil)
var _ imapserver.SessionUnauthenticate = (*session)(nil)
var _ imapserver.SessionAppendLimit = (*session)(nil)

// session is one IMAP connection. go-imap calls its methods from the
// connection's goroutine, except Idle, which runs in a goroutine of its own
// while the connection waits for DONE; mu keeps the two apart.
type session struct {
	srv  *Server
	conn *imapserver.Conn

	// notify wakes Idle when the store changes the selected mailbox.
	notify chan struct{}
	// quota is the logged-in account if it knows its quota. It is read
	// without mu: the front reads it while go-imap writes, which Poll
	// does holding mu.
	quota atomic.Pointer[QuotaAccount]

	mu         sync.Mutex
	closed     bool
	acct       *account    // nil before login
	sel        *selection  // nil unless a mailbox is selected
	loginTimer *time.Timer // running while unauthenticated
}

// selection is a session's selected mailbox.
type selection struct {
	sess     *session
	mbox     store.Mailbox // as it was when selected
	view     *mailboxView
	tracker  *imapserver.SessionTracker
	readOnly bool

	// Guarded by account.mu.
	recent       map[uint32]struct{}    // UIDs that are \Recent for this session
	pendingFlags map[uint32][]imap.Flag // flag updates of \Recent messages
	// unreported bounds the expunges queued on the tracker that the
	// client may not have been told of: its messages are the view's it
	// knows of plus at most these.
	unreported uint32

	// Used by the connection's goroutine only.
	recentReported int         // last RECENT count sent
	searchRes      imap.UIDSet // SEARCH RETURN (SAVE) result, "$"
}

func newSession(srv *Server, conn *imapserver.Conn) *session {
	s := &session{srv: srv, conn: conn, notify: make(chan struct{}, 1)}
	s.startLoginTimer()
	return s
}

// startLoginTimer closes the connection unless it logs in in time: go-imap
// only times out silence, and a client trickling commands must not hold
// an unauthenticated connection open for ever.
func (s *session) startLoginTimer() {
	s.loginTimer = time.AfterFunc(s.srv.opts.LoginTimeout, func() {
		s.mu.Lock()
		expired := !s.closed && s.acct == nil
		s.mu.Unlock()
		if expired {
			s.srv.logger.Info("imap login timeout", "remote", s.remoteHost())
			s.conn.Bye("Login timeout")
		}
	})
}

// wake tells an idling session to poll; it never blocks.
func (s *session) wake() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (s *session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.loginTimer.Stop()
	s.logoutLocked()
	s.srv.sessions.Done()
	return nil
}

func (s *session) logoutLocked() {
	s.unselectLocked()
	if s.acct != nil {
		s.srv.releaseAccount(s.acct)
		s.acct = nil
		s.quota.Store(nil)
	}
}

func (s *session) Login(username, password string) error {
	// go-imap never sees TLS, which the front below it does, so it is
	// told to allow every login (Server.New): the front says whether
	// the client speaks TLS.
	if !isTLS(s.conn.NetConn()) {
		return &imap.Error{
			Type: imap.StatusResponseTypeNo,
			Code: imap.ResponseCodePrivacyRequired,
			Text: "TLS is required to authenticate",
		}
	}
	keys := []string{addrKey(s.remoteHost()), userKey(username)}
	if wait := s.srv.throttle.wait(keys...); wait > 0 {
		s.srv.logger.Info("imap login throttled", "user", username, "remote", s.remoteHost(), "wait", wait.Round(time.Second))
		return &imap.Error{
			Type: imap.StatusResponseTypeNo,
			Code: imap.ResponseCodeUnavailable,
			Text: fmt.Sprintf("Too many failed logins, try again in %d seconds", int(wait.Seconds())+1),
		}
	}
	acct, err := s.srv.opts.Auth.Authenticate(username, password)
	if err != nil {
		s.srv.throttle.fail(keys...)
		s.srv.logger.Info("imap login refused", "user", username, "remote", s.remoteHost(), "err", err)
		var imapErr *imap.Error
		if errors.As(err, &imapErr) {
			return imapErr
		}
		return imapserver.ErrAuthFailed
	}
	s.srv.throttle.succeed(keys...)
	a, err := s.srv.acquireAccount(acct.Store())
	if err != nil {
		s.srv.logger.Error("imap login: open account", "user", username, "err", err)
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable, Text: "Account unavailable, try again later"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loginTimer.Stop()
	s.acct = a
	if q, ok := acct.(QuotaAccount); ok {
		s.quota.Store(&q)
	}
	return nil
}

// remoteHost is the client's address without the port, what throttling
// counts failures against.
func (s *session) remoteHost() string {
	addr := s.conn.NetConn().RemoteAddr().String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

func (s *session) Unauthenticate() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logoutLocked()
	s.startLoginTimer()
	return nil
}

func (s *session) AppendLimit() uint32 { return s.srv.opts.AppendLimit }

func (s *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{
		Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: delim}},
	}, nil
}

func (s *session) Unselect() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unselectLocked()
	return nil
}

func (s *session) unselectLocked() {
	sel := s.sel
	if sel == nil {
		return
	}
	s.sel = nil
	a := s.acct
	a.mu.Lock()
	delete(sel.view.selections, sel)
	a.mu.Unlock()
	sel.tracker.Close()
	a.releaseView(sel.view)
}

func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pollLocked(w, allowExpunge)
}

func (s *session) pollLocked(w *imapserver.UpdateWriter, allowExpunge bool) error {
	sel := s.sel
	if sel == nil || s.closed {
		return nil
	}
	a := s.acct
	if allowExpunge {
		// Before the poll: an expunge queued meanwhile is counted even
		// if this poll reports it, so the bound stays a bound.
		a.mu.Lock()
		sel.unreported = 0
		a.mu.Unlock()
	}
	if err := sel.tracker.Poll(w, allowExpunge); err != nil {
		return err
	}

	type update struct {
		seq, uid uint32
		flags    []imap.Flag
	}
	var updates []update
	a.mu.Lock()
	for uid, flags := range sel.pendingFlags {
		i, ok := sel.view.index(uid)
		if !ok {
			delete(sel.pendingFlags, uid)
			continue
		}
		seq := sel.tracker.EncodeSeqNum(uint32(i) + 1)
		if seq == 0 {
			continue // not announced yet: keep it for a later poll
		}
		updates = append(updates, update{seq, uid, flags})
		delete(sel.pendingFlags, uid)
	}
	recent := len(sel.recent)
	a.mu.Unlock()

	slices.SortFunc(updates, func(x, y update) int { return int(x.seq) - int(y.seq) })
	for _, u := range updates {
		if err := w.WriteMessageFlags(u.seq, imap.UID(u.uid), u.flags); err != nil {
			return err
		}
	}
	if recent != sel.recentReported {
		sel.recentReported = recent
		if err := w.WriteNumRecent(uint32(recent)); err != nil {
			return err
		}
	}
	return nil
}

func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	// Drop a stale wake-up: everything before IDLE was already polled.
	select {
	case <-s.notify:
	default:
	}
	// The connection's reader is blocked waiting for DONE: nothing else
	// flushes what Poll writes.
	poll := func() error {
		if err := s.Poll(w, true); err != nil {
			return err
		}
		return flushConn(s.conn.NetConn())
	}
	if err := poll(); err != nil {
		return err
	}
	for {
		select {
		case <-stop:
			return nil
		case <-s.notify:
			if err := poll(); err != nil {
				return err
			}
		}
	}
}
