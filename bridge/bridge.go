// Package bridge is the daemon: it holds the accounts, opens their caches,
// logs in to the upstream, runs their syncers, and serves IMAP and SMTP on
// local listeners with the bridge's own certificate. It wires the other
// packages together and speaks no mail protocol itself.
package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/mailbridge/mailbridge/certs"
	"github.com/mailbridge/mailbridge/upstream"
	"github.com/mailbridge/mailbridge/vault"
)

// Options configures a Bridge.
type Options struct {
	// DataDir holds the vault, the certificate and the caches.
	DataDir string
	Backend upstream.Backend
	// Keyring holds the vault key; nil keeps it in a key file in DataDir.
	Keyring vault.Keyring
	// Ports, if set, are the ports to listen on instead of the saved
	// settings; a zero port picks a free one. The ports actually bound
	// are saved, so `mailbridge info` shows them.
	Ports  *Ports
	Logger *slog.Logger
}

// Ports are the local listening ports.
type Ports struct {
	IMAP, IMAPS, SMTP, SMTPS int
}

// Bridge is the running daemon.
type Bridge struct {
	opts  Options
	log   *slog.Logger
	vault *vault.Vault
	cert  *certs.Cert

	mu       sync.Mutex
	accounts map[string]*account // by vault account ID
	running  context.Context     // set while Run runs; accounts started later use it
}

// New opens the data dir: the vault (created on first use) and the
// certificate (created, or renewed when it is close to expiry).
func New(opts Options) (*Bridge, error) {
	if opts.DataDir == "" {
		return nil, errors.New("bridge: no data dir")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cacheDir(opts.DataDir), 0o700); err != nil {
		return nil, fmt.Errorf("bridge: %w", err)
	}
	v, err := vault.Open(vault.Options{Dir: opts.DataDir, Keyring: opts.Keyring, Logger: opts.Logger})
	if err != nil {
		return nil, fmt.Errorf("bridge: open vault: %w", err)
	}
	cert, err := certs.Load(certs.Options{Dir: certDir(opts.DataDir), Logger: opts.Logger})
	if err != nil {
		return nil, fmt.Errorf("bridge: certificate: %w", err)
	}
	return &Bridge{
		opts:     opts,
		log:      opts.Logger,
		vault:    v,
		cert:     cert,
		accounts: make(map[string]*account),
	}, nil
}

func certDir(dataDir string) string  { return filepath.Join(dataDir, "tls") }
func cacheDir(dataDir string) string { return filepath.Join(dataDir, "cache") }

// Vault returns the bridge's vault.
func (b *Bridge) Vault() *vault.Vault { return b.vault }

// Cert returns the bridge's TLS certificate.
func (b *Bridge) Cert() *certs.Cert { return b.cert }

// Run starts every account and the listeners, calls ready once clients can
// connect, and serves until ctx ends; then it stops accepting, closes
// connections, stops the syncers and closes the caches.
func (b *Bridge) Run(ctx context.Context, ready func(Info)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	b.mu.Lock()
	b.running = ctx
	b.mu.Unlock()

	for _, a := range b.vault.Accounts() {
		if err := b.startAccount(ctx, a); err != nil {
			b.stopAccounts()
			return err
		}
	}
	ls, err := b.listen()
	if err != nil {
		b.stopAccounts()
		return err
	}
	servers := b.serve(ls)
	if ready != nil {
		ready(b.info())
	}

	<-ctx.Done()
	b.log.Info("shutting down")
	servers.close()
	b.stopAccounts()
	b.log.Info("stopped")
	return nil
}

// WaitSynced blocks until every account has finished its initial sync or
// ctx ends.
func (b *Bridge) WaitSynced(ctx context.Context) error {
	b.mu.Lock()
	accts := make([]*account, 0, len(b.accounts))
	for _, a := range b.accounts {
		accts = append(accts, a)
	}
	b.mu.Unlock()
	for _, a := range accts {
		if err := a.waitSynced(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (b *Bridge) stopAccounts() {
	b.mu.Lock()
	accts := b.accounts
	b.accounts = make(map[string]*account)
	b.running = nil
	b.mu.Unlock()
	for _, a := range accts {
		a.stop()
	}
}
