// Package bridge is the daemon: it holds the accounts, opens their caches,
// logs in to the upstream, runs their syncers, serves IMAP and SMTP on
// local listeners with the bridge's own certificate, and answers the
// control socket that the CLI talks to. It wires the other packages
// together and speaks no mail protocol itself.
//
// One Bridge owns one data dir, enforced by a lock file: a second daemon,
// or a command that would change the data while a daemon runs, is refused
// with the PID of the process holding it. Commands run while a daemon is
// up go through its control socket instead (see Dial and Bridge.Call), so
// both paths share the same code.
package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailbridge/mailbridge/certs"
	"github.com/mailbridge/mailbridge/upstream"
	"github.com/mailbridge/mailbridge/vault"
)

// Options configures a Bridge.
type Options struct {
	// DataDir holds the vault, the certificate, the lock file and the
	// control socket.
	DataDir string
	// CacheDir holds the accounts' caches; "" means DataDir/cache.
	CacheDir string
	Backend  upstream.Backend
	// BackendName describes the upstream in status output, e.g. "mock".
	BackendName string
	// Keyring holds the vault key; nil keeps it in a key file in DataDir.
	Keyring vault.Keyring
	// VaultPassphrase, if set, derives the vault key from it instead
	// (Argon2id); see vault.Options.Passphrase.
	VaultPassphrase []byte
	// Ports, if set, are the ports to listen on instead of the saved
	// settings; a zero port picks a free one. The ports actually bound
	// are saved, so `mailbridge info` shows them.
	Ports *Ports
	// Logger receives the daemon's logs; nil discards them.
	Logger *slog.Logger
	// LogLevel, if set, is the level of Logger's handler: the saved
	// log-level setting is applied to it at start and on every change.
	LogLevel *slog.LevelVar
	// Methods are extra control methods, served with the built-in ones
	// (the development mock registers its user management here).
	Methods map[string]Method
	// LockNote is written to the lock file next to the PID, so that a
	// refused process can say what holds the data dir (e.g. "serve").
	LockNote string
	// ResetCache throws each account's cache away at start, so it is
	// rebuilt from the upstream; a cache with changes not yet pushed
	// upstream is kept and the account reports why.
	ResetCache bool
	// Lock, if set, is the data dir's lock, already acquired (so that a
	// caller can lock before opening a backend that lives in the data
	// dir); the Bridge takes it over and Close releases it.
	Lock *Lock
}

// Ports are the local listening ports.
type Ports struct {
	IMAP, IMAPS, SMTP, SMTPS int
}

// Bridge is the daemon's state for one data dir.
type Bridge struct {
	opts  Options
	log   *slog.Logger
	lock  *Lock
	vault *vault.Vault
	cert  atomic.Pointer[certs.Cert]

	mu        sync.Mutex
	start     time.Time           // when Run started
	accounts  map[string]*account // by vault account ID
	running   context.Context     // set while Run runs; accounts started later use it
	listeners *listenerSet        // set while Run runs
}

// New locks the data dir and opens it: the vault (created on first use)
// and the certificate (created, or renewed when it is close to expiry).
// Close releases the lock.
//
// A vault whose key cannot be read (a locked or broken keychain, a
// missing key file, a passphrase not given) fails with an error matching
// vault.ErrKeyUnavailable, and nothing on disk is changed.
func New(opts Options) (*Bridge, error) {
	if opts.DataDir == "" {
		return nil, errors.New("bridge: no data dir")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.CacheDir == "" {
		opts.CacheDir = filepath.Join(opts.DataDir, "cache")
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("bridge: %w", err)
	}
	lock := opts.Lock
	if lock == nil {
		var err error
		if lock, err = AcquireLock(opts.DataDir, opts.LockNote); err != nil {
			return nil, err
		}
	}
	b, err := open(opts, lock)
	if err != nil {
		lock.Release()
		return nil, err
	}
	return b, nil
}

func open(opts Options, lock *Lock) (*Bridge, error) {
	if err := os.MkdirAll(opts.CacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("bridge: %w", err)
	}
	v, err := vault.Open(vault.Options{
		Dir: opts.DataDir, Keyring: opts.Keyring, Passphrase: opts.VaultPassphrase, Logger: opts.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("bridge: open vault: %w", err)
	}
	set := v.Settings().WithDefaults()
	if opts.LogLevel != nil {
		var lvl slog.Level
		if lvl.UnmarshalText([]byte(set.LogLevel)) == nil {
			opts.LogLevel.Set(lvl)
		}
	}
	cert, err := certs.Load(certs.Options{Dir: certDir(opts.DataDir), Hosts: set.CertHosts, Logger: opts.Logger})
	if err != nil {
		return nil, fmt.Errorf("bridge: certificate: %w", err)
	}
	b := &Bridge{
		opts:     opts,
		log:      opts.Logger,
		lock:     lock,
		vault:    v,
		accounts: make(map[string]*account),
	}
	b.cert.Store(cert)
	return b, nil
}

// Close releases the data dir's lock. Call it after Run has returned.
func (b *Bridge) Close() error { return b.lock.Release() }

func certDir(dataDir string) string { return filepath.Join(dataDir, "tls") }

// Vault returns the bridge's vault.
func (b *Bridge) Vault() *vault.Vault { return b.vault }

// Cert returns the bridge's current TLS certificate.
func (b *Bridge) Cert() *certs.Cert { return b.cert.Load() }

// Run starts every account, the listeners and the control socket, calls
// ready once clients can connect, and serves until ctx ends. Then it stops
// accepting, lets SMTP transactions in flight finish for a few seconds,
// closes connections, stops the syncers and closes the caches.
func (b *Bridge) Run(ctx context.Context, ready func(Info)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	ctl, err := b.listenControl()
	if err != nil {
		return err
	}
	defer ctl.close()

	b.mu.Lock()
	b.running = ctx
	b.start = time.Now()
	b.mu.Unlock()

	for _, a := range b.vault.Accounts() {
		if err := b.startAccount(ctx, a); err != nil {
			b.stopAccounts()
			return err
		}
	}
	ls := newListenerSet(b)
	if err := ls.apply(b.startSettings()); err != nil {
		ls.close()
		b.stopAccounts()
		return err
	}
	b.mu.Lock()
	b.listeners = ls
	b.mu.Unlock()

	var wg sync.WaitGroup
	wg.Go(func() { ctl.serve(ctx) })
	wg.Go(func() { b.renewCertPeriodically(ctx) })
	if ready != nil {
		ready(b.info())
	}

	<-ctx.Done()
	b.log.Info("shutting down")
	ctl.close()
	ls.close()
	b.stopAccounts()
	wg.Wait()
	b.mu.Lock()
	b.listeners = nil
	b.mu.Unlock()
	b.log.Info("stopped")
	return nil
}

// startSettings returns the saved settings, with Options.Ports applied.
func (b *Bridge) startSettings() vault.Settings {
	set := b.vault.Settings().WithDefaults()
	if p := b.opts.Ports; p != nil {
		set.IMAPPort, set.IMAPSPort, set.SMTPPort, set.SMTPSPort = p.IMAP, p.IMAPS, p.SMTP, p.SMTPS
	}
	return set
}

// renewCertPeriodically replaces the certificate before it expires; the
// listeners pick up the new one on the next handshake.
func (b *Bridge) renewCertPeriodically(ctx context.Context) {
	t := time.NewTicker(12 * time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if renewed, err := b.Cert().RenewIfNeeded(); err != nil {
				b.log.Error("renew TLS certificate", "err", err)
			} else if renewed {
				b.log.Warn("TLS certificate renewed; mail clients must trust the new one", "path", b.Cert().Path())
			}
		}
	}
}

// WaitSynced blocks until every account has finished its initial sync or
// ctx ends.
func (b *Bridge) WaitSynced(ctx context.Context) error {
	for _, a := range b.accountList() {
		if err := a.waitSynced(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (b *Bridge) accountList() []*account {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]*account, 0, len(b.accounts))
	for _, a := range b.accounts {
		out = append(out, a)
	}
	return out
}

func (b *Bridge) stopAccounts() {
	b.mu.Lock()
	accts := b.accounts
	b.accounts = make(map[string]*account)
	b.running = nil
	b.mu.Unlock()
	var wg sync.WaitGroup
	for _, a := range accts {
		wg.Go(a.stop)
	}
	wg.Wait()
}
