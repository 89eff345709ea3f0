package mock

import (
	"bytes"
	"context"
	"crypto/rand"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mailbridge/mailbridge/upstream"
)

// session is one logged-in account.
type session struct {
	srv    *Server
	userID string
	token  []byte
	closed atomic.Bool
	// done is closed by Close, ending a long poll in progress.
	done      chan struct{}
	closeOnce sync.Once
}

func newSession(s *Server, userID string, token []byte) *session {
	return &session{srv: s, userID: userID, token: token, done: make(chan struct{})}
}

var _ upstream.Session = (*session)(nil)

// Login checks the password and opens a session with a new token. A wrong
// username or password both give an Auth error.
func (s *Server) Login(ctx context.Context, username, password string) (upstream.Session, error) {
	drop, err := s.before(ctx)
	if err != nil {
		return nil, err
	}
	token := make([]byte, 32)
	if _, err := rand.Read(token); err != nil {
		return nil, &upstream.Error{Kind: upstream.Temporary, Msg: "token", Err: err}
	}
	var userID string
	err = s.dbUpdate(func(tx *bolt.Tx) error {
		id := tx.Bucket(bktNames).Get([]byte(username))
		if id == nil {
			return upstream.Errorf(upstream.AuthFailed, "wrong username or password")
		}
		var rec userRecord
		if _, err := getJSON(tx.Bucket(bktUsers), id, &rec); err != nil {
			return err
		}
		if !checkPassword(&rec, password) {
			return upstream.Errorf(upstream.AuthFailed, "wrong username or password")
		}
		userID = rec.ID
		val := rec.ID
		if len(rec.TOTPSecret) > 0 {
			val = pendingPrefix + rec.ID
		}
		return tx.Bucket(bktTokens).Put(tokenKey(token), []byte(val))
	})
	if err != nil {
		s.log.Info("mock: login failed", "err", err)
		return nil, err
	}
	if drop {
		return nil, errDropped()
	}
	s.log.Info("mock: login", "user", userID)
	return newSession(s, userID, token), nil
}

// Resume reopens a session from the token of an earlier Login, also after
// a restart of a persistent server.
func (s *Server) Resume(ctx context.Context, auth upstream.Auth) (upstream.Session, error) {
	drop, err := s.before(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.checkToken(auth.UserID, auth.Token); err != nil {
		return nil, err
	}
	if drop {
		return nil, errDropped()
	}
	return newSession(s, auth.UserID, bytes.Clone(auth.Token)), nil
}

func (s *Server) checkToken(userID string, token []byte) error {
	if s.closed() {
		return &upstream.Error{Kind: upstream.Temporary, Err: errClosed}
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		switch id := string(tx.Bucket(bktTokens).Get(tokenKey(token))); id {
		case userID:
			return nil
		case pendingPrefix + userID:
			return upstream.Errorf(upstream.SecondFactor, "enter the code from your authenticator app")
		}
		return upstream.Errorf(upstream.AuthFailed, "session expired")
	})
	return asUpstream(err)
}

// pendingPrefix marks a token whose login still needs its second factor.
const pendingPrefix = "2fa:"

// SubmitSecondFactor checks a TOTP code and, if it is right, makes the
// session's token a full one.
func (s *session) SubmitSecondFactor(ctx context.Context, code string) error {
	if s.closed.Load() {
		return upstream.Errorf(upstream.Permanent, "session closed")
	}
	drop, err := s.srv.before(ctx)
	if err != nil {
		return err
	}
	err = s.srv.dbUpdate(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktTokens)
		switch string(b.Get(tokenKey(s.token))) {
		case s.userID:
			return nil
		case pendingPrefix + s.userID:
		default:
			return upstream.Errorf(upstream.AuthFailed, "session expired")
		}
		var rec userRecord
		if _, err := getJSON(tx.Bucket(bktUsers), []byte(s.userID), &rec); err != nil {
			return err
		}
		if !checkTOTP(rec.TOTPSecret, code, time.Now()) {
			return upstream.Errorf(upstream.AuthFailed, "wrong second-factor code")
		}
		return b.Put(tokenKey(s.token), []byte(s.userID))
	})
	if err != nil {
		s.srv.log.Info("mock: second factor refused", "user", s.userID)
		return err
	}
	if drop {
		return errDropped()
	}
	return nil
}

// dbUpdate is a plain bbolt update for calls outside any account.
func (s *Server) dbUpdate(fn func(tx *bolt.Tx) error) error {
	if s.closed() {
		return &upstream.Error{Kind: upstream.Temporary, Err: errClosed}
	}
	return asUpstream(s.db.Update(fn))
}

// run wraps one session call: closed-session and token checks, injected
// faults before the call, and a lost response after it.
func run[T any](ctx context.Context, s *session, fn func() (T, error)) (T, error) {
	var zero T
	if s.closed.Load() {
		return zero, upstream.Errorf(upstream.Permanent, "session closed")
	}
	drop, err := s.srv.before(ctx)
	if err != nil {
		return zero, err
	}
	if err := s.srv.checkToken(s.userID, s.token); err != nil {
		return zero, err
	}
	v, err := fn()
	if err != nil {
		return zero, err
	}
	if drop {
		return zero, errDropped()
	}
	return v, nil
}

// run0 is run for calls without a result.
func run0(ctx context.Context, s *session, fn func() error) error {
	_, err := run(ctx, s, func() (struct{}, error) { return struct{}{}, fn() })
	return err
}

func (s *session) Auth() upstream.Auth {
	return upstream.Auth{UserID: s.userID, Token: bytes.Clone(s.token)}
}

// Close ends this session object only: the token stays valid for Resume,
// as the bridge closes sessions on shutdown and resumes them at start.
func (s *session) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.done)
	})
	return nil
}

func (s *session) Addresses(ctx context.Context) ([]upstream.Address, error) {
	return run(ctx, s, func() ([]upstream.Address, error) {
		var out []upstream.Address
		err := s.srv.read(s.userID, func(a *account) error {
			out = append(out, a.rec.Addresses...)
			return nil
		})
		return out, err
	})
}

func (s *session) PrivateKeys(ctx context.Context) ([]byte, error) {
	return run(ctx, s, func() ([]byte, error) {
		var out []byte
		err := s.srv.read(s.userID, func(a *account) error {
			out = bytes.Clone(a.rec.PrivateKey)
			return nil
		})
		return out, err
	})
}

func (s *session) PublicKeys(ctx context.Context, email string) ([]byte, error) {
	return run(ctx, s, func() ([]byte, error) { return s.srv.lookupKeys(email) })
}

func (s *session) Quota(ctx context.Context) (upstream.Quota, error) {
	return run(ctx, s, func() (upstream.Quota, error) {
		q := upstream.Quota{Limit: s.srv.opts.QuotaLimit}
		err := s.srv.read(s.userID, func(a *account) error {
			q.Used = a.rec.Used
			return nil
		})
		return q, err
	})
}
