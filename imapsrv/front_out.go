package imapsrv

import (
	"bytes"
	"regexp"
	"strings"
)

// What the front watches and changes in go-imap's output.

// outWatch follows what go-imap writes in reply to the command it reads.
type outWatch struct {
	tagSP    []byte // "tag ", the start of the tagged reply
	answered bool   // the tagged reply has been written
	cont     bool   // the last line written is a continuation request
	line     []byte // the start of the line being written, up to len(tagSP)
	// rewrite holds lines back until complete to add to capability
	// lists: in the greeting and the replies to CAPABILITY, LOGIN and
	// AUTHENTICATE, none of which write literals.
	rewrite  bool
	greeting bool // the line to rewrite is the greeting
	pending  []byte

	// Following FLAGS updates, to add the PERMANENTFLAGS line RFC 9051
	// pairs with them (go-imap's update writer has no way to write it).
	lit       int64  // literal data still to come in this reply
	tail      []byte // the end of the line being written: a literal's {n}
	lineLen   int    // bytes of the line being written so far
	flags     []byte // the "* FLAGS (" line being written, else nil
	selecting bool   // the command is SELECT or EXAMINE, which write both
	examined  bool   // the mailbox was opened with EXAMINE: read-only

	// saveOnly: the command is a SEARCH whose only return option is
	// SAVE, which RFC 5182 answers with no ESEARCH; go-imap writes one
	// (it takes no option for ALL). dropping: such a line is being cut.
	saveOnly, dropping bool
	// binaryOrigins maps the part of each partial BINARY item the
	// command asks for to its origin, which go-imap's writer leaves out
	// of the reply (RFC 3516 section 4.2: BINARY[1]<2>).
	binaryOrigins []string
	binaryNext    int

	// calls counts the session methods go-imap has called; nil until
	// there is a session. callsAtBegin is its value when the command began.
	calls        func() uint64
	callsAtBegin uint64
}

// begin starts watching for tag's reply to the command name.
func (o *outWatch) begin(tag, name string, rewrite bool) {
	o.tagSP = append(append(o.tagSP[:0], tag...), ' ')
	o.answered, o.cont = false, false
	o.line, o.tail, o.flags, o.lit, o.lineLen = o.line[:0], o.tail[:0], nil, 0, 0
	o.rewrite = rewrite
	o.pending = o.pending[:0]
	if o.calls != nil {
		o.callsAtBegin = o.calls()
	}
	o.saveOnly, o.dropping, o.binaryOrigins, o.binaryNext = false, false, nil, 0
	o.selecting = name == "SELECT" || name == "EXAMINE"
	if o.selecting {
		o.examined = name == "EXAMINE"
	}
}

var esearchPrefix = []byte("* ESEARCH ")

// binaryItem is a BINARY item of a FETCH command, with its partial.
var binaryItem = regexp.MustCompile(`(?i)\bBINARY(?:\.PEEK)?\[[0-9.]*\](?:<([0-9]+)(?:\.[0-9]+)?>)?`)

// binaryPartials returns the origins of a FETCH command's BINARY items in
// order ("" for an item that is not partial), or nil if none is partial.
func binaryPartials(line []byte) []string {
	var origins []string
	partial := false
	for _, sub := range binaryItem.FindAllSubmatch(line, -1) {
		origins = append(origins, string(sub[1]))
		partial = partial || len(sub[1]) > 0
	}
	if !partial {
		return nil
	}
	return origins
}

// binaryOrigin follows the BINARY items of a FETCH reply, which go-imap
// writes in the order asked, each ending a line with its literal's size.
// It returns line, if written whole, with the origin added to a partial
// item's name, or nil.
func (o *outWatch) binaryOrigin(line []byte, whole bool) []byte {
	if whole && bytes.HasPrefix(line, []byte("* ")) {
		o.binaryNext = 0 // the reply for the next message
	}
	end := o.tail
	if whole {
		end = line
	}
	if !bytes.HasSuffix(end, []byte("}\r\n")) || !bytes.Contains(end, []byte("] ~{")) {
		return nil
	}
	n := o.binaryNext
	o.binaryNext++
	if n >= len(o.binaryOrigins) || o.binaryOrigins[n] == "" || !whole {
		return nil
	}
	lit := bytes.LastIndex(line, []byte("] ~{"))
	out := make([]byte, 0, len(line)+len(o.binaryOrigins[n])+2)
	out = append(append(out, line[:lit+1]...), '<')
	out = append(append(out, o.binaryOrigins[n]...), '>')
	return append(out, line[lit+1:]...)
}

// saveOnlySearch reports whether line is a SEARCH or UID SEARCH whose
// only return option is SAVE.
func saveOnlySearch(line []byte) bool {
	f := strings.Fields(strings.ToUpper(string(trimEOL(line))))
	if len(f) > 1 && f[1] == "UID" {
		f = f[1:]
	}
	if len(f) < 4 || f[1] != "SEARCH" || f[2] != "RETURN" || !strings.HasPrefix(f[3], "(") {
		return false
	}
	save := false
	for _, opt := range f[3:] {
		last := strings.HasSuffix(opt, ")")
		switch strings.Trim(opt, "()") {
		case "SAVE":
			save = true
		case "":
		default:
			return false
		}
		if last {
			break
		}
	}
	return save
}

// flagsPrefix starts a FLAGS response. go-imap writes a response line
// in one piece, so it is not split between two Writes.
var flagsPrefix = []byte("* FLAGS (")

// observe follows what go-imap writes: it notes the tagged reply and
// continuation requests, skips literal data (a message may hold any
// line), and returns p with a PERMANENTFLAGS line after each FLAGS
// update, or p itself when there is nothing to add.
func (o *outWatch) observe(p []byte) []byte {
	if o.answered {
		return p
	}
	var out []byte
	from := 0 // start of what is not yet in out
	for i := 0; i < len(p); {
		if o.saveOnly && (o.dropping || o.lineLen == 0 && bytes.HasPrefix(p[i:], esearchPrefix)) {
			out = append(out, p[from:i]...)
			j := bytes.IndexByte(p[i:], '\n')
			o.dropping = j < 0
			if o.dropping {
				i = len(p)
			} else {
				i += j + 1
			}
			from = i
			if out == nil {
				out = []byte{}
			}
			continue
		}
		if o.lit > 0 {
			n := int(min(o.lit, int64(len(p)-i)))
			o.lit -= int64(n)
			i += n
			continue
		}
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			o.addLine(p[i:])
			break
		}
		whole := o.lineLen == 0 // the line starts in this write
		start := i
		o.addLine(p[i : i+j+1])
		i += j + 1
		if whole {
			fixed := o.fixTagged(o.line)
			if fixed == nil && o.binaryOrigins != nil {
				fixed = o.binaryOrigin(p[start:i], true)
			}
			if fixed != nil {
				out = append(append(out, p[from:start]...), fixed...)
				from = i
			}
		} else if o.binaryOrigins != nil {
			o.binaryOrigin(nil, false)
		}
		if extra := o.endLine(); extra != nil {
			out = append(append(out, p[from:i]...), extra...)
			from = i
		}
	}
	if out == nil {
		return p
	}
	return append(out, p[from:]...)
}

// addLine records the parts of the line being written that endLine needs.
func (o *outWatch) addLine(b []byte) {
	// Enough to tell the tagged reply, its status and "+ " apart.
	if room := len(o.tagSP) + len(goimapCharset) - len(o.line); room > 0 {
		o.line = append(o.line, b[:min(room, len(b))]...)
	}
	const tailLen = 24 // "{" + a 20-digit size + "}\r\n"
	o.tail = append(o.tail, b...)
	if len(o.tail) > tailLen {
		o.tail = append(o.tail[:0], o.tail[len(o.tail)-tailLen:]...)
	}
	// SELECT and EXAMINE write PERMANENTFLAGS themselves.
	if o.lineLen == 0 && !o.selecting && bytes.HasPrefix(b, flagsPrefix) {
		o.flags = []byte{}
	}
	o.lineLen += len(b)
	if o.flags != nil && len(o.flags)+len(b) <= maxLine {
		o.flags = append(o.flags, b...)
	}
}

// endLine takes note of a complete line and returns what to write after it.
func (o *outWatch) endLine() []byte {
	o.answered = bytes.HasPrefix(o.line, o.tagSP)
	o.cont = bytes.HasPrefix(o.line, []byte("+ "))
	o.lit = literalAtEnd(o.tail)
	flags := o.flags
	o.line, o.tail, o.flags, o.lineLen = o.line[:0], o.tail[:0], nil, 0
	if flags == nil || !bytes.HasSuffix(flags, []byte(")\r\n")) {
		return nil
	}
	if o.examined {
		return []byte("* OK [PERMANENTFLAGS ()] Permanent flags\r\n")
	}
	list := bytes.TrimSuffix(flags[len(flagsPrefix):], []byte(")\r\n"))
	out := append([]byte("* OK [PERMANENTFLAGS ("), list...)
	if len(list) > 0 {
		out = append(out, ' ')
	}
	return append(out, "\\*)] Permanent flags\r\n"...)
}

// go-imap answers input its parser rejects with a plain error (a bad
// sequence set, mailbox name, search key or date) as if it were a fault of
// its own; it also leaves the charsets out of BADCHARSET.
var (
	goimapServerBug = []byte("NO [SERVERBUG] ")
	goimapCharset   = []byte("NO [BADCHARSET] ")
)

// fixTagged returns a replacement for line, which starts a line just
// written, if it is a tagged reply of go-imap's that is wrong, else nil. A SERVERBUG during a
// command that called no session method can only be the parser's (the
// session's own errors always carry their status), so it is the client's
// syntax error.
func (o *outWatch) fixTagged(line []byte) []byte {
	rest, ok := bytes.CutPrefix(line, o.tagSP)
	if !ok {
		return nil
	}
	switch {
	case bytes.HasPrefix(rest, goimapServerBug) && o.calls != nil && o.calls() == o.callsAtBegin:
		return append(bytes.Clone(o.tagSP), "BAD [CLIENTBUG] Syntax error\r\n"...)
	case bytes.HasPrefix(rest, goimapCharset):
		return append(bytes.Clone(o.tagSP), "NO [BADCHARSET (US-ASCII UTF-8)] Only US-ASCII and UTF-8 are supported\r\n"...)
	}
	return nil
}

// literalAtEnd returns the size of the literal a response line ending in
// tail announces ("{n}\r\n", or "~{n}\r\n" for BINARY), 0 if none.
func literalAtEnd(tail []byte) int64 {
	t, ok := bytes.CutSuffix(tail, []byte("}\r\n"))
	if !ok {
		return 0
	}
	i := bytes.LastIndexByte(t, '{')
	if i < 0 || i == len(t)-1 {
		return 0
	}
	var n int64
	for _, c := range t[i+1:] {
		if c < '0' || c > '9' || n > (1<<62)/10 {
			return 0
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// rewriteLines returns p with capability lists completed, holding back
// an incomplete last line. Rewriting ends with the tagged reply or the
// greeting.
func (o *outWatch) rewriteLines(p []byte, caps capExtras) []byte {
	o.pending = append(o.pending, p...)
	var out []byte
	rest := o.pending
	for o.rewrite {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			if len(rest) < maxLine {
				o.pending = append(o.pending[:0], rest...)
				return out
			}
			o.rewrite = false // no capability line: let it through
			break
		}
		line := rest[:i+1]
		rest = rest[i+1:]
		if fixed := o.fixTagged(line); fixed != nil && !o.greeting {
			line = fixed
		}
		out = append(out, caps.apply(line)...)
		o.cont = bytes.HasPrefix(line, []byte("+ "))
		if o.greeting || bytes.HasPrefix(line, o.tagSP) {
			o.answered = !o.greeting
			o.rewrite, o.greeting = false, false
		}
	}
	out = append(out, o.observe(rest)...)
	o.pending = o.pending[:0]
	return out
}

// capExtras is what the front adds to go-imap's capability lists.
type capExtras struct {
	preTLS   bool // no login before TLS: LOGINDISABLED, no AUTH=
	startTLS bool
	quota    bool
}

func (f *frontConn) capExtras() capExtras {
	f.mu.Lock()
	c := capExtras{preTLS: !f.tlsOn, startTLS: f.startTLS != nil}
	sess := f.sess
	f.mu.Unlock()
	c.quota = sess != nil && sess.quotaAccount() != nil
	return c
}

var (
	capLinePrefix = []byte("* CAPABILITY ")
	capCode       = []byte(" OK [CAPABILITY ")
)

// apply completes line's capability list, if it has one.
func (c capExtras) apply(line []byte) []byte {
	var start, end int
	if bytes.HasPrefix(line, capLinePrefix) {
		start, end = len(capLinePrefix), len(trimEOL(line))
	} else {
		i := bytes.Index(line, capCode)
		if i < 0 {
			return line
		}
		start = i + len(capCode)
		j := bytes.IndexByte(line[start:], ']')
		if j < 0 {
			return line
		}
		end = start + j
	}
	var caps []string
	for _, name := range strings.Fields(string(line[start:end])) {
		if c.preTLS && strings.HasPrefix(strings.ToUpper(name), "AUTH=") {
			continue
		}
		caps = append(caps, name)
	}
	if c.preTLS {
		if c.startTLS {
			caps = append(caps, "STARTTLS")
		}
		caps = append(caps, "LOGINDISABLED")
	}
	caps = append(caps, "ID")
	if c.quota {
		caps = append(caps, "QUOTA", "QUOTA=RES-STORAGE")
	}
	out := append([]byte(nil), line[:start]...)
	out = append(out, strings.Join(caps, " ")...)
	return append(out, line[end:]...)
}
