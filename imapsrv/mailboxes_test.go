package imapsrv

import (
	"strings"
	"testing"
)

func TestList(t *testing.T) {
	f := newFixture(t)
	c := f.login()

	c.C(`a1 LIST "" "*"`)
	lines := c.OK("a1")
	has(t, lines,
		`* LIST (\HasNoChildren) "/" INBOX`,
		`* LIST (\HasNoChildren \Drafts) "/" "Drafts"`,
		`* LIST (\HasNoChildren \Sent) "/" "Sent"`,
		`* LIST (\HasNoChildren \Archive) "/" "Archive"`,
		`* LIST (\HasNoChildren \Junk) "/" "Spam"`,
		`* LIST (\HasNoChildren \Trash) "/" "Trash"`,
		`* LIST (\HasNoChildren \All) "/" "All Mail"`,
		`* LIST (\HasChildren) "/" "Work"`,
		`* LIST (\HasNoChildren) "/" "Work/2024"`,
	)
	if len(lines) != 9 {
		t.Errorf("LIST returned %d mailboxes: %q", len(lines), lines)
	}

	c.C(`a2 LIST "" ""`)
	has(t, c.OK("a2"), `* LIST (\Noselect) "/" ""`)

	c.C(`a3 LIST "" "%"`)
	hasNot(t, c.OK("a3"), "Work/2024")

	c.C(`a4 LIST "" "inbox"`)
	has(t, c.OK("a4"), `* LIST (\HasNoChildren) "/" INBOX`)

	c.C(`a5 LIST (SPECIAL-USE) "" "*"`)
	lines = c.OK("a5")
	if len(lines) != 6 {
		t.Errorf("LIST (SPECIAL-USE): %q", lines)
	}
	hasNot(t, lines, "INBOX")

	c.C(`a6 LIST "" "Work*" RETURN (CHILDREN STATUS (MESSAGES UNSEEN))`)
	has(t, c.OK("a6"), `* LIST (\HasChildren) "/" "Work"`, `* STATUS "Work" (MESSAGES 0 UNSEEN 0)`)

	c.C(`a7 LIST "Work/" "%"`)
	has(t, c.OK("a7"), `* LIST (\HasNoChildren) "/" "Work/2024"`)
}

func TestStatus(t *testing.T) {
	f := newFixture(t)
	c := f.login()
	c.C("a1 STATUS INBOX (MESSAGES UIDNEXT UNSEEN SIZE RECENT)")
	lines := c.OK("a1")
	if len(lines) != 1 {
		t.Fatalf("STATUS: %q", lines)
	}
	size := len(crlf(testMessage1)) + len(crlf(testMessage2)) + len(crlf(testMessage3))
	want := "* STATUS INBOX (MESSAGES 3 UIDNEXT 4 UNSEEN 2 SIZE " + itoa(size) + " RECENT 0)"
	if lines[0] != want {
		t.Errorf("got  %q\nwant %q", lines[0], want)
	}
	c.C("a2 STATUS INBOX (UIDVALIDITY)")
	c.Sx(`^\* STATUS INBOX \(UIDVALIDITY \d+\)$`)
	c.OK("a2")
	c.C("a3 STATUS Nope (MESSAGES)")
	c.NO("a3")
	c.checkCode(t, "NONEXISTENT")
}

func TestCreateRenameDelete(t *testing.T) {
	f := newFixture(t)
	c := f.login()

	// Köln in modified UTF-7 on the wire, UTF-8 in the store.
	c.C(`a1 CREATE "Projekte/K&APY-ln/"`)
	c.OK("a1")
	if _, err := f.st.MailboxByName("Projekte/Köln"); err != nil {
		t.Fatalf("created mailbox not in store: %v", err)
	}
	c.C(`a2 LIST "" "Projekte*"`)
	has(t, c.OK("a2"), `* LIST (\HasNoChildren) "/" "Projekte/K&APY-ln"`)

	c.C(`a3 CREATE "Projekte/K&APY-ln"`)
	c.NO("a3")
	c.checkCode(t, "ALREADYEXISTS")
	c.C(`a4 CREATE inbox`)
	c.NO("a4")
	c.checkCode(t, "ALREADYEXISTS")
	c.C(`a5 CREATE "All Mail/x" (USE (\Drafts))`)
	c.NO("a5")

	c.C(`a6 RENAME "Projekte/K&APY-ln" "Projekte/Bonn"`)
	c.OK("a6")
	c.C(`a7 LIST "" "Projekte/*"`)
	has(t, c.OK("a7"), `* LIST (\HasNoChildren) "/" "Projekte/Bonn"`)
	c.C(`a8 RENAME INBOX Old`)
	c.NO("a8")

	c.C(`a9 DELETE Projekte/Bonn`)
	c.OK("a9")
	c.C(`a10 DELETE INBOX`)
	c.NO("a10")
	c.C(`a11 DELETE Nope`)
	c.NO("a11")
	c.checkCode(t, "NONEXISTENT")
	c.C(`a12 DELETE "All Mail"`)
	c.NO("a12")
	c.C(`a13 SELECT Nope`)
	c.NO("a13")
}

func TestSubscriptions(t *testing.T) {
	f := newFixture(t)
	c := f.login()

	c.C("a1 UNSUBSCRIBE Work")
	c.OK("a1")
	c.C("a2 SUBSCRIBE Work/2024")
	c.OK("a2")
	c.C(`a3 LSUB "" "*"`)
	lines := c.OK("a3")
	has(t, lines, `* LSUB (\HasNoChildren \Subscribed) "/" "Work/2024"`)
	// The pattern reaches the subscribed child itself, so its
	// unsubscribed parent is not listed (found by the Dovecot check).
	hasNot(t, lines, `"Work"`)
	// An unsubscribed parent of a subscribed mailbox shows as \Noselect.
	c.C(`a4 LSUB "" "%"`)
	has(t, c.OK("a4"), `* LSUB (\Noselect \HasChildren) "/" "Work"`)

	c.C(`a5 LIST (SUBSCRIBED) "" "*"`)
	lines = c.OK("a5")
	has(t, lines, `* LIST (\HasNoChildren \Subscribed) "/" "Work/2024"`)
	hasNot(t, lines, `"Work"`)
	c.C(`a6 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"`)
	has(t, c.OK("a6"), `* LIST (\HasChildren) "/" "Work" (CHILDINFO ("SUBSCRIBED"))`)

	// A name that is not subscribed, because no mailbox has it, can be
	// unsubscribed (RFC 9051 section 6.3.8): Thunderbird unsubscribes
	// the old name after a RENAME (found by its test).
	c.C("a7 UNSUBSCRIBE Nosuch")
	c.OK("a7")
	c.C("a8 SUBSCRIBE Nosuch")
	c.NO("a8")

	// A subscription outlives its mailbox (RFC 3501 section 6.3.6), and
	// comes back with a mailbox of that name.
	for _, cmd := range []string{"CREATE Gone", "SUBSCRIBE Gone", "DELETE Gone"} {
		c.C("b " + cmd)
		c.OK("b")
	}
	c.C(`b1 LSUB "" "Gone"`)
	has(t, c.OK("b1"), `* LSUB () "/" "Gone"`)
	c.C(`b2 LIST (SUBSCRIBED) "" "G*"`)
	has(t, c.OK("b2"), `* LIST (\Subscribed \NonExistent) "/" "Gone"`)
	c.C(`b3 LIST "" "Gone" RETURN (SUBSCRIBED)`)
	if lines := c.OK("b3"); len(lines) != 0 {
		t.Errorf("LIST of a deleted mailbox: %q", lines)
	}
	c.C("b4 CREATE Gone")
	c.OK("b4")
	c.C(`b5 LSUB "" "Gone"`)
	has(t, c.OK("b5"), `* LSUB (\HasNoChildren \Subscribed) "/" "Gone"`)
	c.C("b6 DELETE Gone")
	c.OK("b6")
	c.C("b7 UNSUBSCRIBE Gone")
	c.OK("b7")
	c.C(`b8 LSUB "" "Gone"`)
	if lines := c.OK("b8"); len(lines) != 0 {
		t.Errorf("LSUB after UNSUBSCRIBE: %q", lines)
	}
}

// CREATE-SPECIAL-USE (RFC 6154): the system labels are the special-use
// mailboxes, so CREATE with USE creates nothing and says which mailbox
// has the use; without a use, or with an empty list, CREATE creates.
func TestCreateSpecialUse(t *testing.T) {
	f := newFixture(t)
	c := f.login()
	c.C("a0 CAPABILITY")
	if caps := strings.Join(c.OK("a0"), " "); !strings.Contains(caps, " CREATE-SPECIAL-USE") {
		t.Errorf("CREATE-SPECIAL-USE not advertised: %s", caps)
	}
	c.C(`a1 CREATE MyDrafts (USE (\Drafts))`)
	c.NO("a1")
	c.checkCode(t, "USEATTR")
	if !strings.Contains(c.lastTagged, `"Drafts"`) {
		t.Errorf("the refusal does not name the Drafts mailbox: %q", c.lastTagged)
	}
	c.C(`a2 CREATE Sent (USE (\Sent))`)
	c.NO("a2")
	c.checkCode(t, "ALREADYEXISTS")
	c.C(`a3 CREATE Starred (USE (\Flagged))`)
	c.NO("a3")
	c.checkCode(t, "USEATTR")
	c.C(`a4 LIST "" "*"`)
	for _, l := range c.OK("a4") {
		if strings.Contains(l, "MyDrafts") || strings.Contains(l, "Starred") {
			t.Errorf("a refused CREATE made a mailbox: %s", l)
		}
	}
	c.C(`a5 CREATE Plain (USE ())`)
	c.OK("a5")
	c.C(`a6 LIST "" Plain`)
	has(t, c.OK("a6"), `* LIST (\HasNoChildren) "/" "Plain"`)
}

// INBOX is INBOX in any case as a superior too, so that what CREATE and
// RENAME made, LIST, RENAME and DELETE find; a pattern that starts with
// the delimiter names an absolute name, which no mailbox has (both found
// by TestDovecotDifferential).
func TestInboxChildrenAndAbsolutePatterns(t *testing.T) {
	f := newFixture(t)
	c := f.login()
	c.C("a CREATE inbox/kid")
	c.OK("a")
	c.C(`b LIST "" "INBOX/*"`)
	has(t, c.OK("b"), `* LIST (\HasNoChildren) "/" "INBOX/kid"`)
	c.C(`c LIST "" "inbox/%"`)
	has(t, c.OK("c"), `* LIST (\HasNoChildren) "/" "INBOX/kid"`)
	c.C("d RENAME Inbox/kid Inbox/kid2")
	c.OK("d")
	c.C("e DELETE INBOX/kid2")
	c.OK("e")
	for _, pattern := range []string{"/*", "/Work", "/%"} {
		c.C(`f LIST "" "` + pattern + `"`)
		if lines := c.OK("f"); len(lines) != 0 {
			t.Errorf("LIST %q: %q", pattern, lines)
		}
	}
	c.C(`g LIST "" ("/Work" "Work")`)
	has(t, c.OK("g"), `* LIST (\HasChildren) "/" "Work"`)
}
