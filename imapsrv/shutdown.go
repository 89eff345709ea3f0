package imapsrv

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// Graceful shutdown. go-imap can only drop every connection at once, so
// the server keeps its own account of each connection: liveConn sits
// right on the socket, under the output buffer and TLS, and knows from
// the session (trackedSession) whether a command is running. Once the
// server drains, a connection is ended the next time it reads while no
// command runs: the reply to the last command has been written by then
// (the buffer flushes before every read), and a read between commands
// is where go-imap waits for the next one. A read inside a command, such
// as the literal of an APPEND, goes ahead. Commands that arrive while
// draining are refused, so the number of running commands only falls.

// errShuttingDown refuses commands that arrive during a shutdown.
var errShuttingDown = &imap.Error{
	Type: imap.StatusResponseTypeNo,
	Code: imap.ResponseCodeUnavailable,
	Text: "Server shutting down, try again later",
}

// byeText is the untagged BYE an idling client gets at shutdown.
const byeText = "Server shutting down"

// Shutdown stops accepting connections and ends the existing ones as
// they become free: a command already running (a FETCH being written, an
// APPEND being stored) finishes and its client gets the tagged reply,
// then its connection closes; connections waiting between commands close
// at once, those in IDLE after an untagged BYE. Commands that arrive
// meanwhile are refused. When ctx ends first, the remaining connections
// are cut and the error says so. Shutdown returns once every session has
// ended; Serve and ServeTLS return nil.
func (s *Server) Shutdown(ctx context.Context) error {
	conns, first := s.stopAccepting()
	if !first {
		// Another Shutdown or Close is draining: wait for it, cutting
		// the connections if our own ctx ends first.
		select {
		case <-s.done:
			return nil
		default:
		}
		select {
		case <-s.done:
			return nil
		case <-ctx.Done():
			s.cut()
			<-s.done
			return fmt.Errorf("imapsrv: shutdown: connections cut: %w", ctx.Err())
		}
	}
	defer close(s.done)

	var byes sync.WaitGroup
	for lc, conn := range conns {
		if lc.drain() {
			// conn.Bye waits for a slow client up to go-imap's write
			// timeout: it must not hold up the others.
			byes.Go(func() { conn.Bye(byeText) })
		}
	}

	ended := make(chan struct{})
	go func() {
		s.sessions.Wait()
		close(ended)
	}()
	var err error
	select {
	case <-ended:
	case <-ctx.Done():
		err = fmt.Errorf("imapsrv: shutdown: connections cut: %w", ctx.Err())
		s.cut()
		<-ended
	}
	byes.Wait()
	// Drop connections accepted too late to become sessions and wait
	// for the Serve loops to return.
	s.closeIMAP()
	return err
}

// stopAccepting marks the server closed, every connection draining and
// closes the listeners. It returns the connections to drain, and false
// if a shutdown had already begun.
func (s *Server) stopAccepting() (map[*liveConn]*imapserver.Conn, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, false
	}
	s.closed = true
	// Every connection is marked before any is woken: one that ends
	// has seen a server that refuses commands on all of them.
	conns := make(map[*liveConn]*imapserver.Conn, len(s.conns))
	for lc, conn := range s.conns {
		lc.markDraining()
		conns[lc] = conn
	}
	for l := range s.listeners {
		l.Close() // an error here leaves nothing to do: Serve returns either way
	}
	return conns, true
}

// cut closes every connection still open, under TLS and the buffer, so
// that neither waits for a client that stopped reading.
func (s *Server) cut() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for lc := range s.conns {
		lc.Conn.Close()
	}
}

// forget drops a connection whose session has ended.
func (s *Server) forget(lc *liveConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, lc)
}

// liveListener wraps accepted connections in liveConn.
type liveListener struct{ net.Listener }

func (l liveListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &liveConn{Conn: c}, nil
}

// liveConn is a client's socket and what the shutdown must know of it.
type liveConn struct {
	net.Conn

	mu       sync.Mutex
	busy     int  // session methods running
	idling   bool // in IDLE: the read waiting for DONE is not a command's
	draining bool

	// calls counts the session methods begun, so the front can tell
	// go-imap's parse errors from the session's (see outWatch.fixTagged).
	calls atomic.Uint64
}

// liveConnOf finds the liveConn under a session's connection.
func liveConnOf(c net.Conn) *liveConn {
	for {
		switch v := c.(type) {
		case *liveConn:
			return v
		case *frontConn:
			c = v.current()
		case *tls.Conn:
			c = v.NetConn()
		case *bufferedConn:
			c = v.Conn
		default:
			return nil
		}
	}
}

func (c *liveConn) Read(p []byte) (int, error) {
	if c.free() {
		return 0, io.EOF
	}
	n, err := c.Conn.Read(p)
	if err != nil && c.free() {
		// Woken by drain, or closed after a BYE: to go-imap, the client
		// left, which it handles without complaint.
		err = io.EOF
	}
	return n, err
}

// free reports whether the connection drains and runs no command.
func (c *liveConn) free() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.draining && c.busy == 0
}

func (c *liveConn) markDraining() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.draining = true
}

// drain ends the wait of a connection between commands and reports
// whether the connection idles and should get a BYE instead.
func (c *liveConn) drain() (idling bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idling {
		return true
	}
	if c.busy == 0 {
		// A read blocked for the next command returns, and Read ends
		// the connection. go-imap sets a new deadline before it reads
		// again, but Read checks free first.
		c.Conn.SetReadDeadline(time.Now())
	}
	return false
}

// begin marks a command running, or refuses it during a shutdown.
func (c *liveConn) begin() error {
	c.calls.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.draining {
		return errShuttingDown
	}
	c.busy++
	return nil
}

func (c *liveConn) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.busy--
}

func (c *liveConn) setIdling(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.idling = on
}

// run runs a command between begin and end.
func (c *liveConn) run(f func() error) error {
	if err := c.begin(); err != nil {
		return err
	}
	defer c.end()
	return f()
}

// track is run for commands that return data.
func track[T any](c *liveConn, f func() (T, error)) (T, error) {
	if err := c.begin(); err != nil {
		var zero T
		return zero, err
	}
	defer c.end()
	return f()
}
