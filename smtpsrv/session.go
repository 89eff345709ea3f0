package smtpsrv

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mailbridge/mailbridge/crypto"
)

var (
	_ smtp.Session     = (*session)(nil)
	_ smtp.AuthSession = (*session)(nil)
)

// session is one client connection between EHLO (or STARTTLS) and QUIT.
type session struct {
	srv    *Server
	conn   *smtp.Conn
	remote string

	// mu guards the fields below: with BDAT, go-smtp runs Data in its own
	// goroutine while RSET may call Reset.
	mu      sync.Mutex
	account Account
	user    string
	from    string
	rcpts   []crypto.RecipientKeys
}

// envelope is one transaction's MAIL FROM and its distinct recipients, with
// the keys chosen for each at RCPT time.
type envelope struct {
	from  string
	rcpts []crypto.RecipientKeys
}

func (s *session) AuthMechanisms() []string {
	return []string{sasl.Plain, sasl.Login}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, username, password string) error {
			// Acting on behalf of another identity is not supported.
			if identity != "" && identity != username {
				return errAuthzID
			}
			return s.login(username, password)
		}), nil
	case sasl.Login:
		return newLoginServer(s.login), nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// login checks credentials, after the wait the login limiter imposes on
// clients and usernames with recent failures.
func (s *session) login(username, password string) error {
	ip := s.remote
	if host, _, err := net.SplitHostPort(s.remote); err == nil {
		ip = host
	}
	if wait := s.srv.logins.begin(ip, username); wait > 0 {
		s.srv.log.Info("smtp: delaying login after failures", "remote", s.remote, "user", username, "delay", wait)
		if err := s.srv.sleep(s.srv.ctx, wait); err != nil {
			s.srv.logins.done(ip, username, false)
			return smtp.ErrAuthFailed
		}
	}
	acct, err := s.srv.auth.Authenticate(username, password)
	if err == nil && acct == nil {
		err = errors.New("no account")
	}
	s.srv.logins.done(ip, username, err == nil)
	if err != nil {
		// The error text is the authenticator's, documented to be free of
		// the password; the username helps the user find a misconfiguration.
		s.srv.log.Info("smtp: authentication failed",
			"remote", s.remote, "user", username, "err", err)
		return smtp.ErrAuthFailed
	}
	s.mu.Lock()
	s.account, s.user = acct, username
	s.mu.Unlock()
	s.srv.log.Debug("smtp: authenticated", "remote", s.remote, "user", username)
	return nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.account == nil {
		return toReply(errAuthRequired)
	}
	if !hasAddress(s.account.Addresses(), from) {
		return toReply(foreignSender(from))
	}
	s.from, s.rcpts = from, nil
	return nil
}

// Rcpt looks the recipient's keys up at once, so a recipient that cannot
// be served gets its own reply and the client can still send to the rest.
// A recipient named twice is accepted and receives one copy.
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.mu.Lock()
	acct := s.account
	dup := false
	for _, r := range s.rcpts {
		dup = dup || strings.EqualFold(r.Email, to)
	}
	s.mu.Unlock()
	if acct == nil {
		return toReply(errAuthRequired)
	}
	if dup {
		return nil
	}
	if !validMailbox(to) {
		return toReply(badRecipient(to))
	}
	r, err := s.srv.lookupRecipient(s.srv.ctx, acct, to)
	if err != nil {
		s.srv.log.Info("smtp: recipient refused", "remote", s.remote, "err", err)
		return toReply(err)
	}
	s.mu.Lock()
	s.rcpts = append(s.rcpts, r)
	s.mu.Unlock()
	return nil
}

func (s *session) Data(r io.Reader) error {
	s.mu.Lock()
	acct, user := s.account, s.user
	env := envelope{from: s.from, rcpts: append([]crypto.RecipientKeys(nil), s.rcpts...)}
	s.mu.Unlock()
	if acct == nil {
		return toReply(errAuthRequired)
	}

	// BDAT chunks arrive through a pipe and carry no dot terminator, so
	// only DATA needs the bare-LF guard.
	body := r
	if _, chunked := r.(*io.PipeReader); !chunked {
		body = newLFGuard(r)
	}
	raw, err := io.ReadAll(body)
	if errors.Is(err, errBareLF) {
		s.abortBareLF()
		return toReply(err)
	}
	if err != nil {
		s.srv.log.Debug("smtp: DATA failed", "remote", s.remote, "err", err)
		return toReply(err)
	}

	ctx, cancel := context.WithTimeout(s.srv.ctx, sendTimeout)
	defer cancel()
	res, err := s.srv.submit(ctx, acct, env, raw)
	if err != nil {
		reply := toReply(err)
		// A refused message is the client's business; a failure to deliver
		// an acceptable one is worth a warning.
		level := slog.LevelInfo
		if smtpErr, ok := reply.(*smtp.SMTPError); !ok || smtpErr.Temporary() {
			level = slog.LevelWarn
		}
		s.srv.log.Log(ctx, level, "smtp: message not sent",
			"remote", s.remote, "user", user, "size", len(raw), "err", err)
		return reply
	}
	s.srv.log.Info("smtp: message sent",
		"user", user, "size", len(raw), "recipients", len(env.rcpts),
		"encrypted", res.encrypted, "plain", res.plain, "op", res.opID)
	return nil
}

// abortBareLF answers a DATA that the client ended with a bare LF and
// drops the connection. go-smtp only knows the CRLF.CRLF terminator: it
// would keep reading until the idle timeout, while the client waits for a
// reply. After a bare-LF dot line nobody can tell where the message ends
// (this is also the SMTP smuggling pattern), so closing is the only safe
// way to resynchronise.
func (s *session) abortBareLF() {
	nc := s.conn.Conn()
	_ = nc.SetWriteDeadline(deadline(writeTimeout))
	rep := toReply(errBareLF)
	_, _ = io.WriteString(nc, replyLine(rep))
	s.srv.log.Info("smtp: closing connection after a bare LF in DATA", "remote", s.remote)
	_ = s.conn.Close()
}

func (s *session) Reset() {
	s.mu.Lock()
	s.from, s.rcpts = "", nil
	s.mu.Unlock()
}

func (s *session) Logout() error { return nil }

// hasAddress reports whether addr is one of addrs. The comparison ignores
// case in the whole address: the upstream treats local parts
// case-insensitively, as nearly every provider does.
func hasAddress(addrs []string, addr string) bool {
	if addr == "" {
		return false
	}
	for _, a := range addrs {
		if strings.EqualFold(a, addr) {
			return true
		}
	}
	return false
}

// validMailbox reports whether addr is a mailbox RFC 5321 (with SMTPUTF8's
// UTF-8) can carry: a local part and a domain, valid UTF-8, no control
// characters. go-smtp has parsed the path, taking the quotes off a quoted
// local part ("john doe"@ arrives as john doe@), but it hands over any
// byte, NUL included.
func validMailbox(addr string) bool {
	if !utf8.ValidString(addr) || strings.ContainsFunc(addr, unicode.IsControl) {
		return false
	}
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at > 64 || len(addr)-at-1 > 255 {
		return false
	}
	domain := addr[at+1:]
	if strings.HasPrefix(domain, "[") && strings.HasSuffix(domain, "]") {
		return len(domain) > 2 && !strings.ContainsRune(domain, ' ')
	}
	for label := range strings.SplitSeq(domain, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			// Underscores are no part of a host name, but mail does
			// reach such domains.
			if r < 0x80 && !(r == '-' || r == '_' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
				return false
			}
		}
	}
	return true
}
