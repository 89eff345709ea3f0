package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/mailbridge/mailbridge/crypto"
	"github.com/mailbridge/mailbridge/store"
	"github.com/mailbridge/mailbridge/syncer"
	"github.com/mailbridge/mailbridge/upstream"
	"github.com/mailbridge/mailbridge/vault"
)

// account is one running account: its cache is open from the start, so
// clients can read mail while the upstream is unreachable; the upstream
// session, keys and syncer come up in the background.
type account struct {
	cfg   vault.Account
	store *store.Store
	log   *slog.Logger

	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	sess    upstream.Session
	keys    openpgp.EntityList
	syncer  *syncer.Syncer
	lastErr error
	online  chan struct{} // closed once sess, keys and syncer are set
}

func (b *Bridge) startAccount(ctx context.Context, cfg vault.Account) error {
	st, err := store.Open(store.Options{
		Path:   filepath.Join(cacheDir(b.opts.DataDir), cfg.ID+".db"),
		Key:    cfg.CacheKey,
		Logger: b.log.With("account", cfg.ID),
	})
	if err != nil {
		return fmt.Errorf("account %s: open cache: %w", cfg.Username, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	a := &account{
		cfg:    cfg,
		store:  st,
		log:    b.log.With("account", cfg.ID),
		cancel: cancel,
		done:   make(chan struct{}),
		online: make(chan struct{}),
	}
	b.mu.Lock()
	b.accounts[cfg.ID] = a
	b.mu.Unlock()
	go a.run(ctx, b.opts.Backend)
	return nil
}

// run logs in, unlocks the keys and syncs until ctx ends. A crash-free
// failure here only affects this account: its cache keeps serving.
func (a *account) run(ctx context.Context, backend upstream.Backend) {
	defer close(a.done)
	sess, keys, err := a.connect(ctx, backend)
	if err != nil {
		if ctx.Err() == nil {
			a.setErr(err)
			a.log.Error("account is offline", "err", err)
		}
		return
	}
	defer sess.Close()

	s := syncer.New(syncer.Options{Session: sess, Store: a.store, Keys: keys, Logger: a.log})
	a.mu.Lock()
	a.sess, a.keys, a.syncer = sess, keys, s
	a.mu.Unlock()
	close(a.online)

	if err := s.Run(ctx); err != nil {
		a.setErr(err)
		a.log.Error("sync stopped", "err", err)
	}
}

// connect resumes the upstream session and unlocks the account's keys,
// retrying while the upstream is unreachable.
func (a *account) connect(ctx context.Context, backend upstream.Backend) (upstream.Session, openpgp.EntityList, error) {
	auth := upstream.Auth{UserID: a.cfg.UpstreamUser, Token: a.cfg.UpstreamAuth}
	delay := 500 * time.Millisecond
	for {
		sess, err := backend.Resume(ctx, auth)
		if err == nil {
			armored, kerr := sess.PrivateKeys(ctx)
			if kerr == nil {
				keys, uerr := crypto.UnlockKeys(armored, a.cfg.KeyPassphrase)
				if uerr != nil {
					sess.Close()
					return nil, nil, fmt.Errorf("unlock keys: %w", uerr)
				}
				return sess, keys, nil
			}
			sess.Close()
			err = kerr
		}
		if !upstream.Retryable(err) {
			return nil, nil, err
		}
		a.setErr(err)
		a.log.Warn("upstream unreachable; retrying", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Minute)
	}
}

func (a *account) stop() {
	a.cancel()
	<-a.done
	if err := a.store.Close(); err != nil {
		a.log.Error("close cache", "err", err)
	}
}

func (a *account) setErr(err error) {
	a.mu.Lock()
	a.lastErr = err
	a.mu.Unlock()
}

func (a *account) waitSynced(ctx context.Context) error {
	select {
	case <-a.online:
	case <-a.done:
		return a.err()
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-a.syncer.Synced():
		return nil
	case <-a.done:
		return a.err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *account) err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lastErr == nil {
		return errors.New("account stopped")
	}
	return a.lastErr
}

// Store, Addresses, Upstream and Keys serve the protocol servers.

func (a *account) Store() *store.Store { return a.store }
func (a *account) Addresses() []string { return a.cfg.Addresses }

func (a *account) Upstream() upstream.Session {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sess
}

func (a *account) Keys() openpgp.EntityList {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.keys
}
