package smtpsrv

import "io"

// lfGuard reads a DATA stream and fails with errBareLF as soon as it sees
// a line holding a single dot next to a bare LF ("\n.\n" or "\n.\r\n" where
// the first LF has no CR before it).
//
// go-smtp ends DATA only at CRLF.CRLF. A client that ends with LF.LF then
// waits for a reply the server never sends, and the session dies with an
// i/o timeout minutes later. To notice in time, the guard must see that
// terminator as soon as it arrives, so it reads one byte at a time: the
// underlying reader only returns once it has filled the whole buffer it is
// given (or reached the end of the data). The cost is a call per byte,
// small next to encryption.
type lfGuard struct {
	r io.Reader
	// last holds the most recent bytes, newest in the low byte.
	last uint64
}

func newLFGuard(r io.Reader) *lfGuard {
	// DATA starts at the beginning of a line, as if after a CRLF.
	return &lfGuard{r: r, last: '\r'<<8 | '\n'}
}

func (g *lfGuard) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := g.r.Read(p[n : n+1])
		if m > 0 {
			g.last = g.last<<8 | uint64(p[n])
			n++
			if g.bareDotLine() {
				return n, errBareLF
			}
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (g *lfGuard) bareDotLine() bool {
	if g.last&0xff != '\n' {
		return false
	}
	// x LF "." LF, x != CR
	if g.last&0xffffff == '\n'<<16|'.'<<8|'\n' && byte(g.last>>24) != '\r' {
		return true
	}
	// x LF "." CR LF, x != CR
	return g.last&0xffffffff == '\n'<<24|'.'<<16|'\r'<<8|'\n' && byte(g.last>>32) != '\r'
}
