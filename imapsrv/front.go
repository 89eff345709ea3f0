package imapsrv

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The front is the connection go-imap reads from and writes to. go-imap
// has no hook for commands it does not know, so the front answers them
// (ID, the QUOTA commands) and does STARTTLS itself; everything else it
// passes through unchanged.
//
// It can, because go-imap reads one command at a time and reads the next
// only once its reply is written. The front reads each command line
// before go-imap may have any of it and hands go-imap no more than that
// line per Read, so go-imap never buffers a command the front has not
// looked at. The rest of a command go-imap is reading (literal data,
// the rest of the line after one, IDLE's DONE, AUTHENTICATE's responses)
// is told apart from the next command by what go-imap wrote: once it has
// written the command's tagged reply, it is done with the command, and
// whatever the client still sends of it (the data of a non-synchronizing
// literal go-imap refused) is dropped rather than read as commands.
//
// Below the front is the socket, or TLS over it: on implicit TLS ports
// from the start, on plain ports after STARTTLS. go-imap never sees TLS,
// so it is configured to allow logins everywhere and the front keeps the
// plaintext rules: before TLS it refuses LOGIN and AUTHENTICATE (without
// asking for a password literal), shows STARTTLS and LOGINDISABLED
// instead of AUTH= in capability lists, and session.Login asks it
// whether TLS is up (isTLS), should a login reach go-imap all the same.

const (
	// maxLine bounds a command line (go-imap allows 50 KiB) and so the
	// front's read buffer.
	maxLine = 64 << 10
	// maxCommandLine is go-imap's limit for the text of a command.
	maxCommandLine = 50 << 10
	// maxBufferedLiteral is go-imap's limit for literals outside APPEND.
	maxBufferedLiteral = 4096
	// maxArgLiteral bounds a literal in a command the front answers
	// (RFC 2971 allows ID values of 1024 octets).
	maxArgLiteral = 1024
	// maxDiscard bounds the data of a refused non-synchronizing literal
	// the front reads and drops; past it, the connection closes.
	maxDiscard = 1 << 30
	// minBuffer is the read buffer's usual size.
	minBuffer = 4096
	// handshakeTimeout bounds the TLS handshake after STARTTLS.
	handshakeTimeout = 30 * time.Second
)

// frontListener puts a front on every accepted connection.
type frontListener struct {
	net.Listener
	// startTLS is the configuration STARTTLS uses; nil where it is not
	// offered (implicit TLS, or no certificate).
	startTLS *tls.Config
}

func (l frontListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	f := &frontConn{
		conn:     c,
		startTLS: l.startTLS,
		tlsOn:    isTLS(c),
		in:       lineReader{buf: make([]byte, 0, minBuffer)},
	}
	if f.tlsOn {
		f.startTLS = nil
	}
	// The greeting's capability list is the first thing go-imap writes.
	f.out.rewrite, f.out.greeting = true, true
	f.rewriting.Store(true)
	return f, nil
}

// readState is where the front is in the client's stream.
type readState int

const (
	atCommand    readState = iota // the next line starts a command
	afterLine                     // go-imap has read a line of the current command
	afterLiteral                  // go-imap has read a literal's data
)

type frontConn struct {
	startTLS *tls.Config

	// Used by go-imap's connection goroutine only, in Read.
	in          lineReader
	state       readState
	mark        literalMark // that ends the line go-imap read last
	pass        []byte      // what go-imap may read now: part of in's buffer
	lit         int64       // literal data go-imap may read after pass
	readTimeout time.Duration
	name        string // the command go-imap is reading
	appendJunk  bool   // something follows the message of this APPEND
	appendBox   bool   // the literal go-imap reads next is APPEND's mailbox name

	// rewriting is out.rewrite, read without mu by Write.
	rewriting atomic.Bool

	mu    sync.Mutex
	conn  net.Conn // the socket, or TLS over it
	tlsOn bool
	bye   bool // the front said BYE: nothing may follow it
	sess  *session
	out   outWatch
}

// attach tells the front which session is behind it.
func (f *frontConn) attach(s *session, lc *liveConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sess = s
	f.out.calls = lc.calls.Load
}

// current is the connection under the front.
func (f *frontConn) current() net.Conn {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conn
}

// isTLS reports whether the client speaks TLS now.
func (f *frontConn) isTLS() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tlsOn
}

// selected reports whether the session has a mailbox selected.
func (f *frontConn) selected() bool {
	s := f.session()
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sel != nil
}

func (f *frontConn) session() *session {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sess
}

// Read hands go-imap the next part of the command it is reading, after
// answering any commands that come before it that go-imap must not see.
func (f *frontConn) Read(p []byte) (int, error) {
	for {
		if len(f.pass) > 0 {
			n := copy(p, f.pass)
			f.pass = f.pass[n:]
			return n, nil
		}
		if f.lit > 0 {
			if f.answered() {
				// go-imap stopped reading a literal the client is
				// still sending.
				if err := f.discardRest(literalMark{ok: true, nonSync: true, size: f.lit}, false); err != nil {
					return 0, err
				}
				f.lit, f.state = 0, atCommand
				continue
			}
			return f.readLiteral(p)
		}
		if err := f.advance(); err != nil {
			return 0, err
		}
	}
}

// advance reads what comes next from the client: the next line of the
// current command or a new command.
func (f *frontConn) advance() error {
	if f.state != atCommand && f.answered() {
		// go-imap is done with the command: drop what the client will
		// still send of it, which go-imap would read as commands.
		state := f.state
		f.state = atCommand
		if state == afterLiteral {
			return f.discardRest(literalMark{}, true)
		}
		return f.discardRest(f.mark, false)
	}
	switch f.state {
	case afterLine:
		if f.mark.ok && !f.mark.nonSync && !f.continued() {
			// go-imap reads on after a synchronizing literal it did
			// not ask for (one over its size limit, after the first
			// line, where a mailbox name may also be an atom), but
			// the client waits for "+": an empty line ends go-imap's
			// wait with a syntax error for the client.
			f.pass, f.mark = []byte("\r\n"), literalMark{}
			return nil
		}
		if f.mark.ok {
			// go-imap accepted the literal (it sent "+" for a
			// synchronizing one): its data comes next.
			f.lit = f.mark.size
			f.state = afterLiteral
			return nil
		}
		// A line go-imap reads on its own: IDLE's DONE, a SASL
		// response. It is no command and passes as it is, but for
		// the case of DONE, which go-imap wants in capitals although
		// IMAP's grammar ignores case.
		line, err := f.in.line(f.conn)
		if err != nil {
			return f.lineErr(err)
		}
		if f.name == "IDLE" && strings.EqualFold(string(trimEOL(line)), "DONE") {
			line = []byte("DONE\r\n")
		}
		f.pass, f.mark = line, literalMark{}
		f.released()
		return nil
	case afterLiteral:
		return f.readAfterLiteral()
	}
	return f.command()
}

// readAfterLiteral reads the rest of the line after a literal go-imap
// read. Nothing may follow APPEND's message (there is no MULTIAPPEND),
// and go-imap, which stores the message before it looks, would then
// write no reply at all: such a line reaches go-imap as a bare CRLF, so
// that it answers, and appendTail has the session refuse the message.
// The mark stays the line's, so a literal on it is dropped afterwards.
func (f *frontConn) readAfterLiteral() error {
	line, err := f.in.line(f.conn)
	if err != nil {
		return f.lineErr(err)
	}
	f.mark, _ = lineMark(line)
	f.pass, f.state = line, afterLine
	if f.appendBox {
		f.appendBox = false // the mailbox name: the message is still to come
	} else if rest := trimEOL(line); f.name == "APPEND" && len(rest) > 0 && string(rest) != ")" {
		f.pass, f.appendJunk = []byte("\r\n"), true
	}
	f.released()
	return nil
}

// appendTail reads the line after APPEND's message for the session,
// before the message is stored, and reports whether anything follows
// the message on it.
func (f *frontConn) appendTail() (junk bool, err error) {
	if f.state == afterLiteral && f.lit == 0 && len(f.pass) == 0 {
		if err := f.readAfterLiteral(); err != nil {
			return false, err
		}
	}
	return f.appendJunk, nil
}

// command reads the first line of a command and either answers it or
// lets go-imap have it.
func (f *frontConn) command() error {
	line, err := f.in.line(f.conn)
	if err != nil {
		return f.lineErr(err)
	}
	mark, _ := lineMark(line)
	tag, name, ok := commandName(line)
	if !ok || name == "UID" && len(bytes.TrimSpace(line)) == len(tag)+len(" UID") {
		// go-imap closes the connection without a word.
		err := f.refuseUnnamed(line, mark)
		f.rearm()
		return err
	}
	if tag == "+" {
		// go-imap would take it, but its replies would look like
		// continuation requests to the client and to the front.
		f.reply("* BYE Invalid tag\r\n")
		return io.EOF
	}
	if handle := f.handler(name); handle != nil {
		err := handle(tag, line, mark)
		f.rearm()
		return err
	}
	refuse := func(status, code, text string) error {
		err := f.refuse(tag, status, code, text, mark)
		f.rearm()
		return err
	}
	var bad string
	if name == "FETCH" || name == "SEARCH" || name == "UID" {
		bad = badSyntax(name, line)
	}
	switch {
	case !mark.ok && inQuote(trimEOL(line)):
		// A quoted string cannot hold CR or LF (RFC 9051 9), but
		// go-imap's would read on into the lines that follow and take
		// the next commands for part of this one.
		return refuse("BAD", "CLIENTBUG", "Unterminated quoted string")
	case len(line) > maxCommandLine:
		// go-imap would fail part-way, answer SERVERBUG and take the
		// rest of the line, which its reader already holds, for
		// commands.
		return refuse("BAD", "TOOBIG", "Command line too long")
	case name == "APPEND":
		if refused, err := f.checkAppendQuota(tag, line, mark); refused || err != nil {
			f.rearm()
			return err
		}
	case name == "CHECK" && !f.selected():
		// go-imap answers OK in every state; CHECK is a command of the
		// selected state (RFC 3501 section 6.4.1).
		return refuse("BAD", "CLIENTBUG", "No mailbox selected")
	case bad != "":
		return refuse("BAD", "CLIENTBUG", bad)
	case mark.ok && mark.size > maxBufferedLiteral:
		// go-imap refuses such a literal, but its NO is lost where an
		// atom may stand instead, and it reads on.
		return refuse("NO", "TOOBIG", "Literals are limited to 4096 bytes for this command")
	}
	if subCommand(name, line) == "SEARCH" {
		line = searchLine(line)
	}
	f.mark, f.pass, f.state, f.name, f.appendJunk = mark, line, afterLine, name, false
	f.appendBox = false
	if name == "APPEND" && mark.ok {
		_, textEnd := lineMark(line)
		toks, err := lex(trimEOL(line)[:textEnd], nil)
		f.appendBox = err == nil && len(toks) == 2 // tag and name only
	}
	rewrite := name == "CAPABILITY" || name == "LOGIN" || name == "AUTHENTICATE"
	f.mu.Lock()
	f.out.begin(tag, name, rewrite)
	f.out.saveOnly = (name == "SEARCH" || name == "UID") && saveOnlySearch(line)
	if name == "FETCH" || name == "UID" {
		f.out.binaryOrigins = binaryPartials(line)
	}
	f.rewriting.Store(rewrite)
	f.mu.Unlock()
	return nil
}

// refuseUnnamed answers a line that names no command: BAD with its tag
// if it has one (RFC 9051 7.1.3), untagged otherwise.
func (f *frontConn) refuseUnnamed(line []byte, mark literalMark) error {
	tag := "*"
	if i := bytes.IndexByte(line, ' '); i > 0 && validTag(line[:i]) {
		tag = string(line[:i])
	} else if t := trimEOL(line); len(t) > 0 && validTag(t) {
		tag = string(t)
	}
	if tag == "*" {
		return f.refuse(tag, "BAD", "CLIENTBUG", "A command starts with its tag", mark)
	}
	return f.refuse(tag, "BAD", "CLIENTBUG", "Command name missing", mark)
}

// validTag reports whether b is a tag: atom characters but "+".
func validTag(b []byte) bool {
	for _, c := range b {
		if !isAtomChar(c) || c == '+' {
			return false
		}
	}
	return len(b) > 0
}

// handler returns the front's own handler of a command, nil for the
// commands go-imap answers.
func (f *frontConn) handler(name string) func(tag string, line []byte, mark literalMark) error {
	switch name {
	case "ID":
		return f.handleID
	case "GETQUOTA", "GETQUOTAROOT", "SETQUOTA":
		return func(tag string, line []byte, mark literalMark) error {
			return f.handleQuota(name, tag, line, mark)
		}
	case "STARTTLS":
		return f.handleStartTLS
	case "AUTHENTICATE", "LOGIN":
		if !f.isTLS() {
			return f.refuseLogin
		}
	}
	return nil
}

// answered reports whether go-imap has written the tagged reply to the
// command it is reading.
func (f *frontConn) answered() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.out.answered
}

// continued reports whether go-imap's last reply line since the last
// line it read is a continuation request.
func (f *frontConn) continued() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.out.cont
}

// released marks the start of what go-imap replies to the line it is
// about to read.
func (f *frontConn) released() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.out.cont = false
}

// readLiteral passes literal data go-imap reads.
func (f *frontConn) readLiteral(p []byte) (int, error) {
	if int64(len(p)) > f.lit {
		p = p[:f.lit]
	}
	n, err := f.in.read(f.conn, p)
	f.lit -= int64(n)
	if n > 0 {
		return n, nil
	}
	return 0, err
}

// discardRest drops what the client still sends of a command that has
// its reply: the data of mark's literal if the client sends it unasked,
// the rest of the line if lineDue, and so on for the literals and lines
// that follow. A synchronizing literal ends it: the client waits for a
// "+" that does not come.
func (f *frontConn) discardRest(mark literalMark, lineDue bool) error {
	for {
		if mark.ok {
			if !mark.nonSync {
				return nil
			}
			if mark.size > maxDiscard {
				f.reply("* BYE Literal too big\r\n")
				return io.EOF
			}
			if err := f.in.discard(f.conn, mark.size); err != nil {
				return err
			}
			lineDue = true
		}
		if !lineDue {
			return nil
		}
		line, err := f.in.line(f.conn)
		if err != nil {
			return f.lineErr(err)
		}
		mark, _ = lineMark(line)
		lineDue = false
	}
}

// readArgs reads the whole of a command the front answers, literals
// included, and returns its arguments after the name. If ok is false, the
// command was too big or malformed and has had its tagged reply, or err
// says why the connection failed.
func (f *frontConn) readArgs(tag string, line []byte, mark literalMark) (toks []token, ok bool, err error) {
	_, textEnd := lineMark(line)
	text := trimEOL(line)[:textEnd]
	// Skip the tag and name.
	text = text[min(len(tag)+1, len(text)):]
	for len(text) > 0 && isAtomChar(text[0]) {
		text = text[1:]
	}
	total := len(line)
	for {
		if toks, err = lex(text, toks); err != nil {
			return nil, false, f.refuse(tag, "BAD", "CLIENTBUG", "Syntax error", mark)
		}
		if !mark.ok {
			return toks, true, nil
		}
		total += int(min(mark.size, maxLine))
		if mark.size > maxArgLiteral || total > maxLine {
			return nil, false, f.refuse(tag, "BAD", "TOOBIG", "Literal too big for this command", mark)
		}
		if !mark.nonSync {
			f.reply("+ Ready for literal data\r\n")
		}
		data := make([]byte, mark.size)
		if _, err := io.ReadFull(readerFunc(func(p []byte) (int, error) { return f.in.read(f.conn, p) }), data); err != nil {
			return nil, false, err
		}
		toks = append(toks, token{kind: tokString, s: string(data)})
		line, err = f.in.line(f.conn)
		if err != nil {
			return nil, false, f.lineErr(err)
		}
		total += len(line)
		mark, textEnd = lineMark(line)
		text = trimEOL(line)[:textEnd]
	}
}

type readerFunc func([]byte) (int, error)

func (r readerFunc) Read(p []byte) (int, error) { return r(p) }

// reply writes a reply of the front's own; the buffer below sends it
// before the next read.
func (f *frontConn) reply(s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.bye {
		return io.EOF
	}
	f.bye = strings.HasPrefix(s, "* BYE ")
	_, err := io.WriteString(f.conn, s)
	return err
}

// replyStatus writes a tagged status reply.
func (f *frontConn) replyStatus(tag, status, code, text string) error {
	if code != "" {
		text = "[" + code + "] " + text
	}
	return f.reply(tag + " " + status + " " + text + "\r\n")
}

// refuse answers a command the front read the first line of, and drops
// the rest of it, if the client sends it unasked.
func (f *frontConn) refuse(tag, status, code, text string, mark literalMark) error {
	if err := f.replyStatus(tag, status, code, text); err != nil {
		return err
	}
	return f.discardRest(mark, false)
}

// rearm restarts the read timeout go-imap set before it began to wait for
// a command: a client that keeps sending commands the front answers is
// not idle.
func (f *frontConn) rearm() {
	if f.readTimeout > 0 {
		f.conn.SetReadDeadline(time.Now().Add(f.readTimeout))
	}
}

// lineErr turns a failure to read a command line into the end of the
// connection, telling the client why where it can.
func (f *frontConn) lineErr(err error) error {
	if errors.Is(err, errLineTooLong) {
		f.reply("* BYE Command line too long\r\n")
		return io.EOF
	}
	return err
}

// Write sends what go-imap writes, watching for the tagged reply to the
// command it reads and completing capability lists.
func (f *frontConn) Write(p []byte) (int, error) {
	var caps capExtras
	if f.rewriting.Load() {
		caps = f.capExtras()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.bye {
		// go-imap still answers the command the front ended the
		// connection in, and says BYE itself.
		return len(p), nil
	}
	if !f.out.rewrite {
		if out := f.out.observe(p); len(out) != len(p) {
			if _, err := f.conn.Write(out); err != nil {
				return 0, err
			}
			return len(p), nil
		}
		return f.conn.Write(p)
	}
	out := f.out.rewriteLines(p, caps)
	f.rewriting.Store(f.out.rewrite)
	if _, err := f.conn.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeLines writes whole untagged response lines that go-imap did not
// write (fetch_flags.go). They hold no tagged reply and no literal, so the
// front need not look at them, and go-imap, between two lines, has no
// half-written one they could split.
func (f *frontConn) writeLines(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.bye {
		return io.EOF
	}
	_, err := f.conn.Write(p)
	return err
}

func (f *frontConn) Close() error { return f.current().Close() }

func (f *frontConn) LocalAddr() net.Addr  { return f.current().LocalAddr() }
func (f *frontConn) RemoteAddr() net.Addr { return f.current().RemoteAddr() }

func (f *frontConn) SetDeadline(t time.Time) error {
	f.SetWriteDeadline(t)
	return f.SetReadDeadline(t)
}

// SetReadDeadline is called by go-imap's goroutine only, like Read.
func (f *frontConn) SetReadDeadline(t time.Time) error {
	f.readTimeout = 0
	if !t.IsZero() {
		f.readTimeout = time.Until(t)
	}
	return f.current().SetReadDeadline(t)
}

func (f *frontConn) SetWriteDeadline(t time.Time) error {
	return f.current().SetWriteDeadline(t)
}
