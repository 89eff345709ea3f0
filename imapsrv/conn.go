package imapsrv

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// go-imap flushes its writer at the end of every response line, so a
// FETCH of 10,000 messages costs 10,000 TLS records and write system
// calls; that, not the work behind the replies, dominated big FETCHes.
// bufferedConn gathers the bytes written between two reads and sends them
// in one go. It knows nothing of IMAP: it flushes before every read (the
// connection's goroutine reads the next command only once the reply to
// the last one is written), when the buffer is full, on Close, and when
// told to (an IDLE session writes updates while the reader is blocked).

const (
	// maxBuffered is what bufferedConn holds before it writes through;
	// writes this big go straight out.
	maxBuffered = 64 << 10
	// flushTimeout bounds a flush to a client that stopped reading, like
	// go-imap's own 30-second response write timeout.
	flushTimeout = 30 * time.Second
	// closeFlushTimeout bounds the last flush when the connection closes.
	closeFlushTimeout = 5 * time.Second
)

// One bufferedConn sits on the socket, under TLS, and one above TLS, under
// the front (front.go): on implicit TLS listeners from the start
// (tlsBufferedListener), on plain ones from STARTTLS. The one above seals
// many lines into few 16 KiB records, which the one below sends in a
// single write. Before STARTTLS the one on the socket is all there is.

// bufferedListener buffers on the socket, below TLS and the front.
type bufferedListener struct{ net.Listener }

func (l bufferedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &bufferedConn{Conn: c}, nil
}

// tlsBufferedListener buffers above the *tls.Conns of a TLS listener.
type tlsBufferedListener struct{ net.Listener }

func (l tlsBufferedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*tls.Conn)
	if !ok {
		// Only ServeTLS builds this listener: a plaintext connection
		// here would be authenticated as if it were TLS.
		c.Close()
		return nil, errors.New("imapsrv: TLS listener accepted a plaintext connection")
	}
	return &bufferedConn{Conn: tc}, nil
}

type bufferedConn struct {
	net.Conn

	mu  sync.Mutex
	buf []byte
	err error // the first write error; later writes fail with it
	// deadline is the write deadline go-imap asked for, in Unix
	// nanoseconds, 0 for none. It is atomic rather than under mu: it is
	// set and cleared around every response line.
	deadline atomic.Int64
}

// SetWriteDeadline records the deadline for the next flush. go-imap sets
// and clears one around every response it writes, which would otherwise
// cost two runtime timer updates per FETCH line for writes that only
// fill the buffer.
func (c *bufferedConn) SetWriteDeadline(t time.Time) error {
	var n int64
	if !t.IsZero() {
		n = max(t.UnixNano(), 1)
	}
	c.deadline.Store(n)
	return nil
}

// writeDeadline is the deadline last set, the zero time for none.
func (c *bufferedConn) writeDeadline() time.Time {
	if n := c.deadline.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

func (c *bufferedConn) SetDeadline(t time.Time) error {
	if err := c.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *bufferedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if len(c.buf)+len(p) > maxBuffered {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) >= maxBuffered {
			c.Conn.SetWriteDeadline(c.writeDeadline())
			n, err := c.Conn.Write(p)
			c.err = err
			return n, err
		}
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

func (c *bufferedConn) Read(p []byte) (int, error) {
	if err := c.Flush(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

// Flush writes out what is buffered.
func (c *bufferedConn) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushLocked()
}

func (c *bufferedConn) flushLocked() error {
	if c.err != nil || len(c.buf) == 0 {
		return c.err
	}
	deadline := c.writeDeadline()
	if deadline.IsZero() {
		deadline = time.Now().Add(flushTimeout)
	}
	c.Conn.SetWriteDeadline(deadline)
	_, c.err = c.Conn.Write(c.buf)
	c.Conn.SetWriteDeadline(time.Time{})
	c.buf = c.buf[:0]
	if cap(c.buf) > maxBuffered {
		c.buf = nil // a burst of big writes should not pin memory
	}
	return c.err
}

func (c *bufferedConn) Close() error {
	// A BYE or a TLS close_notify may be waiting. crypto/tls sets a
	// deadline of "now" after writing close_notify, meant for the
	// socket, not for this buffer: flush within a short time of its own.
	c.mu.Lock()
	c.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
	c.flushLocked()
	c.mu.Unlock()
	return c.Conn.Close()
}

// flushConn flushes the buffers of a session's connection, above and
// below TLS, top first.
func flushConn(c net.Conn) error {
	for {
		switch v := c.(type) {
		case *frontConn:
			c = v.current()
		case *bufferedConn:
			if err := v.Flush(); err != nil {
				return err
			}
			c = v.Conn
		case *tls.Conn:
			c = v.NetConn()
		default:
			return nil
		}
	}
}

// isTLS reports whether a session's connection is TLS: implicit TLS, or
// plaintext after STARTTLS.
func isTLS(c net.Conn) bool {
	if f, ok := c.(*frontConn); ok {
		return f.isTLS()
	}
	if bc, ok := c.(*bufferedConn); ok {
		c = bc.Conn
	}
	_, ok := c.(*tls.Conn)
	return ok
}
