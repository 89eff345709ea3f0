// Package smtpsrv is mailbridge's SMTP submission server. It authenticates
// mail clients (AUTH PLAIN and AUTH LOGIN, only over TLS), holds them to the
// account's own sender addresses, encrypts and signs what they send for
// recipients that publish OpenPGP keys, and hands the result to the
// upstream. It keeps no state of its own: every message is delivered, or
// refused with a reply that tells the client whether to retry, before the
// DATA command completes.
package smtpsrv

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/emersion/go-smtp"

	"github.com/mailbridge/mailbridge/crypto"
	"github.com/mailbridge/mailbridge/upstream"
)

// Account is one logged-in account of the bridge, as seen by submission.
type Account interface {
	// Addresses returns the account's addresses. MAIL FROM and every
	// address in the From header must be one of them.
	Addresses() []string
	// Upstream returns the session used for key lookups and sending.
	Upstream() upstream.Session
	// Keys returns the account's unlocked private keys. Keys()[0] signs
	// outgoing mail and is the key the sender's own copies are encrypted to.
	Keys() openpgp.EntityList
}

// Accounts may also implement PolicyAccount for per-account settings and
// pinned keys.

// Authenticator checks the credentials a mail client presents.
type Authenticator interface {
	// Authenticate returns the account the credentials belong to, or an
	// error when they are wrong. The error text is logged, so it must not
	// contain the password.
	Authenticate(username, password string) (Account, error)
}

// Options configures a Server.
type Options struct {
	// Auth checks client credentials. Required.
	Auth Authenticator
	// TLSConfig holds the certificate for STARTTLS and implicit TLS. Required:
	// clients may only authenticate over TLS.
	TLSConfig *tls.Config
	// Logger receives connection and delivery events; nil discards them.
	Logger *slog.Logger
	// MaxMessageBytes is the largest message accepted; 0 means 25 MiB.
	MaxMessageBytes int64
	// Hostname is announced in the greeting; "" means "127.0.0.1".
	Hostname string
	// KeyLookup chooses recipients' keys and caches the key server's
	// answers. nil means a private one with crypto's default lifetimes.
	KeyLookup *crypto.KeyLookup
}

const (
	defaultMaxMessageBytes = 25 << 20
	defaultHostname        = "127.0.0.1"
	// maxRecipients bounds one transaction; large lists are split by clients.
	maxRecipients = 100
	// readTimeout is how long a client may stay silent between commands,
	// and how long a whole DATA transfer may take (RFC 5321 section 4.5.3.2
	// suggests 5 minutes for the former).
	readTimeout = 5 * time.Minute
	// writeTimeout bounds a single reply to a client that stopped reading.
	writeTimeout = time.Minute
	// sendTimeout bounds the upstream calls for one message.
	sendTimeout = 2 * time.Minute
	// keyLookupTimeout bounds the key lookup for one recipient.
	keyLookupTimeout = 30 * time.Second
)

// Server is an SMTP submission server. Serve and ServeTLS may be called for
// several listeners; Close or Shutdown stops them all.
type Server struct {
	auth     Authenticator
	log      *slog.Logger
	tlsConf  *tls.Config
	smtp     *smtp.Server
	ctx      context.Context // cancelled by Close, so in-flight sends stop
	cancel   context.CancelFunc
	maxBytes int64
	keys     *crypto.KeyLookup
	logins   *loginLimiter
	// sleep waits before a login attempt; tests replace it to observe the
	// delays without waiting.
	sleep func(ctx context.Context, d time.Duration) error
}

// New returns a Server configured by opts. It does not listen yet.
func New(opts Options) *Server {
	return newServer(opts, time.Now, sleepCtx)
}

// sleepCtx waits for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// newServer is New with the clock and the login wait injected.
func newServer(opts Options, now func() time.Time, sleep func(context.Context, time.Duration) error) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	maxBytes := opts.MaxMessageBytes
	if maxBytes <= 0 {
		maxBytes = defaultMaxMessageBytes
	}
	host := opts.Hostname
	if host == "" {
		host = defaultHostname
	}
	var tlsConf *tls.Config
	if opts.TLSConfig != nil {
		tlsConf = opts.TLSConfig.Clone()
		if tlsConf.MinVersion == 0 {
			tlsConf.MinVersion = tls.VersionTLS12
		}
	}

	keys := opts.KeyLookup
	if keys == nil {
		keys = crypto.NewKeyLookup(crypto.KeyLookupOptions{Now: now})
	}

	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		auth:     opts.Auth,
		log:      log,
		tlsConf:  tlsConf,
		ctx:      ctx,
		cancel:   cancel,
		maxBytes: maxBytes,
		keys:     keys,
		logins:   newLoginLimiter(now),
		sleep:    sleep,
	}

	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = host
	srv.TLSConfig = tlsConf
	srv.MaxMessageBytes = maxBytes
	srv.MaxRecipients = maxRecipients
	srv.ReadTimeout = readTimeout
	srv.WriteTimeout = writeTimeout
	srv.EnableSMTPUTF8 = true
	// AllowInsecureAuth stays false: go-smtp then neither advertises nor
	// accepts AUTH before TLS, so passwords never cross in clear text.
	srv.ErrorLog = errorLog{log}
	s.smtp = srv
	return s
}

// Serve accepts plain connections on l; clients must use STARTTLS before
// they can authenticate. It returns nil after Close or Shutdown.
func (s *Server) Serve(l net.Listener) error {
	if err := s.check(); err != nil {
		return err
	}
	return s.smtp.Serve(l)
}

// ServeTLS accepts connections on l that start with a TLS handshake
// (implicit TLS, RFC 8314). It returns nil after Close or Shutdown.
func (s *Server) ServeTLS(l net.Listener) error {
	if err := s.check(); err != nil {
		return err
	}
	return s.smtp.Serve(tls.NewListener(l, s.tlsConf))
}

func (s *Server) check() error {
	if s.tlsConf == nil {
		return errors.New("smtpsrv: Options.TLSConfig is required")
	}
	if s.auth == nil {
		return errors.New("smtpsrv: Options.Auth is required")
	}
	if s.ctx.Err() != nil {
		return fmt.Errorf("smtpsrv: %w", smtp.ErrServerClosed)
	}
	return nil
}

// Close stops the listeners, drops every connection and cancels messages
// still being sent; their clients get no reply and will retry.
func (s *Server) Close() error {
	s.cancel()
	return s.smtp.Close()
}

// Shutdown stops the listeners and waits until every client has
// disconnected or ctx is done, whichever comes first.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.smtp.Shutdown(ctx)
	s.cancel()
	return err
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{srv: s, conn: c, remote: c.Conn().RemoteAddr().String()}, nil
}

// errorLog routes go-smtp's internal errors (handshake failures, panics)
// to the structured logger.
type errorLog struct{ log *slog.Logger }

func (e errorLog) Printf(format string, v ...any) {
	e.log.Warn("smtp: " + fmt.Sprintf(format, v...))
}

func (e errorLog) Println(v ...any) {
	e.log.Warn("smtp: " + fmt.Sprint(v...))
}
