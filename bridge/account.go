package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/mailbridge/mailbridge/crypto"
	"github.com/mailbridge/mailbridge/smtpsrv"
	"github.com/mailbridge/mailbridge/store"
	"github.com/mailbridge/mailbridge/syncer"
	"github.com/mailbridge/mailbridge/upstream"
	"github.com/mailbridge/mailbridge/vault"
)

// account is one running account: its cache is open from the start, so
// clients can read mail while the upstream is unreachable; the upstream
// session, keys and syncer come up in the background, and come up again
// after a failure, so one account's trouble never touches the others.
type account struct {
	b     *Bridge
	id    string
	store *store.Store
	log   *slog.Logger

	cancel context.CancelFunc
	done   chan struct{} // closed when run returns
	// care is careForCache, which runs while the cache is open, whether
	// or not a session is: clients read the cache offline too.
	care sync.WaitGroup

	mu      sync.Mutex
	cfg     vault.Account
	pinned  map[string]openpgp.EntityList // cfg.PinnedKeys parsed, by address
	sess    upstream.Session
	keys    openpgp.EntityList
	syncer  *syncer.Syncer
	lastErr error
	state   string        // see AccountStatus.State
	online  chan struct{} // closed once sess, keys and syncer are first set

	quota quotaCache // see Quota
}

// Account states shown by status.
const (
	stateConnecting = "connecting"
	stateOnline     = "online"
	stateError      = "error"
)

func cachePath(cacheDir, id string) string { return filepath.Join(cacheDir, id+".db") }

func (b *Bridge) startAccount(ctx context.Context, cfg vault.Account) error {
	st, err := openCache(cachePath(b.opts.CacheDir, cfg.ID), cfg.CacheKey, cfg.UIDValidityFloor, b.opts.ResetCache, b.log.With("account", cfg.ID))
	if err != nil {
		return fmt.Errorf("account %s: open cache: %w", cfg.Username, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	a := &account{
		b:      b,
		id:     cfg.ID,
		store:  st,
		log:    b.log.With("account", cfg.ID),
		cancel: cancel,
		done:   make(chan struct{}),
		state:  stateConnecting,
		online: make(chan struct{}),
	}
	a.setConfig(cfg)
	b.mu.Lock()
	b.accounts[cfg.ID] = a
	b.mu.Unlock()
	a.care.Go(func() { a.careForCache(ctx) })
	go a.run(ctx, b.opts.Backend)
	return nil
}

// run connects and syncs until ctx ends, starting over after a failure
// (with a growing pause) unless the upstream refused the login for good.
func (a *account) run(ctx context.Context, backend upstream.Backend) {
	defer close(a.done)
	delay := time.Second
	for {
		err := a.runOnce(ctx, backend)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("sync stopped")
		}
		a.setErr(err)
		switch upstream.KindOf(err) {
		case upstream.AuthFailed, upstream.SecondFactor:
			a.log.Error("the upstream refused the account's session; remove and add the account again", "err", err)
			return
		}
		a.log.Error("account sync failed; restarting", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Minute)
	}
}

// runOnce is one session's life. A panic in it is logged and returned as
// an error: it costs this account a restart, not the daemon.
func (a *account) runOnce(ctx context.Context, backend upstream.Backend) (err error) {
	defer func() {
		if r := recover(); r != nil {
			a.log.Error("account crashed", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("internal error (crash): %v", r)
		}
	}()
	sess, keys, err := a.connect(ctx, backend)
	if err != nil {
		return err
	}
	sess = guard(sess, a.log)
	defer sess.Close()

	s := syncer.New(syncer.Options{Session: sess, Store: a.store, Keys: keys, Logger: a.log})
	a.mu.Lock()
	a.sess, a.keys, a.syncer = sess, keys, s
	a.state, a.lastErr = stateOnline, nil
	select {
	case <-a.online:
	default:
		close(a.online)
	}
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.sess = nil
		a.mu.Unlock()
	}()
	return s.Run(ctx)
}

// connect resumes the upstream session and unlocks the account's keys,
// retrying while the upstream is unreachable.
func (a *account) connect(ctx context.Context, backend upstream.Backend) (upstream.Session, openpgp.EntityList, error) {
	cfg := a.config()
	auth := upstream.Auth{UserID: cfg.UpstreamUser, Token: cfg.UpstreamAuth}
	delay := 500 * time.Millisecond
	for {
		sess, err := backend.Resume(ctx, auth)
		if err == nil {
			armored, kerr := sess.PrivateKeys(ctx)
			if kerr == nil {
				keys, uerr := crypto.UnlockKeys(armored, cfg.KeyPassphrase)
				if uerr != nil {
					sess.Close()
					return nil, nil, upstream.Errorf(upstream.AuthFailed, "unlock keys: %v", uerr)
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

// stop ends the account and closes its cache.
func (a *account) stop() {
	a.cancel()
	<-a.done
	a.care.Wait()
	a.saveUIDValidityFloor()
	if err := a.store.Close(); err != nil {
		a.log.Error("close cache", "err", err)
	}
}

func (a *account) setErr(err error) {
	a.mu.Lock()
	a.lastErr = err
	if a.sess == nil {
		a.state = stateError
		if upstream.Retryable(err) {
			a.state = stateConnecting
		}
	}
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
	a.mu.Lock()
	s := a.syncer
	a.mu.Unlock()
	select {
	case <-s.Synced():
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

func (a *account) config() vault.Account {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}

// setConfig takes a changed account, parsing its pinned keys once here
// rather than at every recipient.
func (a *account) setConfig(cfg vault.Account) {
	pinned := parsePinned(cfg.PinnedKeys, a.log)
	a.mu.Lock()
	a.cfg, a.pinned = cfg, pinned
	a.mu.Unlock()
}

// removeCache deletes an account's cache files: the bbolt file and
// anything the store keeps beside it under the same name.
func removeCache(cacheDir, id string) error {
	entries, err := os.ReadDir(cacheDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	var errs []error
	for _, e := range entries {
		if e.Name() == id || strings.HasPrefix(e.Name(), id+".") || strings.HasPrefix(e.Name(), id+"-") {
			errs = append(errs, os.RemoveAll(filepath.Join(cacheDir, e.Name())))
		}
	}
	return errors.Join(errs...)
}

// Store, Addresses, Upstream and Keys serve the protocol servers.

func (a *account) Store() *store.Store { return a.store }
func (a *account) Addresses() []string { return a.config().Addresses }

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

// SendPolicy gives submission the account's sending settings: its own
// values over the bridge-wide ones. It is read at every message, so
// `config set` applies to the next one.
func (a *account) SendPolicy() smtpsrv.Policy {
	return sendPolicy(a.b.vault.Settings(), a.config().Sending)
}

// PinnedKeys returns the keys the user pinned for email, or nil.
func (a *account) PinnedKeys(email string) openpgp.EntityList {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pinned[strings.ToLower(strings.TrimSpace(email))]
}

var _ smtpsrv.PolicyAccount = (*account)(nil)
