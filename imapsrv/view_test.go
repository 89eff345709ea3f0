package imapsrv

import (
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
		{"FETCH 2:4294967295 (UID)", []string{"* 2 FETCH (UID 2)", "* 3 FETCH (UID 3)"}},
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
}
