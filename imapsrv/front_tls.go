package imapsrv

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"time"
)

// STARTTLS and the plaintext rules before it.

func (f *frontConn) handleStartTLS(tag string, line []byte, mark literalMark) error {
	if mark.ok || len(bytes.TrimSpace(trimEOL(line))) != len(tag)+len(" STARTTLS") {
		return f.refuse(tag, "BAD", "CLIENTBUG", "Syntax error: STARTTLS takes no arguments", mark)
	}
	if f.isTLS() {
		return f.replyStatus(tag, "BAD", "", "TLS is already active")
	}
	if f.startTLS == nil {
		return f.replyStatus(tag, "NO", "", "STARTTLS not supported")
	}
	if err := f.replyStatus(tag, "OK", "", "Begin TLS negotiation now"); err != nil {
		return err
	}
	// Anything the client sent after STARTTLS was sent in the clear and
	// must not count as said under TLS (the STARTTLS injection attack).
	f.in.reset()
	plain := f.conn
	if err := flushConn(plain); err != nil {
		return err
	}
	tc := tls.Server(plain, f.startTLS)
	plain.SetDeadline(time.Now().Add(handshakeTimeout))
	err := tc.Handshake()
	plain.SetDeadline(time.Time{})
	if err != nil {
		return fmt.Errorf("imapsrv: STARTTLS handshake: %w", err)
	}
	f.mu.Lock()
	f.conn = &bufferedConn{Conn: tc}
	f.tlsOn = true
	f.mu.Unlock()
	return nil
}

// refuseLogin refuses credentials before TLS, without asking for a
// password literal or a SASL response the client would send in the clear.
func (f *frontConn) refuseLogin(tag string, line []byte, mark literalMark) error {
	return f.refuse(tag, "NO", "PRIVACYREQUIRED", "TLS is required to authenticate", mark)
}
