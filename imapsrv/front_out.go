package imapsrv

import (
	"bytes"
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
}

// begin starts watching for tag's reply.
func (o *outWatch) begin(tag string, rewrite bool) {
	o.tagSP = append(append(o.tagSP[:0], tag...), ' ')
	o.answered, o.cont = false, false
	o.line = o.line[:0]
	o.rewrite = rewrite
	o.pending = o.pending[:0]
}

// observe looks at the last line that p completes. go-imap flushes at
// the end of every response line, so a tagged reply is always last in a
// Write; looking no further keeps this cheap for big FETCH replies.
func (o *outWatch) observe(p []byte) {
	if o.answered {
		return
	}
	end := bytes.LastIndexByte(p, '\n')
	if end < 0 {
		o.addLine(p)
		return
	}
	if start := bytes.LastIndexByte(p[:end], '\n'); start >= 0 {
		o.line = o.line[:0]
		o.addLine(p[start+1 : end])
	} else {
		o.addLine(p[:end])
	}
	o.answered = bytes.HasPrefix(o.line, o.tagSP)
	o.cont = bytes.HasPrefix(o.line, []byte("+ "))
	o.line = o.line[:0]
	o.addLine(p[end+1:])
}

func (o *outWatch) addLine(b []byte) {
	// Enough to tell the tagged reply and "+ " apart.
	if room := max(len(o.tagSP), 2) - len(o.line); room > 0 {
		o.line = append(o.line, b[:min(room, len(b))]...)
	}
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
		out = append(out, caps.apply(line)...)
		o.cont = bytes.HasPrefix(line, []byte("+ "))
		if o.greeting || bytes.HasPrefix(line, o.tagSP) {
			o.answered = !o.greeting
			o.rewrite, o.greeting = false, false
		}
	}
	out = append(out, rest...)
	o.observe(rest)
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
