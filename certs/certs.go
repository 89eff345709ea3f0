// Package certs manages the self-signed TLS certificate that the bridge's
// local IMAP, SMTP and POP3 listeners present to mail clients.
//
// The certificate is created on first use, stored next to its key in a
// directory, reused across restarts and replaced before it expires, when the
// files are damaged, or when the user asks for host names it does not cover.
// Mail clients must be told to trust it once (see [Cert.PEM]); a new
// certificate has to be trusted again, so Load only replaces it when needed.
package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// File names inside Options.Dir.
const (
	certFile = "cert.pem"
	keyFile  = "key.pem"
)

// RenewBefore is how long before expiry a certificate is replaced.
const RenewBefore = 30 * 24 * time.Hour

// Options configures Load.
type Options struct {
	// Dir holds cert.pem and key.pem; it is created (mode 0700) if missing.
	Dir string
	// Hosts are DNS names or IP addresses the certificate must cover in
	// addition to localhost, 127.0.0.1 and ::1.
	Hosts []string
	// Now returns the current time; nil means time.Now. Tests inject a clock.
	Now func() time.Time
	// Logger receives notices about created and renewed certificates;
	// nil discards them.
	Logger *slog.Logger
}

// Cert is the bridge's certificate. It is safe for concurrent use: the
// tls.Config it hands out picks up a renewed certificate on the next handshake.
type Cert struct {
	dir   string
	hosts hostSet // requested hosts, defaults included
	now   func() time.Time
	log   *slog.Logger

	mu      sync.Mutex // serialises renewals and file writes
	current atomic.Pointer[state]
}

// state is one certificate with its key, immutable once published.
type state struct {
	tls  *tls.Certificate
	leaf *x509.Certificate
	pem  []byte
}

// Load returns the certificate stored in opts.Dir, creating or replacing it
// when there is none, it is damaged, expires within [RenewBefore], is not
// yet valid, or does not cover every requested host.
func Load(opts Options) (*Cert, error) {
	if opts.Dir == "" {
		return nil, errors.New("certs: Options.Dir is empty")
	}
	hosts, err := newHostSet(opts.Hosts)
	if err != nil {
		return nil, err
	}
	c := &Cert{
		dir:   opts.Dir,
		hosts: hosts,
		now:   opts.Now,
		log:   opts.Logger,
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, fmt.Errorf("certs: create directory: %w", err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := readState(c.dir)
	switch {
	case errors.Is(err, errNoCert):
		c.log.Info("creating TLS certificate; mail clients must trust it once", "path", c.Path())
	case err != nil:
		c.log.Warn("stored TLS certificate is unusable, creating a new one; mail clients must trust it again",
			"path", c.Path(), "err", err)
	default:
		reason := c.staleReason(st.leaf)
		if reason == "" {
			c.current.Store(st)
			return c, nil
		}
		c.log.Warn("replacing TLS certificate; mail clients must trust the new one",
			"path", c.Path(), "reason", reason)
	}
	if err := c.renewLocked(); err != nil {
		return nil, err
	}
	return c, nil
}

// staleReason says why leaf must be replaced, or "" if it can stay.
func (c *Cert) staleReason(leaf *x509.Certificate) string {
	now := c.now()
	switch {
	case now.Before(leaf.NotBefore):
		return "not valid yet"
	case !now.Before(leaf.NotAfter):
		return "expired"
	case leaf.NotAfter.Sub(now) < RenewBefore:
		return "expires soon"
	}
	if missing := c.hosts.missingFrom(leaf); len(missing) > 0 {
		return fmt.Sprintf("does not cover %v", missing)
	}
	return ""
}

// TLSConfig returns a new server configuration that serves the current
// certificate, including one installed later by Renew, and refuses
// anything older than TLS 1.2. Callers may adjust the result but must not
// set Certificates: Go would then serve those to clients without SNI.
func (c *Cert) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.current.Load().tls, nil
		},
	}
}

// Renew replaces the certificate and key now, whatever their state.
func (c *Cert) Renew() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.renewLocked()
}

// RenewIfNeeded replaces the certificate if it expires within
// [RenewBefore] and reports whether it did. A long-running daemon calls it
// periodically (daily is plenty).
func (c *Cert) RenewIfNeeded() (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	reason := c.staleReason(c.current.Load().leaf)
	if reason == "" {
		return false, nil
	}
	c.log.Info("renewing TLS certificate; mail clients must trust the new one", "reason", reason)
	return true, c.renewLocked()
}

func (c *Cert) renewLocked() error {
	st, err := generate(c.hosts, c.now())
	if err != nil {
		return err
	}
	if err := writeState(c.dir, st); err != nil {
		return err
	}
	c.current.Store(st)
	c.log.Info("TLS certificate ready", "path", c.Path(),
		"not_after", st.leaf.NotAfter, "hosts", leafHosts(st.leaf))
	return nil
}

// PEM returns the certificate (never the key) PEM-encoded, for export to
// mail clients that need to trust it.
func (c *Cert) PEM() []byte {
	return append([]byte(nil), c.current.Load().pem...)
}

// Path is the location of cert.pem.
func (c *Cert) Path() string { return PathIn(c.dir) }

// PathIn is where Load keeps the certificate for Options.Dir dir.
func PathIn(dir string) string { return filepath.Join(dir, certFile) }

// NotAfter is when the current certificate expires.
func (c *Cert) NotAfter() time.Time { return c.current.Load().leaf.NotAfter }

// Hosts lists the DNS names and IP addresses the current certificate covers.
func (c *Cert) Hosts() []string { return leafHosts(c.current.Load().leaf) }
