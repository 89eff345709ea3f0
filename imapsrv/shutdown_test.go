package imapsrv

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailbridge/mailbridge/upstream"
)

// bigBody is far more than the socket buffers of a slowConn hold, so a
// FETCH of it stays in flight until the client reads.
const bigBody = 4 << 20

// slowListener shrinks the server's send buffer, so that a client that
// stops reading holds up a FETCH within a few hundred kilobytes.
type slowListener struct{ net.Listener }

func (l slowListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(64 << 10)
	}
	return c, err
}

// serveSlow serves f's server on a slowListener too and returns its
// address and the channel Serve's result arrives on.
func (f *fixture) serveSlow() (string, <-chan error) {
	f.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.srv.ServeTLS(slowListener{l}) }()
	return l.Addr().String(), done
}

// loginSlow logs in over addr with a small receive buffer.
func (f *fixture) loginSlow(addr string) *client {
	f.t.Helper()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		f.t.Fatalf("dial: %v", err)
	}
	raw.(*net.TCPConn).SetReadBuffer(64 << 10)
	c := newClient(f.t, tls.Client(raw, &tls.Config{RootCAs: f.roots, ServerName: "127.0.0.1"}))
	c.Sx(`^\* OK `)
	c.C("l1 LOGIN " + testUser + " " + testPass)
	c.OK("l1")
	return c
}

func (f *fixture) addBigMessage() {
	f.t.Helper()
	line := strings.Repeat("x", 78) + "\n"
	body := "From: bob@example.com\nSubject: big\n\n" + strings.Repeat(line, bigBody/len(line))
	f.addMessage("big", 0, body, upstream.Inbox)
}

// busy reports how many commands run on the server's connections.
func (f *fixture) busy() int {
	f.srv.mu.Lock()
	defer f.srv.mu.Unlock()
	n := 0
	for lc := range f.srv.conns {
		lc.mu.Lock()
		n += lc.busy
		lc.mu.Unlock()
	}
	return n
}

// waitBusy waits until a command runs on some connection.
func (f *fixture) waitBusy() {
	for f.busy() == 0 {
		time.Sleep(time.Millisecond)
	}
}

// expectEOF reads what is left and fails unless the server closed the
// connection without another response.
func (c *client) expectEOF() {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(20 * time.Second)) // against a hung test
	rest, err := io.ReadAll(c.r)
	if err != nil || len(rest) > 0 {
		c.t.Fatalf("want the connection closed, got %q, %v", rest, err)
	}
}

// shutdown starts f's Shutdown and returns the channel its result
// arrives on.
func (f *fixture) shutdown(ctx context.Context) <-chan error {
	done := make(chan error, 1)
	go func() { done <- f.srv.Shutdown(ctx) }()
	return done
}

func TestShutdownLetsFetchFinish(t *testing.T) {
	f := newFixture(t)
	f.addBigMessage()
	addr, served := f.serveSlow()
	idle := f.login()
	c := f.loginSlow(addr)
	c.C("s SELECT INBOX")
	c.OK("s")

	c.C("f UID FETCH 4 BODY.PEEK[]")
	head, err := c.r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	m := literalRE.FindStringSubmatch(strings.TrimSuffix(head, "\r\n"))
	if m == nil {
		t.Fatalf("FETCH response: %q", head)
	}
	if f.busy() != 1 {
		t.Fatal("the FETCH is not in flight: socket buffers too big for this test")
	}

	done := f.shutdown(context.Background())
	// The connection between commands closes at once; by then every
	// connection drains.
	idle.expectEOF()
	if _, err := net.Dial("tcp", f.tlsAddr); err == nil {
		t.Error("still accepting connections")
	}

	n, _ := strconv.Atoi(m[1])
	lit := make([]byte, n)
	if _, err := io.ReadFull(c.r, lit); err != nil {
		t.Fatalf("read body: %v", err)
	}
	c.S(")")
	c.OK("f")
	c.expectEOF()
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("ServeTLS: %v", err)
	}
}

func TestShutdownLetsAppendFinish(t *testing.T) {
	f := newFixture(t)
	idle := f.login()
	c := f.login()
	msg := crlf("From: alice@example.org\nSubject: draft\n\nstill being written\n")
	c.C("a APPEND Drafts {" + itoa(len(msg)) + "}")
	c.S("+ Ready for literal data")
	c.write(msg[:10])
	f.waitBusy()

	done := f.shutdown(context.Background())
	idle.expectEOF()
	// The rest in two parts: the second is read after Shutdown began.
	c.write(msg[10:20])
	c.write(msg[20:] + "\r\n")
	c.OK("a")
	c.checkCode(t, "APPENDUID")
	c.expectEOF()
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func TestShutdownSaysByeToIdle(t *testing.T) {
	f := newFixture(t)
	c := f.login()
	c.C("s SELECT INBOX")
	c.OK("s")
	c.C("i IDLE")
	c.S("+ idling")
	other := f.login()
	unauth := f.dialTLS()

	if err := f.srv.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	c.S("* BYE " + byeText)
	c.expectEOF()
	other.expectEOF()
	unauth.expectEOF()
	if err := f.srv.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

func TestShutdownCutsStuckClient(t *testing.T) {
	f := newFixture(t)
	f.addBigMessage()
	addr, served := f.serveSlow()
	idle := f.login()
	c := f.loginSlow(addr)
	c.C("s SELECT INBOX")
	c.OK("s")
	c.C("f UID FETCH 4 BODY.PEEK[]")
	f.waitBusy() // and the client never reads the reply

	ctx, cancel := context.WithCancel(context.Background())
	done := f.shutdown(ctx)
	idle.expectEOF()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown = %v, want context.Canceled", err)
	}
	c.conn.SetReadDeadline(time.Now().Add(20 * time.Second)) // against a hung test
	rest, err := io.ReadAll(c.r)
	if err == nil && strings.Contains(string(rest), "\r\nf OK") {
		t.Error("the stuck FETCH completed")
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Error("the connection stayed open")
	}
	if err := <-served; err != nil {
		t.Errorf("ServeTLS: %v", err)
	}
}

func TestCloseDuringShutdown(t *testing.T) {
	f := newFixture(t)
	c := f.login()
	c.C("a APPEND INBOX {100}")
	c.S("+ Ready for literal data")
	f.waitBusy() // the literal never comes

	done := f.shutdown(context.Background())
	if err := f.srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	c.expectEOFOrReset()
}

// expectEOFOrReset reads until the connection ends, which it must.
func (c *client) expectEOFOrReset() {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(20 * time.Second)) // against a hung test
	if _, err := io.ReadAll(c.r); errors.Is(err, os.ErrDeadlineExceeded) {
		c.t.Error("the connection stayed open")
	}
}

func TestDrainingRefusesCommands(t *testing.T) {
	lc := &liveConn{}
	if err := lc.begin(); err != nil {
		t.Fatalf("begin: %v", err)
	}
	lc.markDraining()
	if lc.free() {
		t.Error("free while a command runs")
	}
	if err := lc.begin(); err != errShuttingDown {
		t.Errorf("begin while draining = %v, want errShuttingDown", err)
	}
	lc.end()
	if !lc.free() {
		t.Error("not free after the command ended")
	}
}

// TestEveryCommandIsTracked calls every command method of the session
// interfaces on a draining connection: each must be refused before it
// reaches the session, or a shutdown could cut it short.
func TestEveryCommandIsTracked(t *testing.T) {
	untracked := map[string]bool{"Close": true, "Poll": true, "Idle": true, "AppendLimit": true}
	lc := &liveConn{}
	lc.markDraining()
	ts := reflect.ValueOf(&trackedSession{session: &session{}, lc: lc})
	ifaces := []reflect.Type{
		reflect.TypeFor[imapserver.SessionIMAP4rev2](),
		reflect.TypeFor[imapserver.SessionUnauthenticate](),
		reflect.TypeFor[imapserver.SessionAppendLimit](),
		reflect.TypeFor[imapserver.SessionSASL](),
	}
	for _, iface := range ifaces {
		if !reflect.TypeFor[*session]().Implements(iface) {
			continue
		}
		for i := range iface.NumMethod() {
			name := iface.Method(i).Name
			if untracked[name] {
				continue
			}
			if err := callRefused(ts.MethodByName(name)); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}

// callRefused calls m with zero arguments and checks that it returned
// errShuttingDown without touching the session.
func callRefused(m reflect.Value) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = errors.New("reached the session")
		}
	}()
	args := make([]reflect.Value, m.Type().NumIn())
	for i := range args {
		args[i] = reflect.Zero(m.Type().In(i))
	}
	out := m.Call(args)
	if got, _ := out[len(out)-1].Interface().(error); got != errShuttingDown {
		return errors.New("not refused")
	}
	return nil
}
