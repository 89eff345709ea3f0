package imapsrv

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
)

// Implicit TLS connections reach go-imap behind a write buffer and with
// InsecureAuth set; these tests pin down that this allows nothing on
// plaintext connections that it did not before.

func TestImplicitTLSCapabilities(t *testing.T) {
	f := newFixture(t)
	c := f.dialTLS()
	c.C("a1 CAPABILITY")
	caps := c.OK("a1")
	if len(caps) != 1 || !strings.Contains(caps[0], "AUTH=PLAIN") {
		t.Fatalf("capabilities over implicit TLS: %q", caps)
	}
	for _, not := range []string{"STARTTLS", "LOGINDISABLED"} {
		if strings.Contains(caps[0], not) {
			t.Errorf("implicit TLS offers %s: %q", not, caps[0])
		}
	}
	// A second TLS layer would confuse both ends.
	c.C("a2 STARTTLS")
	c.notOK("a2")
	c.C("a3 LOGIN " + testUser + " " + testPass)
	c.OK("a3")
}

func TestPlaintextAuthenticateRefused(t *testing.T) {
	f := newFixture(t)
	c := f.dialPlain()
	c.Sx(`^\* OK `)
	c.C("a1 CAPABILITY")
	caps := c.OK("a1")
	if len(caps) != 1 || !strings.Contains(caps[0], "LOGINDISABLED") || !strings.Contains(caps[0], "STARTTLS") || strings.Contains(caps[0], "AUTH=") {
		t.Fatalf("capabilities before STARTTLS: %q", caps)
	}
	// Without SASL-IR: refused before any challenge.
	c.C("a2 AUTHENTICATE PLAIN")
	c.NO("a2")
	c.checkCode(t, "PRIVACYREQUIRED")
	c.C("a3 AUTHENTICATE PLAIN " + plain(testUser, testPass))
	c.NO("a3")
	c.checkCode(t, "PRIVACYREQUIRED")
	c.C("a4 LOGIN " + testUser + " " + testPass)
	c.NO("a4")
	c.checkCode(t, "PRIVACYREQUIRED")

	c.C("a5 STARTTLS")
	c.OK("a5")
	c.startTLS(f.roots)
	c.C("a6 AUTHENTICATE PLAIN")
	c.S("+ =")
	c.C(plain(testUser, testPass))
	c.OK("a6")
}

func TestTLSBufferedListenerRefusesPlaintext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := net.Dial("tcp", l.Addr().String()); err == nil {
			c.Close()
		}
	}()
	if c, err := (tlsBufferedListener{l}).Accept(); err == nil {
		c.Close()
		t.Fatal("a plaintext connection was accepted as TLS")
	}
}

func TestIsTLS(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if isTLS(a) || isTLS(&bufferedConn{Conn: a}) {
		t.Error("a plaintext connection counts as TLS")
	}
	tc := tls.Server(a, &tls.Config{})
	if !isTLS(tc) || !isTLS(&bufferedConn{Conn: tc}) {
		t.Error("a TLS connection does not count as TLS")
	}
}
