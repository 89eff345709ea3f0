// Package rawimap is a deliberately dumb IMAP client for tests: it writes
// command lines and reads response lines over TLS, so that protocol tests
// see the server's bytes rather than a library's interpretation of them.
package rawimap

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"time"
)

// Conn is one connection. It is not safe for concurrent use.
type Conn struct {
	conn net.Conn
	r    *bufio.Reader
	tag  int
	// Timeout bounds each read so a broken server fails a test instead of
	// hanging it.
	Timeout time.Duration
}

// DialTLS connects with implicit TLS, trusting only the PEM certificate
// given, and reads the greeting.
func DialTLS(addr string, certPEM []byte) (*Conn, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(certPEM) {
		return nil, fmt.Errorf("rawimap: no certificate in PEM")
	}
	host, _, _ := net.SplitHostPort(addr)
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: host})
	if err != nil {
		return nil, err
	}
	c := &Conn{conn: conn, r: bufio.NewReader(conn), Timeout: 30 * time.Second}
	if _, err := c.ReadLine(); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.conn.Close() }

// ReadLine returns the next response line without its CRLF.
func (c *Conn) ReadLine() (string, error) {
	c.conn.SetReadDeadline(time.Now().Add(c.Timeout))
	line, err := c.r.ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

// Send writes one raw line (CRLF added).
func (c *Conn) Send(line string) error {
	_, err := c.conn.Write([]byte(line + "\r\n"))
	return err
}

// Cmd sends a tagged command and returns the untagged lines and the
// tagged completion line. Literals in responses are returned inline as
// the raw lines they span.
func (c *Conn) Cmd(format string, args ...any) (untagged []string, done string, err error) {
	c.tag++
	tag := fmt.Sprintf("T%d", c.tag)
	if err := c.Send(tag + " " + fmt.Sprintf(format, args...)); err != nil {
		return nil, "", err
	}
	for {
		line, err := c.ReadLine()
		if err != nil {
			return untagged, "", err
		}
		if strings.HasPrefix(line, tag+" ") {
			return untagged, strings.TrimPrefix(line, tag+" "), nil
		}
		untagged = append(untagged, line)
	}
}

// OK runs a command and fails unless it completes with OK.
func (c *Conn) OK(format string, args ...any) ([]string, error) {
	lines, done, err := c.Cmd(format, args...)
	if err != nil {
		return lines, err
	}
	if !strings.HasPrefix(done, "OK") {
		return lines, fmt.Errorf("rawimap: %q: %s", fmt.Sprintf(format, args...), done)
	}
	return lines, nil
}

// WaitFor reads lines until one has the given prefix, returning it.
func (c *Conn) WaitFor(prefix string) (string, error) {
	for {
		line, err := c.ReadLine()
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(line, prefix) {
			return line, nil
		}
	}
}
