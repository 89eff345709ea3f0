package bridge

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mailbridge/mailbridge/imapsrv"
	"github.com/mailbridge/mailbridge/smtpsrv"
	"github.com/mailbridge/mailbridge/vault"
)

// errBadLogin is all a client learns about a failed login.
var errBadLogin = errors.New("invalid username or password")

// errOffline tells an SMTP client to keep its message and try later.
var errOffline = errors.New("the account is not connected to the server yet")

// drainTimeout bounds how long SMTP transactions and IMAP commands in
// flight may take to finish at shutdown.
const drainTimeout = 5 * time.Second

// authenticate checks a mail client's login against the accounts' client
// passwords. Any of an account's addresses works as the username.
func (b *Bridge) authenticate(username, password string) (*account, error) {
	for _, a := range b.accountList() {
		cfg := a.config()
		if !matches(cfg, username) {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(password), []byte(cfg.ClientPassword)) == 1 {
			return a, nil
		}
		return nil, errBadLogin
	}
	return nil, errBadLogin
}

func matches(cfg vault.Account, username string) bool {
	if strings.EqualFold(username, cfg.Username) {
		return true
	}
	for _, addr := range cfg.Addresses {
		if strings.EqualFold(username, addr) {
			return true
		}
	}
	return false
}

type imapAuth struct{ b *Bridge }

func (x imapAuth) Authenticate(username, password string) (imapsrv.Account, error) {
	return x.b.authenticate(username, password)
}

type smtpAuth struct{ b *Bridge }

func (x smtpAuth) Authenticate(username, password string) (smtpsrv.Account, error) {
	a, err := x.b.authenticate(username, password)
	if err != nil {
		return nil, err
	}
	if a.Upstream() == nil {
		return nil, errOffline
	}
	return a, nil
}

// listenerSpec is what one listener should be.
type listenerSpec struct {
	name     string // "imap", "imaps", "smtp", "smtps": the settings it comes from
	host     string
	port     int
	security string // vault.SecuritySTARTTLS, SecurityTLS or SecurityOff
}

func (s listenerSpec) addr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port)) }

func specs(set vault.Settings) []listenerSpec {
	return []listenerSpec{
		{"imap", set.Host, set.IMAPPort, set.IMAPSecurity},
		{"imaps", set.Host, set.IMAPSPort, set.IMAPSSecurity},
		{"smtp", set.Host, set.SMTPPort, set.SMTPSecurity},
		{"smtps", set.Host, set.SMTPSPort, set.SMTPSSecurity},
	}
}

// running is one bound listener and the goroutine serving it.
type running struct {
	spec listenerSpec
	l    net.Listener
	done chan struct{}
}

// listenerSet owns the protocol servers and their listeners. The servers
// live as long as the daemon; listeners come and go with the settings, so
// a port change does not cut off the clients already connected.
type listenerSet struct {
	b    *Bridge
	imap *imapsrv.Server
	smtp *smtpsrv.Server

	mu      sync.Mutex // serialises apply and close
	current map[string]*running
	closed  bool
}

func newListenerSet(b *Bridge) *listenerSet {
	// The servers ask for the current certificate at every handshake, so
	// a renewal or `cert renew --host` needs no restart.
	tlsConfig := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			return b.Cert().TLSConfig().GetCertificate(hello)
		},
	}
	return &listenerSet{
		b:       b,
		imap:    imapsrv.New(imapsrv.Options{Auth: imapAuth{b}, TLSConfig: tlsConfig, Logger: b.log.With("proto", "imap")}),
		smtp:    smtpsrv.New(smtpsrv.Options{Auth: smtpAuth{b}, TLSConfig: tlsConfig, Logger: b.log.With("proto", "smtp")}),
		current: make(map[string]*running),
	}
}

// apply makes the listeners match set and saves set with the ports
// actually bound (a zero port picks a free one). If a listener cannot be
// bound, the previous listeners are restored and the error returned.
func (ls *listenerSet) apply(set vault.Settings) error {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.closed {
		return errors.New("the daemon is shutting down")
	}
	var changed []listenerSpec
	for _, want := range specs(set) {
		if cur := ls.current[want.name]; cur != nil && cur.spec == want && want.port != 0 {
			continue
		}
		if cur := ls.current[want.name]; cur == nil && want.security == vault.SecurityOff {
			continue
		}
		changed = append(changed, want)
	}
	// Close first: a listener may move to the port another one frees,
	// or keep its port and change its security.
	old := make(map[string]listenerSpec)
	for _, want := range changed {
		if cur := ls.current[want.name]; cur != nil {
			old[want.name] = cur.spec
			ls.stopLocked(want.name)
		}
	}
	var bound []*running
	var err error
	for _, want := range changed {
		if want.security == vault.SecurityOff {
			continue
		}
		l, lerr := net.Listen("tcp", want.addr())
		if lerr != nil {
			err = fmt.Errorf("listen for %s on %s: %w", strings.ToUpper(want.name), want.addr(), lerr)
			break
		}
		want.port = l.Addr().(*net.TCPAddr).Port
		bound = append(bound, &running{spec: want, l: l, done: make(chan struct{})})
	}
	if err != nil {
		for _, r := range bound {
			r.l.Close()
		}
		for _, spec := range old {
			if l, lerr := net.Listen("tcp", spec.addr()); lerr == nil {
				ls.startLocked(&running{spec: spec, l: l, done: make(chan struct{})})
			} else {
				ls.b.log.Error("could not restore listener", "proto", spec.name, "err", lerr)
			}
		}
		return err
	}
	for _, r := range bound {
		ls.startLocked(r)
	}

	for name, r := range ls.current {
		switch name {
		case "imap":
			set.IMAPPort = r.spec.port
		case "imaps":
			set.IMAPSPort = r.spec.port
		case "smtp":
			set.SMTPPort = r.spec.port
		case "smtps":
			set.SMTPSPort = r.spec.port
		}
	}
	if err := ls.b.vault.SetSettings(set); err != nil {
		return fmt.Errorf("save settings: %w", err)
	}
	return nil
}

func (ls *listenerSet) startLocked(r *running) {
	ls.current[r.spec.name] = r
	serve := ls.imap.Serve
	switch {
	case strings.HasPrefix(r.spec.name, "imap") && r.spec.security == vault.SecurityTLS:
		serve = ls.imap.ServeTLS
	case strings.HasPrefix(r.spec.name, "smtp") && r.spec.security == vault.SecurityTLS:
		serve = ls.smtp.ServeTLS
	case strings.HasPrefix(r.spec.name, "smtp"):
		serve = ls.smtp.Serve
	}
	log := ls.b.log
	go func() {
		defer close(r.done)
		log.Info("listening", "proto", r.spec.name, "addr", r.l.Addr().String(), "security", r.spec.security)
		if err := serve(r.l); err != nil && !errors.Is(err, net.ErrClosed) {
			log.Error("listener stopped", "proto", r.spec.name, "err", err)
		}
	}()
}

// stopLocked closes one listener; its connections stay open.
func (ls *listenerSet) stopLocked(name string) {
	r := ls.current[name]
	if r == nil {
		return
	}
	delete(ls.current, name)
	r.l.Close()
	<-r.done
}

// addrs returns the bound address of each running listener by name.
func (ls *listenerSet) addrs() map[string]listenerSpec {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	out := make(map[string]listenerSpec, len(ls.current))
	for name, r := range ls.current {
		out[name] = r.spec
	}
	return out
}

// close stops accepting, lets SMTP transactions and IMAP commands in
// flight finish for up to drainTimeout, and closes every connection.
func (ls *listenerSet) close() {
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	ls.mu.Lock()
	ls.closed = true
	for name := range ls.current {
		ls.stopLocked(name)
	}
	ls.mu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() {
		// Other errors are about listeners closed above already.
		if err := ls.smtp.Shutdown(ctx); errors.Is(err, context.DeadlineExceeded) {
			ls.b.log.Warn("SMTP clients cut off at shutdown", "err", err)
		}
	})
	if err := ls.imap.Shutdown(ctx); err != nil {
		ls.b.log.Warn("IMAP clients cut off at shutdown", "err", err)
	}
	wg.Wait()
}
