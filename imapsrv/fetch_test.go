package imapsrv

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailbridge/mailbridge/store"
	"github.com/mailbridge/mailbridge/upstream"
)

func TestSelect(t *testing.T) {
	f := newFixture(t)
	c := f.login()
	c.C("a1 SELECT INBOX")
	c.S("* 3 EXISTS", "* 0 RECENT", "* OK [UNSEEN 2] First unseen message")
	c.Sx(`^\* OK \[UIDVALIDITY \d+\] UIDs valid$`)
	c.S(`* OK [UIDNEXT 4] Predicted next UID`,
		`* FLAGS (\Answered \Deleted \Draft \Flagged \Seen)`,
		`* OK [PERMANENTFLAGS (\Answered \Deleted \Draft \Flagged \Seen \*)] Permanent flags`,
		`a1 OK [READ-WRITE] SELECT completed`)

	c.C("a2 EXAMINE Drafts")
	c.S("* OK [CLOSED] Previous mailbox is now closed", "* 0 EXISTS", "* 0 RECENT")
	c.Sx(`^\* OK \[UIDVALIDITY \d+\] UIDs valid$`)
	c.S(`* OK [UIDNEXT 1] Predicted next UID`,
		`* FLAGS (\Answered \Deleted \Draft \Flagged \Seen)`,
		`* OK [PERMANENTFLAGS ()] Permanent flags`,
		`a2 OK [READ-ONLY] EXAMINE completed`)
	c.C("a3 UNSELECT")
	c.OK("a3")
	c.C("a4 FETCH 1 FLAGS")
	c.BAD("a4")
}

func TestFetch(t *testing.T) {
	f := newFixture(t)
	c := f.login()
	c.C("s SELECT INBOX")
	c.OK("s")

	c.C("a1 FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)")
	has(t, c.OK("a1"),
		`* 1 FETCH (UID 1 FLAGS (\Seen) INTERNALDATE "10-Mar-2024 12:00:00 +0000" RFC822.SIZE `+itoa(len(crlf(testMessage1)))+`)`,
		`* 2 FETCH (UID 2 FLAGS () INTERNALDATE "10-Mar-2024 12:00:00 +0000" RFC822.SIZE `+itoa(len(crlf(testMessage2)))+`)`,
		`* 3 FETCH (UID 3 FLAGS (\Flagged) INTERNALDATE "10-Mar-2024 12:00:00 +0000" RFC822.SIZE `+itoa(len(crlf(testMessage3)))+`)`,
	)

	c.C("a2 UID FETCH 3 ENVELOPE")
	has(t, c.OK("a2"), `* 3 FETCH (UID 3 ENVELOPE ("Mon, 11 Mar 2024 09:15:00 -0500" "Invoice 42" (("Dave" NIL "dave" "example.com")) (("Dave" NIL "dave" "example.com")) (("Dave" NIL "dave" "example.com")) (("Alice" NIL "alice" "example.org")) NIL NIL "<m1@example.com>" "<m3@example.com>"))`)

	c.C("a3 FETCH 2 (BODYSTRUCTURE BODY)")
	lines := c.OK("a3")
	if len(lines) != 1 ||
		!strings.Contains(lines[0], `BODY (("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" `) ||
		!strings.Contains(lines[0], `BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" `) ||
		!strings.Contains(lines[0], `("attachment" ("filename" "report.pdf"))`) ||
		!strings.Contains(lines[0], `"mixed" ("boundary" "XYZ")`) {
		t.Errorf("BODYSTRUCTURE: %q", lines)
	}

	c.C("a4 FETCH 1 BODY.PEEK[HEADER.FIELDS (Subject FROM)]")
	has(t, c.OK("a4"), "* 1 FETCH (BODY[HEADER.FIELDS (\"Subject\" \"FROM\")] "+literal("From: Bob Example <bob@example.com>\r\nSubject: Lunch tomorrow\r\n\r\n")+")")

	c.C("a5 FETCH 1 BODY.PEEK[HEADER.FIELDS.NOT (From To Cc Subject Date)]")
	has(t, c.OK("a5"), "* 1 FETCH (BODY[HEADER.FIELDS.NOT (\"From\" \"To\" \"Cc\" \"Subject\" \"Date\")] "+literal("Message-ID: <m1@example.com>\r\n\r\n")+")")

	c.C("a6 FETCH 1 (BODY.PEEK[TEXT] BODY.PEEK[TEXT]<6.4>)")
	has(t, c.OK("a6"), "* 1 FETCH (BODY[TEXT] "+literal("Shall we meet at noon?\r\n")+" BODY[TEXT]<6> "+literal("we m")+")")

	c.C("a7 FETCH 2 (BODY.PEEK[1] BODY.PEEK[2.MIME] BINARY.PEEK[1] BINARY.SIZE[1] BODY.PEEK[3])")
	has(t, c.OK("a7"), "* 2 FETCH (BODY[1] "+literal("Sch=C3=B6ne Gr=C3=BC=C3=9Fe vom Rhein.")+
		" BODY[2.MIME] "+literal("Content-Type: application/pdf; name=\"report.pdf\"\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")+
		" BODY[3] {0}\r\n"+
		" BINARY[1] ~"+literal("Schöne Grüße vom Rhein.")+
		" BINARY.SIZE[1] "+itoa(len("Schöne Grüße vom Rhein."))+")")

	c.C("a8 FETCH 1 (RFC822.HEADER RFC822.SIZE)")
	lines = c.OK("a8")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "* 1 FETCH (RFC822.SIZE 211 RFC822.HEADER {") || strings.Contains(lines[0], "noon") {
		t.Errorf("RFC822.HEADER: %q", lines)
	}

	// Peeking leaves \Seen alone; BODY[] and RFC822.TEXT set it.
	c.C("a9 FETCH 2 FLAGS")
	has(t, c.OK("a9"), `* 2 FETCH (FLAGS ())`)
	c.C("a10 FETCH 2 BODY[]")
	lines = c.OK("a10")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], `* 2 FETCH (FLAGS (\Seen) BODY[] {`) {
		t.Errorf("FETCH BODY[]: %q", lines)
	}
	c.C("a11 FETCH 3 RFC822.TEXT")
	has(t, c.OK("a11"), "* 3 FETCH (FLAGS (\\Seen \\Flagged) RFC822.TEXT "+literal("Please find the invoice attached. Total: 42 EUR.\r\n")+")")
	c.C("a12 UID FETCH 1:* FLAGS")
	has(t, c.OK("a12"), `* 2 FETCH (UID 2 FLAGS (\Seen))`, `* 3 FETCH (UID 3 FLAGS (\Seen \Flagged))`)

	// The change went through the store.
	entries, err := f.st.Entries(mustMailbox(t, f, "INBOX").ID)
	if err != nil {
		t.Fatal(err)
	}
	if !hasFlag(entries[1].Flags, `\Seen`) {
		t.Errorf("store flags of 2: %q", entries[1].Flags)
	}

	c.C("a13 FETCH 1 RFC822")
	lines = c.OK("a13")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "* 1 FETCH (RFC822 "+literal(crlf(testMessage1))) {
		t.Errorf("RFC822: %q", lines)
	}
	c.C("a14 FETCH 1 FAST")
	c.OK("a14")
	c.C("a15 FETCH 9 FLAGS")
	if lines := c.BAD("a15"); len(lines) != 0 {
		t.Errorf("FETCH of a missing message: %q", lines)
	}
}

// BINARY of a part in an encoding the server cannot undo is NO
// [UNKNOWN-CTE] (RFC 3516 4.3), not an empty literal; BODY[] still
// serves the part as it is.
func TestBinaryUnknownEncoding(t *testing.T) {
	f := newFixture(t)
	f.addMessage("m9", 0, "Subject: odd\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nplain\n"+
		"--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 x\n--b--\n", upstream.Inbox)
	f.addMessage("m10", 0, "Subject: odd too\nContent-Transfer-Encoding: x-foo\n\nbody\n", upstream.Inbox)
	c := f.login()
	c.C("a1 SELECT INBOX")
	c.OK("a1")
	c.C("a2 FETCH 4 BINARY.PEEK[2]")
	c.NO("a2")
	c.checkCode(t, "UNKNOWN-CTE")
	c.C("a3 FETCH 4 BINARY.SIZE[2]")
	c.NO("a3")
	c.checkCode(t, "UNKNOWN-CTE")
	c.C("a4 FETCH 4 (BINARY.PEEK[1] BODY.PEEK[2])")
	has(t, c.OK("a4"), "* 4 FETCH (BODY[2] "+literal("begin 644 x")+" BINARY[1] ~"+literal("plain")+")")
	c.C("a5 FETCH 5 BINARY.PEEK[1]")
	c.NO("a5")
	c.checkCode(t, "UNKNOWN-CTE")
}

// A flag sync is written by fetchFlags, not go-imap: its lines must be
// what go-imap writes for the same messages, \Recent and keywords too.
func TestFlagSyncLinesAsGoImapWritesThem(t *testing.T) {
	f := newFixture(t)
	c := f.login()
	c.C("a1 SELECT INBOX")
	c.OK("a1")
	c.C(`a2 STORE 2 +FLAGS ($Label1 \Answered)`)
	c.OK("a2")
	for _, items := range []string{"FLAGS", "UID FLAGS"} {
		for _, cmd := range []string{"FETCH", "UID FETCH"} {
			c.C("f1 " + cmd + " 1:* (" + items + ")")
			fast := c.OK("f1")
			c.C("f2 " + cmd + " 1:* (" + items + " RFC822.SIZE)")
			slow := c.OK("f2")
			if len(fast) != 3 || len(slow) != len(fast) {
				t.Fatalf("%s (%s): %q and %q", cmd, items, fast, slow)
			}
			for i := range fast {
				want := regexp.MustCompile(` RFC822\.SIZE \d+`).ReplaceAllString(slow[i], "")
				if fast[i] != want {
					t.Errorf("%s (%s): %q, go-imap writes %q", cmd, items, fast[i], want)
				}
			}
		}
	}
	if !atomFlags([]imap.Flag{`\Seen`, "$Label1", "Junk"}) || atomFlags([]imap.Flag{"a]b"}) || atomFlags([]imap.Flag{"ü"}) || atomFlags([]imap.Flag{`\`}) {
		t.Error("atomFlags")
	}
}

// BINARY looks into attached messages, whose parts continue the
// numbering (2.1 is the attached message's body); go-imap's Walk does
// not, and an undecodable part there went out as an empty literal.
func TestBinaryUnknownEncodingInAttachedMessage(t *testing.T) {
	f := newFixture(t)
	f.addMessage("m9", 0, "Subject: fwd\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nsee attached\n"+
		"--b\nContent-Type: message/rfc822\n\nSubject: inner\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 x\n--b--\n", upstream.Inbox)
	c := f.login()
	c.C("a1 SELECT INBOX")
	c.OK("a1")
	c.C("a2 FETCH 4 BINARY.PEEK[2.1]")
	c.NO("a2")
	c.checkCode(t, "UNKNOWN-CTE")
	c.C("a3 FETCH 4 (BINARY.PEEK[1] BINARY.SIZE[2])")
	c.OK("a3")
	// A refused BINARY that is not a peek marks nothing \Seen.
	c.C("a4 FETCH 4 BINARY[2.1]")
	c.NO("a4")
	c.C("a5 FETCH 4 FLAGS")
	has(t, c.OK("a5"), `* 4 FETCH (FLAGS ())`)
}

// A FETCH that ends early (here NO [UNKNOWN-CTE] in its second chunk)
// stops the goroutine reading ahead before it returns: the read-ahead
// used the session, which a LOGOUT right after it closed, and crashed
// the daemon.
func TestFetchReadAheadEndsWithTheFetch(t *testing.T) {
	f := newFixture(t)
	var in []store.Incoming
	for i := range 2000 {
		body := fmt.Sprintf("Subject: n%d\r\n\r\nbody %d\r\n", i, i)
		if i == 253 { // sequence number 257, the first of the second chunk
			body = "Subject: odd\r\nContent-Transfer-Encoding: x-foo\r\n\r\nbody\r\n"
		}
		in = append(in, store.Incoming{
			Meta: upstream.MessageMeta{ID: fmt.Sprintf("r%d", i), MailboxIDs: []string{upstream.Inbox},
				Date: time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC), Size: int64(len(body))},
			Body: []byte(body),
		})
	}
	f.apply(store.Changes{Messages: in})
	for range 50 {
		c := f.login()
		c.C("a1 SELECT INBOX")
		c.OK("a1")
		c.write("a2 FETCH 1:* (BINARY.PEEK[1])\r\na3 LOGOUT\r\n")
		c.NO("a2")
		c.Tagged("a3")
	}
}

// BINARY undoes the transfer encoding and nothing else: a Latin-1 part
// keeps its octets (go-imap's extractor turned them into UTF-8, which the
// part's header contradicts), and a part in a charset nobody knows is
// still served.
func TestBinaryKeepsTheCharset(t *testing.T) {
	f := newFixture(t)
	f.addMessage("m9", 0, "Subject: latin\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\ncaf=E9\n", upstream.Inbox)
	f.addMessage("m10", 0, "Subject: odd\nContent-Type: text/plain; charset=x-unknown\nContent-Transfer-Encoding: base64\n\nY2Fm\r\n6Q==\n", upstream.Inbox)
	c := f.login()
	c.C("a1 SELECT INBOX")
	c.OK("a1")
	c.C("a2 FETCH 4:5 (BINARY.PEEK[1] BINARY.SIZE[1])")
	has(t, c.OK("a2"),
		"* 4 FETCH (BINARY[1] ~"+literal("caf\xe9\r\n")+" BINARY.SIZE[1] 6)",
		"* 5 FETCH (BINARY[1] ~"+literal("caf\xe9")+" BINARY.SIZE[1] 4)")
	// The whole message says what BINARY did to it, as Dovecot has it.
	c.C("a3 FETCH 4 (BINARY.PEEK[] BINARY.SIZE[])")
	whole := "Subject: latin\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: binary\r\n\r\ncaf\xe9\r\n"
	has(t, c.OK("a3"), "* 4 FETCH (BINARY[] ~"+literal(whole)+" BINARY.SIZE[] "+strconv.Itoa(len(whole))+")")
}

func TestBinaryHeader(t *testing.T) {
	for in, want := range map[string]string{
		"A: 1\r\nContent-Transfer-Encoding: base64\r\nB: 2\r\n\r\n":                        "A: 1\r\nContent-Transfer-Encoding: binary\r\nB: 2\r\n\r\n",
		"content-transfer-encoding :\r\n  Quoted-Printable\r\nB: 2\r\n\r\n":                "Content-Transfer-Encoding: binary\r\nB: 2\r\n\r\n",
		"A: 1\r\nContent-Transfer-Encoding: base64\r\nContent-Transfer-Encoding: 7bit\r\n": "A: 1\r\nContent-Transfer-Encoding: binary\r\n",
		"A: 1\r\n X-Content-Transfer-Encoding: base64\r\n\r\n":                             "A: 1\r\n X-Content-Transfer-Encoding: base64\r\n\r\n",
	} {
		if got := string(binaryHeader([]byte(in))); got != want {
			t.Errorf("binaryHeader(%q) = %q, want %q", in, got, want)
		}
	}
}

// A message with no body and no blank line has no blank line in any of
// its headers either (RFC 3501 section 6.4.5); go-imap's extractor adds
// one (found by TestDovecotDifferential).
func TestHeaderOfMessageWithoutBlankLine(t *testing.T) {
	f := newFixture(t)
	const header = "Subject: nobody\r\nMessage-ID: <nb@example.test>\r\n"
	f.addMessage("m9", 0, header, upstream.Inbox)
	f.addMessage("m10", 0, "Subject: with\r\n\r\n", upstream.Inbox)
	c := f.login()
	c.C("a1 SELECT INBOX")
	c.OK("a1")
	for item, want := range map[string]string{
		"BODY.PEEK[HEADER]":                      "BODY[HEADER] " + literal(header),
		"RFC822.HEADER":                          "RFC822.HEADER " + literal(header),
		"BODY.PEEK[HEADER.FIELDS (Subject)]":     `BODY[HEADER.FIELDS ("Subject")] ` + literal("Subject: nobody\r\n"),
		"BODY.PEEK[HEADER.FIELDS.NOT (Subject)]": `BODY[HEADER.FIELDS.NOT ("Subject")] ` + literal("Message-ID: <nb@example.test>\r\n"),
		"BODY.PEEK[HEADER.FIELDS (X-None)]":      `BODY[HEADER.FIELDS ("X-None")] ` + literal(""),
		"BODY.PEEK[1.MIME]":                      "BODY[1.MIME] " + literal(header),
		"BODY.PEEK[HEADER]<9.100>":               "BODY[HEADER]<9> " + literal(header[9:]),
		"BINARY.PEEK[]":                          "BINARY[] ~" + literal(header),
		"BINARY.SIZE[]":                          "BINARY.SIZE[] " + strconv.Itoa(len(header)),
	} {
		c.C("a2 FETCH 4 " + item)
		has(t, c.OK("a2"), "* 4 FETCH ("+want+")")
	}
	// With its blank line, the header keeps it.
	c.C("a3 FETCH 5 BODY.PEEK[HEADER.FIELDS (X-None)]")
	has(t, c.OK("a3"), `* 5 FETCH (BODY[HEADER.FIELDS ("X-None")] `+literal("\r\n")+")")
}

// A partial BINARY reply names its origin (RFC 3516 section 4.2), which
// go-imap's writer leaves out (found by TestDovecotDifferential).
func TestPartialBinaryOrigin(t *testing.T) {
	f := newFixture(t)
	f.addMessage("m9", 0, "Subject: b\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ=\r\n", upstream.Inbox)
	c := f.login()
	c.C("a1 SELECT INBOX")
	c.OK("a1")
	c.C("a2 FETCH 4 (BINARY.PEEK[1]<2.5> BINARY.PEEK[1] BINARY.SIZE[1])")
	has(t, c.OK("a2"), "* 4 FETCH (BINARY[1]<2> ~"+literal("llo w")+" BINARY[1] ~"+literal("hello world")+" BINARY.SIZE[1] 11)")
	c.C("a3 UID FETCH 4 binary.peek[]<0.7>")
	has(t, c.OK("a3"), "* 4 FETCH (UID 4 BINARY[]<0> ~"+literal("Subject")+")")
	c.C("a5 FETCH 3:4 (BINARY.PEEK[1]<0.2> BINARY.PEEK[1]<1.1>)")
	lines := c.OK("a5")
	if len(lines) != 2 {
		t.Errorf("FETCH 3:4: %q", lines)
	}
	for _, l := range lines {
		if strings.Count(l, "BINARY[1]<0> ~{2}") != 1 || strings.Count(l, "BINARY[1]<1> ~{1}") != 1 {
			t.Errorf("FETCH 3:4: %q", l)
		}
	}
	c.C("a4 FETCH 4 BODY.PEEK[1]<2.3>")
	has(t, c.OK("a4"), "* 4 FETCH (BODY[1]<2> "+literal("Vsb")+")")
}
