package imapsrv

import (
	"slices"
	"strings"
	"testing"

	"github.com/mailbridge/mailbridge/store"
	"github.com/mailbridge/mailbridge/upstream"
)

// A mailbox selected before keeps its view after UNSELECT; what changes
// while nobody has it selected must show on the next SELECT, with the
// new mail \Recent.
func TestReselectSeesChangesMadeWhileIdle(t *testing.T) {
	f := newFixture(t)
	c := f.login()
	c.C("a1 SELECT INBOX")
	c.OK("a1")
	c.C("a2 UNSELECT")
	c.OK("a2")

	f.addMessage("m4", upstream.FlagSeen, testMessage1, upstream.Inbox)
	f.apply(store.Changes{Updated: []upstream.MessageMeta{{ID: "m1", MailboxIDs: []string{upstream.Archive}, Flags: upstream.FlagSeen}}})
	c.C("a3 SELECT INBOX")
	has(t, c.OK("a3"), "* 3 EXISTS", "* 1 RECENT")
	c.C("a4 FETCH 1:* (UID FLAGS RFC822.SIZE)")
	has(t, c.OK("a4"),
		`* 1 FETCH (UID 2 FLAGS () RFC822.SIZE `+itoa(len(crlf(testMessage2)))+`)`,
		`* 3 FETCH (UID 4 FLAGS (\Seen \Recent) RFC822.SIZE `+itoa(len(crlf(testMessage1)))+`)`)

	// More mailboxes than the account keeps idle: the first is listed
	// again from the store and is still right.
	for i, name := range []string{"Drafts", "Sent", "Archive", "Spam", "Trash", "Work", "Work/2024", "INBOX"} {
		tag := "b" + itoa(i)
		c.C(tag + " SELECT " + name)
		c.OK(tag)
	}
	c.C("a5 UID FETCH 4 (FLAGS)")
	has(t, c.OK("a5"), `* 3 FETCH (UID 4 FLAGS (\Seen))`)
}

// Sets are resolved without a scan of the mailbox; unordered, overlapping
// and out-of-range parts still give each message once, in order.
func TestResolveSets(t *testing.T) {
	f := newFixture(t)
	c := f.login()
	c.C("s SELECT INBOX")
	c.OK("s")
	for _, tc := range []struct {
		cmd  string
		want []string
	}{
		{"FETCH 3,1:2,2 (UID)", []string{"* 1 FETCH (UID 1)", "* 2 FETCH (UID 2)", "* 3 FETCH (UID 3)"}},
		{"FETCH *:2 (UID)", []string{"* 2 FETCH (UID 2)", "* 3 FETCH (UID 3)"}},
		{"UID FETCH 9:* (UID)", []string{"* 3 FETCH (UID 3)"}},
		{"UID FETCH 2:1,3:3 (UID)", []string{"* 1 FETCH (UID 1)", "* 2 FETCH (UID 2)", "* 3 FETCH (UID 3)"}},
		{"UID FETCH 5:9 (UID)", nil},
	} {
		c.C("t " + tc.cmd)
		lines := c.OK("t")
		if len(lines) != len(tc.want) {
			t.Errorf("%s: got %q, want %q", tc.cmd, lines, tc.want)
			continue
		}
		has(t, lines, tc.want...)
	}

	// RFC 9051 section 9, seq-number: a sequence number past the last
	// message, "*" in an empty mailbox included, is BAD and does nothing.
	bad := func(cmd string) {
		t.Helper()
		c.C("b " + cmd)
		if lines := c.BAD("b"); len(lines) > 0 || !strings.Contains(c.lastTagged, "[CLIENTBUG]") {
			t.Errorf("%s: got %q after %q", cmd, c.lastTagged, lines)
		}
	}
	c.C("f FETCH 1:* (FLAGS UID)")
	before := c.OK("f")
	for _, cmd := range []string{
		"FETCH 4 (UID)", "FETCH 2:4294967295 (UID)", "FETCH 1,9 (UID)",
		"STORE 3:4 +FLAGS (\\Flagged)", "COPY 4 Archive", "MOVE 1:9 Archive",
	} {
		bad(cmd)
	}
	c.C("f FETCH 1:* (FLAGS UID)")
	if after := c.OK("f"); !slices.Equal(after, before) {
		t.Errorf("the BAD commands changed the mailbox: %q, then %q", before, after)
	}
	c.C("d SELECT Drafts")
	c.OK("d")
	for _, cmd := range []string{"FETCH 1:* (UID)", "FETCH * (UID)", "STORE 1:* +FLAGS (\\Seen)"} {
		bad(cmd)
	}
	// UIDs are never wrong, and SEARCH takes a set as a key that matches nothing.
	for _, cmd := range []string{"UID FETCH 1:* (UID)", "UID STORE 1:* +FLAGS (\\Seen)", "SEARCH 1:*", "SEARCH 5"} {
		c.C("t " + cmd)
		c.OK("t")
	}
}
