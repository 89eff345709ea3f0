package imapsrv

import (
	"testing"

	"github.com/mailbridge/mailbridge/upstream"
)

// A message with the address forms clients and test suites check: a
// group, an empty group, quoted names with specials, a comment as name,
// and a Latin-1 body.
const testMessageGroups = `From: carl@example.com (Carl Comment)
Sender: "Doe, \"Jane\"" <jane@example.com>
To: Team: anna@example.com, "B, Jr." <b@example.com>;, solo@example.net
Cc: undisclosed-recipients:;
Subject: Groups
Date: Tue, 12 Mar 2024 10:00:00 +0000
Message-ID: <g1@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Gr=FC=DFe aus M=FCnchen.
`

func TestEnvelopeAddresses(t *testing.T) {
	f := newFixture(t)
	f.addMessage("g1", 0, testMessageGroups, upstream.Inbox)
	c := f.login()
	c.C("s SELECT INBOX")
	c.OK("s")

	c.C("a UID FETCH 4 ENVELOPE")
	has(t, c.OK("a"), `* 4 FETCH (UID 4 ENVELOPE ("Tue, 12 Mar 2024 10:00:00 +0000" "Groups" `+
		`(("Carl Comment" NIL "carl" "example.com")) `+ // from: the comment names the address
		`(("Doe, \"Jane\"" NIL "jane" "example.com")) `+ // sender
		`(("Carl Comment" NIL "carl" "example.com")) `+ // reply-to defaults to from
		`((NIL NIL "Team" NIL) (NIL NIL "anna" "example.com") ("B, Jr." NIL "b" "example.com") (NIL NIL NIL NIL) (NIL NIL "solo" "example.net")) `+
		`((NIL NIL "undisclosed-recipients" NIL) (NIL NIL NIL NIL)) `+
		`NIL NIL "<g1@example.com>"))`)

	search := func(cmd, want string) {
		t.Helper()
		c.C("q " + cmd)
		lines := c.OK("q")
		if len(lines) != 1 || lines[0] != want {
			t.Errorf("%s: got %q, want %q", cmd, lines, want)
		}
	}
	search(`SEARCH FROM "carl comment"`, "* SEARCH 4")
	search(`SEARCH TO "b, jr."`, "* SEARCH 4")
	search(`SEARCH TO team`, "* SEARCH 4")
	search(`SEARCH CC undisclosed`, "* SEARCH 4")
	search(`SEARCH HEADER Sender jane`, "* SEARCH 4")
	// The Latin-1 body is searched as text, in any case.
	search("SEARCH CHARSET UTF-8 BODY "+literalPlus("GRÜSSE"), "* SEARCH")
	search("SEARCH CHARSET UTF-8 BODY "+literalPlus("münchen"), "* SEARCH 4")
	search("SEARCH CHARSET UTF-8 TEXT "+literalPlus("Grüße"), "* SEARCH 2 4")
}
