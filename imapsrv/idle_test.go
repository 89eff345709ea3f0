package imapsrv

import (
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/store"
	"github.com/mailbridge/mailbridge/upstream"
)

func TestIdleSeesNewMail(t *testing.T) {
	f := newFixture(t)
	c := f.login()
	c.C("s SELECT INBOX")
	c.OK("s")

	c.C("i IDLE")
	c.S("+ idling")
	// New mail synced from the upstream, while the client idles.
	f.addMessage("m4", 0, testMessage1, upstream.Inbox)
	c.S("* 4 EXISTS", "* 1 RECENT")
	// Mail for another mailbox does not show up here.
	f.addMessage("m5", 0, testMessage1, upstream.Archive)
	// An upstream flag change and an upstream delete.
	f.apply(storeChanges(upstream.MessageMeta{ID: "m2", MailboxIDs: []string{upstream.Inbox}, Flags: upstream.FlagSeen | upstream.FlagAnswered}))
	c.S(`* 2 FETCH (UID 2 FLAGS (\Seen \Answered))`)
	f.apply(deleteChanges("m1"))
	c.S("* 1 EXPUNGE")
	c.write("DONE\r\n")
	c.OK("i")

	c.C("f FETCH 3 (UID FLAGS)")
	has(t, c.OK("f"), `* 3 FETCH (UID 4 FLAGS (\Recent))`)
	c.C("q SEARCH RECENT")
	has(t, c.OK("q"), "* SEARCH 3")
}

func TestSessionsSeeEachOther(t *testing.T) {
	f := newFixture(t)
	a, b := f.selectedPair("INBOX")

	a.C(`a1 STORE 1 +FLAGS (\Flagged)`)
	has(t, a.OK("a1"), `* 1 FETCH (UID 1 FLAGS (\Seen \Flagged))`)
	b.C("b1 NOOP")
	has(t, b.OK("b1"), `* 1 FETCH (UID 1 FLAGS (\Seen \Flagged))`)

	// A silent STORE is not echoed to its own session, only to others.
	a.C(`a2 STORE 2 +FLAGS.SILENT (\Deleted)`)
	if lines := a.OK("a2"); len(lines) != 0 {
		t.Errorf("silent STORE: %q", lines)
	}
	b.C("b2 IDLE")
	b.S("+ idling")
	b.S(`* 2 FETCH (UID 2 FLAGS (\Deleted))`)
	a.C("a3 EXPUNGE")
	has(t, a.OK("a3"), "* 2 EXPUNGE")
	b.S("* 2 EXPUNGE")
	b.write("DONE\r\n")
	b.OK("b2")

	// Expunges wait while the other session runs FETCH, STORE or SEARCH
	// (RFC 3501 section 7.4.1), and come with the next command that allows them.
	a.C(`a4 STORE 2 +FLAGS.SILENT (\Deleted)`)
	a.OK("a4")
	a.C("a5 EXPUNGE")
	a.OK("a5")
	b.C("b3 FETCH 1 UID")
	lines := b.OK("b3")
	has(t, lines, "* 1 FETCH (UID 1)")
	hasNot(t, lines, "EXPUNGE")
	// Message 2 is still there as far as b knows: not a BAD, but a NO
	// that says why it is left out (RFC 2180 section 4.1.2).
	for _, cmd := range []string{"FETCH 2 UID", "FETCH 1:2 UID", `STORE 2 +FLAGS (\Seen)`} {
		b.C("b3a " + cmd)
		lines := b.NO("b3a")
		if !strings.HasPrefix(b.lastTagged, "b3a NO [EXPUNGEISSUED] ") || strings.Contains(strings.Join(lines, "\n"), "EXPUNGE") || strings.HasSuffix(cmd, "1:2 UID") != (len(lines) == 1) {
			t.Errorf("%s of a message expunged meanwhile: %q, then %q", cmd, lines, b.lastTagged)
		}
	}
	b.C("b4 NOOP")
	has(t, b.OK("b4"), "* 2 EXPUNGE")
	b.C("b4a FETCH 2 UID")
	b.BAD("b4a")

	// A new message is \Recent in exactly one session.
	f.addMessage("m7", 0, testMessage3, upstream.Inbox)
	a.C("a6 NOOP")
	la := a.OK("a6")
	b.C("b5 NOOP")
	lb := b.OK("b5")
	has(t, la, "* 2 EXISTS")
	has(t, lb, "* 2 EXISTS")
	recent := 0
	for _, l := range append(la, lb...) {
		if l == "* 1 RECENT" {
			recent++
		}
	}
	if recent != 1 {
		t.Errorf("new message is \\Recent in %d sessions: %q / %q", recent, la, lb)
	}
	c := f.login()
	c.C("c SELECT INBOX")
	has(t, c.OK("c"), "* 2 EXISTS", "* 0 RECENT")
}

func storeChanges(metas ...upstream.MessageMeta) store.Changes {
	return store.Changes{Updated: metas}
}

func deleteChanges(ids ...string) store.Changes {
	return store.Changes{Deleted: ids}
}

// TestCloseEndsIdlingSessions: Close returns with clients still connected
// (one idling) and leaves no goroutine behind (goleak in TestMain).
func TestCloseEndsIdlingSessions(t *testing.T) {
	f := newFixture(t)
	a, b := f.login(), f.dialPlain()
	b.Sx(`^\* OK `)
	a.C("s SELECT INBOX")
	a.OK("s")
	a.C("i IDLE")
	a.S("+ idling")
	if err := f.srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, c := range []*client{a, b} {
		c.conn.SetReadDeadline(time.Now().Add(20 * time.Second)) // against a hang only
		// Close sends the idler its BYE while it cuts the connections:
		// whether the BYE gets out first is a race, and both are fine.
		l, err := c.r.ReadString('\n')
		if err == nil && strings.HasPrefix(l, "* BYE ") {
			l, err = c.r.ReadString('\n')
		}
		if err == nil {
			t.Errorf("connection still open after Close, read %q", l)
		}
	}
}
