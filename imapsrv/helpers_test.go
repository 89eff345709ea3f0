package imapsrv

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/certs"
	"github.com/mailbridge/mailbridge/store"
	"github.com/mailbridge/mailbridge/upstream"
)

const (
	testUser = "alice@example.org"
	testPass = "client-secret"
)

// fixture is a Server on 127.0.0.1 over a real store.
type fixture struct {
	t         *testing.T
	st        *store.Store
	srv       *Server
	plainAddr string
	tlsAddr   string
	certFile  string
	roots     *x509.CertPool
}

type testAccount struct{ st *store.Store }

func (a testAccount) Store() *store.Store { return a.st }

type testAuth struct{ st *store.Store }

func (a testAuth) Authenticate(username, password string) (Account, error) {
	if username != testUser || password != testPass {
		return nil, errors.New("bad credentials")
	}
	return testAccount(a), nil
}

// newFixture opens a store holding the system mailboxes and three
// messages in INBOX, and serves it on a STARTTLS and an implicit TLS port.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, nil)
}

// newFixtureWith is newFixture with options adjusted by edit.
func newFixtureWith(t *testing.T, edit func(*Options)) *fixture {
	t.Helper()
	dir := t.TempDir()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(store.Options{Path: filepath.Join(dir, "cache.db"), Key: key, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{t: t, st: st}
	f.apply(store.Changes{Mailboxes: []upstream.Mailbox{
		{ID: upstream.Inbox, Name: "Inbox", Kind: upstream.KindSystem},
		{ID: upstream.Drafts, Name: "Drafts", Kind: upstream.KindSystem},
		{ID: upstream.Sent, Name: "Sent", Kind: upstream.KindSystem},
		{ID: upstream.Archive, Name: "Archive", Kind: upstream.KindSystem},
		{ID: upstream.Spam, Name: "Spam", Kind: upstream.KindSystem},
		{ID: upstream.Trash, Name: "Trash", Kind: upstream.KindSystem},
		{ID: "lbl-work", Name: "Work", Kind: upstream.KindUser},
		{ID: "lbl-work-2024", Name: "Work/2024", Kind: upstream.KindUser},
	}})
	f.addMessage("m1", upstream.FlagSeen, testMessage1, upstream.Inbox)
	f.addMessage("m2", 0, testMessage2, upstream.Inbox)
	f.addMessage("m3", upstream.FlagFlagged, testMessage3, upstream.Inbox)

	cert := testCert(t)
	f.certFile = cert.Path()
	f.roots = x509.NewCertPool()
	f.roots.AppendCertsFromPEM(cert.PEM())

	opts := Options{
		Auth:      testAuth{st},
		TLSConfig: cert.TLSConfig(),
		Logger:    slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	}
	if edit != nil {
		edit(&opts)
	}
	f.srv = New(opts)
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	implicit, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.plainAddr, f.tlsAddr = plain.Addr().String(), implicit.Addr().String()
	done := make(chan error, 2)
	go func() { done <- f.srv.Serve(plain) }()
	go func() { done <- f.srv.ServeTLS(implicit) }()
	t.Cleanup(func() {
		if err := f.srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
	})
	return f
}

func (f *fixture) apply(c store.Changes) {
	f.t.Helper()
	if err := f.st.Apply(c); err != nil {
		f.t.Fatalf("store.Apply: %v", err)
	}
}

func (f *fixture) addMessage(id string, flags upstream.Flags, body string, mailboxes ...string) {
	f.t.Helper()
	f.apply(store.Changes{Messages: []store.Incoming{{
		Meta: upstream.MessageMeta{ID: id, MailboxIDs: mailboxes, Flags: flags, Date: time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC), Size: int64(len(body))},
		Body: []byte(crlf(body)),
	}}})
}

func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// testCert is the bridge's own kind of certificate, made in a temporary
// folder, so the tests see what clients of the real daemon see.
func testCert(t testing.TB) *certs.Cert {
	t.Helper()
	c, err := certs.Load(certs.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// client is a line-level IMAP test client:
//
//	c.C("a SELECT INBOX")
//	c.S("* 3 EXISTS")
//	c.OK("a")
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	// lastTagged is the last tagged reply OK/NO/BAD read.
	lastTagged string
}

// dialTLS connects to the implicit TLS port and reads the greeting.
func (f *fixture) dialTLS() *client {
	f.t.Helper()
	conn, err := tls.Dial("tcp", f.tlsAddr, &tls.Config{RootCAs: f.roots, ServerName: "127.0.0.1"})
	if err != nil {
		f.t.Fatalf("dial: %v", err)
	}
	c := newClient(f.t, conn)
	c.Sx(`^\* OK \[CAPABILITY .*AUTH=PLAIN.*\]`)
	return c
}

// dialPlain connects to the STARTTLS port and reads the greeting.
func (f *fixture) dialPlain() *client {
	f.t.Helper()
	conn, err := net.Dial("tcp", f.plainAddr)
	if err != nil {
		f.t.Fatalf("dial: %v", err)
	}
	return newClient(f.t, conn)
}

// login opens an implicit TLS connection and logs in.
func (f *fixture) login() *client {
	c := f.dialTLS()
	c.C("l1 LOGIN " + testUser + " " + testPass)
	c.OK("l1")
	return c
}

func newClient(t *testing.T, conn net.Conn) *client {
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	t.Cleanup(func() { conn.Close() })
	return c
}

// startTLS upgrades a plain connection after a successful STARTTLS.
func (c *client) startTLS(roots *x509.CertPool) {
	c.t.Helper()
	tc := tls.Client(c.conn, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
}

// C sends a command line.
// selectedPair logs in two sessions that both have mailbox selected.
func (f *fixture) selectedPair(mailbox string) (a, b *client) {
	a, b = f.login(), f.login()
	for _, c := range []*client{a, b} {
		c.C("sel SELECT " + mailbox)
		c.OK("sel")
	}
	return a, b
}

func (c *client) C(line string) {
	c.t.Helper()
	c.write(line + "\r\n")
}

func (c *client) write(s string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// line reads one response line, literals included inline.
func (c *client) line() string {
	c.t.Helper()
	// A safety net against a hung test, not an assertion on speed.
	c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	var sb strings.Builder
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read: %v (got %q)", err, sb.String()+l)
		}
		l = strings.TrimSuffix(l, "\r\n")
		sb.WriteString(l)
		m := literalRE.FindStringSubmatch(l)
		if m == nil {
			return sb.String()
		}
		n, _ := strconv.Atoi(m[1])
		buf := make([]byte, n)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			c.t.Fatalf("read literal: %v", err)
		}
		sb.WriteString("\r\n")
		sb.Write(buf)
	}
}

var literalRE = regexp.MustCompile(`~?\{(\d+)\}$`)

// S expects the next lines to be exactly these.
func (c *client) S(want ...string) {
	c.t.Helper()
	for _, w := range want {
		if got := c.line(); got != w {
			c.t.Fatalf("got  %q\nwant %q", got, w)
		}
	}
}

// Sx expects the next line to match a regular expression.
func (c *client) Sx(re string) string {
	c.t.Helper()
	got := c.line()
	if !regexp.MustCompile(re).MatchString(got) {
		c.t.Fatalf("got  %q\nwant match %q", got, re)
	}
	return got
}

// Tagged reads until the tagged reply to tag and returns the untagged
// lines before it and the tagged line.
func (c *client) Tagged(tag string) ([]string, string) {
	c.t.Helper()
	var untagged []string
	for {
		l := c.line()
		if strings.HasPrefix(l, tag+" ") {
			return untagged, l
		}
		untagged = append(untagged, l)
	}
}

// OK reads until tag's reply, requires OK and returns the untagged lines.
func (c *client) OK(tag string) []string { return c.expectStatus(tag, "OK") }

// NO reads until tag's reply, requires NO and returns the untagged lines.
func (c *client) NO(tag string) []string { return c.expectStatus(tag, "NO") }

// BAD reads until tag's reply, requires BAD and returns the untagged lines.
func (c *client) BAD(tag string) []string { return c.expectStatus(tag, "BAD") }

func (c *client) expectStatus(tag, status string) []string {
	c.t.Helper()
	untagged, l := c.Tagged(tag)
	if !strings.HasPrefix(l, tag+" "+status) {
		c.t.Fatalf("want %s %s, got %q (untagged: %q)", tag, status, l, untagged)
	}
	c.lastTagged = l
	return untagged
}

// has fails unless lines contain want exactly.
func has(t *testing.T, lines []string, want ...string) {
	t.Helper()
	for _, w := range want {
		found := false
		for _, l := range lines {
			if l == w {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("missing %q in\n%s", w, strings.Join(lines, "\n"))
		}
	}
}

// hasNot fails if any line contains sub.
func hasNot(t *testing.T, lines []string, sub string) {
	t.Helper()
	for _, l := range lines {
		if strings.Contains(l, sub) {
			t.Errorf("unexpected %q in %q", sub, l)
		}
	}
}

func literal(s string) string { return fmt.Sprintf("{%d}\r\n%s", len(s), s) }

// checkCode fails unless the last tagged reply carries [code].
func (c *client) checkCode(t *testing.T, code string) {
	t.Helper()
	if !strings.Contains(c.lastTagged, "["+code) {
		t.Errorf("want [%s] in %q", code, c.lastTagged)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// notOK reads until tag's reply and requires NO or BAD.
func (c *client) notOK(tag string) []string {
	c.t.Helper()
	untagged, l := c.Tagged(tag)
	if !strings.HasPrefix(l, tag+" NO") && !strings.HasPrefix(l, tag+" BAD") {
		c.t.Fatalf("want %s NO or BAD, got %q", tag, l)
	}
	c.lastTagged = l
	return untagged
}

func literalPlus(s string) string { return fmt.Sprintf("{%d+}\r\n%s", len(s), s) }
