package imapsrv

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// countingConn records every Write that reaches the socket.
type countingConn struct {
	net.Conn
	writes [][]byte
	in     *strings.Reader
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

func (c *countingConn) Read(p []byte) (int, error)        { return c.in.Read(p) }
func (c *countingConn) SetWriteDeadline(time.Time) error  { return nil }
func (c *countingConn) Close() error                      { return nil }
func (c *countingConn) RemoteAddr() net.Addr              { return &net.TCPAddr{} }
func (c *countingConn) SetReadDeadline(t time.Time) error { return nil }

func TestBufferedConn(t *testing.T) {
	raw := &countingConn{in: strings.NewReader("a NOOP\r\n")}
	c := &bufferedConn{Conn: raw}
	for range 100 {
		c.Write([]byte("* 1 FETCH (FLAGS ())\r\n"))
	}
	if len(raw.writes) != 0 {
		t.Fatalf("%d writes before any read or flush", len(raw.writes))
	}
	// Reading the next command sends the replies first, in one write.
	buf := make([]byte, 64)
	if _, err := c.Read(buf); err != nil {
		t.Fatal(err)
	}
	if len(raw.writes) != 1 || len(raw.writes[0]) != 100*len("* 1 FETCH (FLAGS ())\r\n") {
		t.Fatalf("writes after a read: %d", len(raw.writes))
	}
	// A big write goes straight through, after what was buffered.
	c.Write([]byte("x"))
	big := bytes.Repeat([]byte("y"), maxBuffered)
	c.Write(big)
	if len(raw.writes) != 3 || string(raw.writes[1]) != "x" || len(raw.writes[2]) != maxBuffered {
		t.Fatalf("big write: %d writes", len(raw.writes))
	}
	// Flush and Close send what is left, whatever deadline was set last.
	c.Write([]byte("idle update"))
	if err := flushConn(c); err != nil || len(raw.writes) != 4 {
		t.Fatalf("flushConn: %v, %d writes", err, len(raw.writes))
	}
	c.Write([]byte("* BYE"))
	c.SetWriteDeadline(time.Now().Add(-time.Second))
	c.Close()
	if len(raw.writes) != 5 || string(raw.writes[4]) != "* BYE" {
		t.Fatalf("Close did not flush: %q", raw.writes[len(raw.writes)-1])
	}
	if _, err := c.Read(buf); err != io.EOF {
		t.Fatalf("read after the input: %v", err)
	}
}
