package imapsrv

import (
	"strings"
	"testing"
)

// The SMALLER 0 rewrite must find every SMALLER 0, and only in SEARCH.
func TestSmallerZeroRewrite(t *testing.T) {
	f := newFixture(t)
	c := f.login()
	c.C("s SELECT INBOX")
	c.OK("s")
	// Two adjacent SMALLER 0: neither can match, so OR matches nothing.
	c.C("t SEARCH OR SMALLER 0 SMALLER 0")
	if lines := c.OK("t"); len(lines) != 1 || lines[0] != "* SEARCH" {
		t.Errorf("OR SMALLER 0 SMALLER 0: %q, want %q", lines, "* SEARCH")
	}
	// Keywords "smaller" and "0" are atoms: UID STORE is no SEARCH.
	c.C("u UID FETCH 1:* (UID)")
	lines := c.OK("u")
	uid := strings.Fields(strings.SplitN(lines[0], "UID ", 2)[1])[0]
	uid = strings.TrimSuffix(uid, ")")
	c.C("k UID STORE " + uid + " +FLAGS.SILENT (smaller 0)")
	c.OK("k")
	c.C("f UID FETCH " + uid + " (FLAGS)")
	lines = c.OK("f")
	if len(lines) != 1 || !strings.Contains(lines[0], "smaller 0") {
		t.Errorf("UID STORE (smaller 0) stored: %q", lines)
	}
}
