package bridge

import (
	"context"
	"crypto/subtle"
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

// authenticate checks a mail client's login against the accounts' client
// passwords. Any of an account's addresses works as the username.
func (b *Bridge) authenticate(username, password string) (*account, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, a := range b.accounts {
		if !a.matches(username) {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(password), []byte(a.cfg.ClientPassword)) == 1 {
			return a, nil
		}
		return nil, errBadLogin
	}
	return nil, errBadLogin
}

func (a *account) matches(username string) bool {
	if strings.EqualFold(username, a.cfg.Username) {
		return true
	}
	for _, addr := range a.cfg.Addresses {
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

// listeners are the four bound sockets.
type listeners struct {
	imap, imaps, smtp, smtps net.Listener
}

func (b *Bridge) listen() (*listeners, error) {
	set := b.vault.Settings().WithDefaults()
	ports := Ports{IMAP: set.IMAPPort, IMAPS: set.IMAPSPort, SMTP: set.SMTPPort, SMTPS: set.SMTPSPort}
	if b.opts.Ports != nil {
		ports = *b.opts.Ports
	}
	var ls listeners
	var err error
	bind := func(port int, name string) net.Listener {
		if err != nil {
			return nil
		}
		var l net.Listener
		l, err = net.Listen("tcp", net.JoinHostPort(set.Host, strconv.Itoa(port)))
		if err != nil {
			err = fmt.Errorf("listen for %s on %s port %d: %w", name, set.Host, port, err)
		}
		return l
	}
	ls.imap = bind(ports.IMAP, "IMAP")
	ls.imaps = bind(ports.IMAPS, "IMAPS")
	ls.smtp = bind(ports.SMTP, "SMTP")
	ls.smtps = bind(ports.SMTPS, "SMTPS")
	if err != nil {
		ls.close()
		return nil, err
	}

	set.IMAPPort, set.IMAPSPort = portOf(ls.imap), portOf(ls.imaps)
	set.SMTPPort, set.SMTPSPort = portOf(ls.smtp), portOf(ls.smtps)
	if err := b.vault.SetSettings(set); err != nil {
		ls.close()
		return nil, fmt.Errorf("save settings: %w", err)
	}
	return &ls, nil
}

func (ls *listeners) close() {
	for _, l := range []net.Listener{ls.imap, ls.imaps, ls.smtp, ls.smtps} {
		if l != nil {
			l.Close()
		}
	}
}

func portOf(l net.Listener) int { return l.Addr().(*net.TCPAddr).Port }

// servers are the protocol servers running on the listeners.
type servers struct {
	imap *imapsrv.Server
	smtp *smtpsrv.Server
	wg   sync.WaitGroup
}

func (b *Bridge) serve(ls *listeners) *servers {
	tlsConfig := b.cert.TLSConfig()
	s := &servers{
		imap: imapsrv.New(imapsrv.Options{Auth: imapAuth{b}, TLSConfig: tlsConfig, Logger: b.log.With("proto", "imap")}),
		smtp: smtpsrv.New(smtpsrv.Options{Auth: smtpAuth{b}, TLSConfig: tlsConfig, Logger: b.log.With("proto", "smtp")}),
	}
	run := func(name string, serve func(net.Listener) error, l net.Listener) {
		s.wg.Go(func() {
			b.log.Info("listening", "proto", name, "addr", l.Addr().String())
			if err := serve(l); err != nil && !errors.Is(err, net.ErrClosed) {
				b.log.Error("listener stopped", "proto", name, "err", err)
			}
		})
	}
	run("imap", s.imap.Serve, ls.imap)
	run("imaps", s.imap.ServeTLS, ls.imaps)
	run("smtp", s.smtp.Serve, ls.smtp)
	run("smtps", s.smtp.ServeTLS, ls.smtps)
	return s
}

// close stops accepting, lets SMTP transactions in flight finish for a
// few seconds, and closes every connection.
func (s *servers) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.smtp.Shutdown(ctx)
	s.imap.Close()
	s.wg.Wait()
}

// settings returns the saved settings with defaults filled in.
func settings(v *vault.Vault) vault.Settings { return v.Settings().WithDefaults() }
