package smtpsrv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"log/slog"
	"net"
	"net/textproto"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/mailbridge/mailbridge/certs"
	"github.com/mailbridge/mailbridge/crypto"
)

const (
	aliceAddr = "alice@example.org"
	bobAddr   = "bob@example.net"   // publishes a key
	carolAddr = "carol@example.com" // no key
	daveAddr  = "dave@example.com"  // no key, used as Bcc
	userName  = "alice@example.org"
	userPass  = "bridge-password"
)

// harness is a running Server with a fake upstream, listening on a plain
// (STARTTLS) and an implicit TLS port.
type harness struct {
	srv        *Server
	up         *fakeUpstream
	alice, bob *openpgp.Entity
	plainAddr  string
	tlsAddr    string
	caFile     string      // PEM of the server certificate, for other clients
	clientTLS  *tls.Config // trusts the server certificate
	logs       *syncBuffer // everything the server logged
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// harnessOpts varies the harness; the zero value is the default server.
type harnessOpts struct {
	maxBytes int64
	// account, when set, wraps the plain fake account (to add a policy).
	account func(*fakeAccount) Account
	// sleep replaces the login wait; nil records nothing and returns at once.
	sleep func(context.Context, time.Duration) error
	now   func() time.Time
}

func newHarness(t testing.TB, maxBytes int64) *harness {
	t.Helper()
	return newHarnessWith(t, harnessOpts{maxBytes: maxBytes})
}

func newHarnessWith(t testing.TB, o harnessOpts) *harness {
	t.Helper()
	alice, err := crypto.GenerateKey("Alice", aliceAddr)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := crypto.GenerateKey("Bob", bobAddr)
	if err != nil {
		t.Fatal(err)
	}
	bobPub, err := crypto.ArmorPublicKey(bob)
	if err != nil {
		t.Fatal(err)
	}
	up := newFakeUpstream()
	up.keys[bobAddr] = bobPub
	fa := &fakeAccount{addrs: []string{aliceAddr, "alias@example.org"}, up: up, keys: openpgp.EntityList{alice}}
	var acct Account = fa
	if o.account != nil {
		acct = o.account(fa)
	}
	sleep := o.sleep
	if sleep == nil {
		sleep = func(context.Context, time.Duration) error { return nil }
	}
	now := o.now
	if now == nil {
		now = time.Now
	}

	cert, err := certs.Load(certs.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	caFile := cert.Path()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(cert.PEM())

	logs := &syncBuffer{}
	srv := newServer(Options{
		Logger:          slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Auth:            fakeAuth{user: userName, pass: userPass, acct: acct},
		TLSConfig:       cert.TLSConfig(),
		MaxMessageBytes: o.maxBytes,
	}, now, sleep)
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	go func() { errs <- srv.Serve(pl) }()
	go func() { errs <- srv.ServeTLS(tl) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
	})
	return &harness{
		srv: srv, up: up, alice: alice, bob: bob,
		plainAddr: pl.Addr().String(), tlsAddr: tl.Addr().String(),
		caFile:    caFile,
		logs:      logs,
		clientTLS: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"},
	}
}

// client is a line-level SMTP client, so tests see the exact replies.
type client struct {
	t    *testing.T
	conn net.Conn
	tp   *textproto.Conn
}

// hangGuard bounds every client read and write, so a server that stops
// answering fails the test instead of hanging it. It is far above any
// expected latency and asserts nothing about speed.
const hangGuard = time.Minute

func dial(t *testing.T, h *harness, implicitTLS bool) *client {
	t.Helper()
	var conn net.Conn
	var err error
	if implicitTLS {
		conn, err = tls.Dial("tcp", h.tlsAddr, h.clientTLS)
	} else {
		conn, err = net.Dial("tcp", h.plainAddr)
	}
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, conn: conn, tp: textproto.NewConn(conn)}
	t.Cleanup(func() { c.conn.Close() })
	c.expect(220)
	return c
}

// dialAuthed returns a client that is past EHLO and AUTH over TLS.
func dialAuthed(t *testing.T, h *harness) *client {
	t.Helper()
	c := dial(t, h, true)
	c.ok(250, "EHLO client.test")
	c.ok(235, "AUTH PLAIN "+plainIR(userName, userPass))
	return c
}

func (c *client) read() (int, string) {
	c.t.Helper()
	_ = c.conn.SetDeadline(time.Now().Add(hangGuard))
	code, msg, err := c.tp.ReadResponse(0)
	if err != nil {
		c.t.Fatalf("reading reply: %v", err)
	}
	return code, msg
}

func (c *client) expect(want int) string {
	c.t.Helper()
	code, msg := c.read()
	if code != want {
		c.t.Fatalf("got %d %q, want %d", code, msg, want)
	}
	return msg
}

// cmd sends a command and returns the reply.
func (c *client) cmd(line string) (int, string) {
	c.t.Helper()
	_ = c.conn.SetDeadline(time.Now().Add(hangGuard))
	if err := c.tp.PrintfLine("%s", line); err != nil {
		c.t.Fatalf("sending %q: %v", line, err)
	}
	return c.read()
}

// ok sends a command and fails the test unless the reply has code want.
func (c *client) ok(want int, line string) string {
	c.t.Helper()
	code, msg := c.cmd(line)
	if code != want {
		c.t.Fatalf("%s: got %d %q, want %d", line, code, msg, want)
	}
	return msg
}

func (c *client) startTLS(cfg *tls.Config) {
	c.t.Helper()
	c.ok(220, "STARTTLS")
	tc := tls.Client(c.conn, cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	c.conn = tc
	c.tp = textproto.NewConn(tc)
}

// data sends DATA and the message (CRLF line endings, dot-stuffed here)
// and returns the final reply.
func (c *client) data(msg string) (int, string) {
	c.t.Helper()
	c.ok(354, "DATA")
	w := c.tp.DotWriter()
	if _, err := w.Write([]byte(msg)); err != nil {
		c.t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		c.t.Fatal(err)
	}
	return c.read()
}

// send runs one whole transaction and returns the reply to DATA.
func (c *client) send(from string, rcpts []string, msg string) (int, string) {
	c.t.Helper()
	c.ok(250, "MAIL FROM:<"+from+">")
	for _, r := range rcpts {
		c.ok(250, "RCPT TO:<"+r+">")
	}
	return c.data(msg)
}

// closed reports whether the server has closed the connection.
func (c *client) closed() bool {
	_ = c.conn.SetReadDeadline(time.Now().Add(hangGuard))
	_, err := bufio.NewReader(c.conn).ReadByte()
	return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

func plainIR(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// crlf turns a message written with "\n" into wire form.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }
