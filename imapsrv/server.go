// Package imapsrv is mailbridge's IMAP server: go-imap v2 sessions that read
// and write an account's local cache (package store) and never talk to the
// upstream themselves. Writes go into the store's outbox in the same
// transaction as the local change; the syncer pushes them upstream.
//
// Changes the store reports (new mail from the upstream, flag changes and
// expunges, also those made by other sessions) reach selected sessions as
// untagged EXISTS/FETCH/EXPUNGE replies through go-imap's MailboxTracker and
// SessionTracker, one MailboxTracker per selected store mailbox per account.
package imapsrv

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailbridge/mailbridge/store"
)

// DefaultAppendLimit is the largest message APPEND accepts when
// Options.AppendLimit is zero.
const DefaultAppendLimit = 64 << 20

// DefaultLoginTimeout is how long a connection may stay unauthenticated
// when Options.LoginTimeout is zero.
const DefaultLoginTimeout = time.Minute

// Account is a logged-in mailbridge account as the IMAP server sees it.
type Account interface {
	// Store returns the account's local cache. Every Account of the same
	// mail account must return the same *store.Store: sessions of one
	// account share their mailbox trackers through it.
	Store() *store.Store
}

// Authenticator checks the credentials a mail client presents.
type Authenticator interface {
	// Authenticate checks a client's username and the per-account client
	// password (never the upstream one). Any error refuses the login; an
	// *imap.Error is sent to the client as it is, anything else becomes
	// NO [AUTHENTICATIONFAILED].
	Authenticate(username, password string) (Account, error)
}

// Options configures a Server.
type Options struct {
	// Auth checks logins. Required.
	Auth Authenticator
	// TLSConfig serves STARTTLS on plain listeners and implicit TLS in
	// ServeTLS. Without it, Serve cannot authenticate anybody.
	TLSConfig *tls.Config
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
	// AppendLimit is the largest message APPEND accepts, in bytes
	// (DefaultAppendLimit if zero).
	AppendLimit uint32
	// LoginTimeout is how long a connection may stay unauthenticated,
	// however busy it keeps, before it is closed (DefaultLoginTimeout if
	// zero). go-imap itself closes a connection that sends nothing for
	// 30 seconds before login, or 35 minutes after it (RFC 9051 asks for
	// at least 30), and allows 5 minutes per literal.
	LoginTimeout time.Duration
}

// Server serves IMAP over the stores of the accounts that log in.
// Its methods are safe for concurrent use.
type Server struct {
	opts     Options
	logger   *slog.Logger
	imap     *imapserver.Server // behind the front of every listener
	throttle *throttle

	done chan struct{} // closed when the first Shutdown or Close returns

	mu        sync.Mutex
	closed    bool // a Shutdown or Close has begun
	accounts  map[*store.Store]*account
	listeners map[net.Listener]struct{}
	conns     map[*liveConn]*imapserver.Conn // of the sessions not yet closed
	sessions  sync.WaitGroup                 // sessions not yet closed
}

// New returns a server; it starts serving when Serve or ServeTLS is called.
func New(opts Options) *Server {
	if opts.AppendLimit == 0 {
		opts.AppendLimit = DefaultAppendLimit
	}
	if opts.LoginTimeout == 0 {
		opts.LoginTimeout = DefaultLoginTimeout
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts:      opts,
		logger:    logger,
		accounts:  make(map[*store.Store]*account),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*liveConn]*imapserver.Conn),
		done:      make(chan struct{}),
		throttle:  newThrottle(),
	}
	s.imap = imapserver.New(&imapserver.Options{
		NewSession: s.newSession,
		Caps:       capabilities(),
		Logger:     imapLogger{logger},
		// The front does STARTTLS (see front.go): go-imap reads and
		// writes above TLS and cannot tell TLS from plaintext, so it
		// must neither offer STARTTLS nor refuse logins itself. The
		// front refuses AUTHENTICATE and session.Login refuses LOGIN
		// on connections that are not TLS.
		TLSConfig:    nil,
		InsecureAuth: true,
	})
	return s
}

// capabilities lists what the sessions implement. go-imap adds SASL-IR,
// LITERAL-, AUTH=PLAIN, UNSELECT, ENABLE, IDLE, UTF8=ACCEPT and
// APPENDLIMIT itself, depending on the connection state, and ignores
// capabilities it does not know: the front adds STARTTLS, LOGINDISABLED,
// ID and QUOTA.
func capabilities() imap.CapSet {
	return imap.CapSet{
		imap.CapIMAP4rev1:        {},
		imap.CapIMAP4rev2:        {},
		imap.CapLiteralPlus:      {}, // else every APPEND waits a round trip for "+"
		imap.CapNamespace:        {},
		imap.CapUIDPlus:          {},
		imap.CapESearch:          {},
		imap.CapSearchRes:        {},
		imap.CapListExtended:     {},
		imap.CapListStatus:       {},
		imap.CapMove:             {},
		imap.CapStatusSize:       {},
		imap.CapBinary:           {},
		imap.CapChildren:         {},
		imap.CapSpecialUse:       {},
		imap.CapCreateSpecialUse: {}, // refused with the mailbox to use: session.refuseSpecialUse
		imap.CapUnauthenticate:   {},
	}
}

// Serve accepts connections on a plain listener; clients must use STARTTLS
// before they can log in. It returns nil once Shutdown or Close stops it.
func (s *Server) Serve(l net.Listener) error {
	return s.serve(l, frontListener{Listener: bufferedListener{liveListener{l}}, startTLS: s.opts.TLSConfig})
}

// ServeTLS accepts connections on l and speaks implicit TLS on them with
// Options.TLSConfig. It returns nil once Shutdown or Close stops it.
func (s *Server) ServeTLS(l net.Listener) error {
	if s.opts.TLSConfig == nil {
		return errors.New("imapsrv: ServeTLS needs Options.TLSConfig")
	}
	return s.serve(l, frontListener{Listener: tlsBufferedListener{tls.NewListener(bufferedListener{liveListener{l}}, s.opts.TLSConfig)}})
}

// serve serves go-imap on wrapped, the listener l as go-imap should see
// it; l is what Shutdown closes to stop accepting.
func (s *Server) serve(l, wrapped net.Listener) error {
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.listeners[l] = struct{}{}
	}
	s.mu.Unlock()
	if closed {
		return errors.New("imapsrv: server closed")
	}
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	if err := s.imap.Serve(wrapped); err != nil {
		return fmt.Errorf("imapsrv: %w", err)
	}
	return nil
}

// closeIMAP closes what go-imap still holds: connections accepted too
// late to become sessions. It waits for the Serve loops to return.
func (s *Server) closeIMAP() {
	s.imap.Close()
}

// Close stops every listener, closes every connection at once and returns
// once all sessions have ended. During a Shutdown, it cuts short the wait.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func (s *Server) newSession(conn *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	lc := liveConnOf(conn.NetConn())
	if lc == nil {
		return nil, nil, errors.New("imapsrv: connection not accepted by Serve or ServeTLS")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		// go-imap may hand us a connection it accepted just before Shutdown.
		return nil, nil, &imap.Error{Type: imap.StatusResponseTypeBye, Text: byeText}
	}
	s.sessions.Add(1)
	s.conns[lc] = conn
	sess := newSession(s, conn)
	if f, ok := conn.NetConn().(*frontConn); ok {
		f.attach(sess, lc)
	}
	return &trackedSession{session: sess, lc: lc}, nil, nil
}

// acquireAccount returns the shared state of the account owning st,
// creating it for the account's first session.
func (s *Server) acquireAccount(st *store.Store) (*account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.accounts[st]; a != nil {
		a.refs++
		return a, nil
	}
	a, err := newAccount(st, s.logger)
	if err != nil {
		return nil, err
	}
	a.refs = 1
	s.accounts[st] = a
	return a, nil
}

// releaseAccount drops a session's reference; the last one stops watching
// the store.
func (s *Server) releaseAccount(a *account) {
	s.mu.Lock()
	a.refs--
	last := a.refs == 0
	if last {
		delete(s.accounts, a.store)
	}
	s.mu.Unlock()
	if last {
		a.close()
	}
}

// imapLogger adapts slog to go-imap's Printf logger.
type imapLogger struct{ l *slog.Logger }

func (l imapLogger) Printf(format string, args ...any) {
	l.l.Warn("imap: " + fmt.Sprintf(format, args...))
}
