package imapsrv

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/rawimap"
	"github.com/mailbridge/mailbridge/store"
	"github.com/mailbridge/mailbridge/upstream"
)

func mustMailbox(t *testing.T, f *fixture, name string) store.Mailbox {
	t.Helper()
	m, err := f.st.MailboxByName(name)
	if err != nil {
		t.Fatalf("MailboxByName(%q): %v", name, err)
	}
	return m
}

func TestStore(t *testing.T) {
	f := newFixture(t)
	c := f.login()
	c.C("s SELECT INBOX")
	c.OK("s")

	c.C(`a1 STORE 2 +FLAGS (\Answered)`)
	has(t, c.OK("a1"), `* 2 FETCH (UID 2 FLAGS (\Answered))`)
	// A new keyword first announces itself in FLAGS and PERMANENTFLAGS.
	c.C(`a2 UID STORE 2 +FLAGS ($Work)`)
	lines := c.OK("a2")
	want := []string{
		`* FLAGS ($Work \Answered \Deleted \Draft \Flagged \Seen)`,
		`* OK [PERMANENTFLAGS ($Work \Answered \Deleted \Draft \Flagged \Seen \*)] Permanent flags`,
		`* 2 FETCH (UID 2 FLAGS (\Answered $Work))`,
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("STORE of a new keyword: %q", lines)
	}
	c.C(`a3 STORE 1:2 -FLAGS (\Answered \Seen)`)
	has(t, c.OK("a3"), `* 1 FETCH (UID 1 FLAGS ())`, `* 2 FETCH (UID 2 FLAGS ($Work))`)
	c.C(`a4 STORE 1 FLAGS (\Flagged \Draft)`)
	has(t, c.OK("a4"), `* 1 FETCH (UID 1 FLAGS (\Flagged \Draft))`)
	// Unchanged flags are still reported.
	c.C(`a5 STORE 1 +FLAGS (\Flagged)`)
	has(t, c.OK("a5"), `* 1 FETCH (UID 1 FLAGS (\Flagged \Draft))`)
	c.C(`a6 STORE 1:3 +FLAGS.SILENT (\Seen)`)
	if lines := c.OK("a6"); len(lines) != 0 {
		t.Errorf("STORE .SILENT answered %q", lines)
	}
	c.C(`a7 FETCH 1:3 FLAGS`)
	has(t, c.OK("a7"), `* 1 FETCH (FLAGS (\Seen \Flagged \Draft))`, `* 2 FETCH (FLAGS (\Seen $Work))`, `* 3 FETCH (FLAGS (\Seen \Flagged))`)
	c.C(`a8 STORE 1 +FLAGS (\Recent)`)
	c.OK("a8")
	c.C(`a9 STORE 1 BOGUS (\Seen)`)
	c.BAD("a9")
}

func TestSearch(t *testing.T) {
	f := newFixture(t)
	c := f.login()
	c.C("s SELECT INBOX")
	c.OK("s")

	search := func(cmd, want string) {
		t.Helper()
		c.C("q " + cmd)
		lines := c.OK("q")
		if len(lines) != 1 || lines[0] != want {
			t.Errorf("%s: got %q, want %q", cmd, lines, want)
		}
	}
	search("SEARCH ALL", "* SEARCH 1 2 3")
	search("SEARCH SEEN", "* SEARCH 1")
	search("SEARCH UNSEEN", "* SEARCH 2 3")
	search("SEARCH FLAGGED UNSEEN", "* SEARCH 3")
	search("SEARCH OR SEEN FLAGGED", "* SEARCH 1 3")
	search("SEARCH NOT SEEN NOT FLAGGED", "* SEARCH 2")
	search("SEARCH FROM BOB", "* SEARCH 1")
	search("SEARCH FROM example.com", "* SEARCH 1 3")
	search("SEARCH TO alice CC carol", "* SEARCH 1")
	search("SEARCH BCC anybody", "* SEARCH")
	search("SEARCH SUBJECT invoice", "* SEARCH 3")
	search("SEARCH CHARSET UTF-8 SUBJECT "+literalPlus("grüße"), "* SEARCH 2")
	search("SEARCH FROM "+literalPlus("MÜLLER"), "* SEARCH 2")
	search("SEARCH BODY rhein", "* SEARCH 2")
	search("SEARCH BODY "+literalPlus("schöne"), "* SEARCH 2")
	search("SEARCH TEXT m1@example.com", "* SEARCH 1 3")
	search("SEARCH TEXT noon", "* SEARCH 1")
	search(`SEARCH HEADER In-Reply-To ""`, "* SEARCH 3")
	search("SEARCH HEADER Message-ID m2", "* SEARCH 2")
	search("SEARCH SENTBEFORE 10-Mar-2024", "* SEARCH 1")
	search("SEARCH SENTON 10-Mar-2024", "* SEARCH 2")
	search("SEARCH SENTSINCE 11-Mar-2024", "* SEARCH 3")
	search("SEARCH ON 10-Mar-2024", "* SEARCH 1 2 3")
	search("SEARCH BEFORE 10-Mar-2024", "* SEARCH")
	search("SEARCH SINCE 11-Mar-2024", "* SEARCH")
	search("SEARCH LARGER 400", "* SEARCH 2")
	search("SEARCH SMALLER 400", "* SEARCH 1 3")
	search("SEARCH 2:*", "* SEARCH 2 3")
	search("SEARCH UID 3", "* SEARCH 3")
	search("UID SEARCH UNSEEN", "* SEARCH 2 3")
	search("SEARCH (SEEN) (FROM bob)", "* SEARCH 1")
	search("SEARCH NEW", "* SEARCH")
	search("SEARCH OLD", "* SEARCH 1 2 3")
	search("SEARCH RETURN (MIN MAX COUNT) UNSEEN", "* ESEARCH (TAG \"q\") MIN 2 MAX 3 COUNT 2")
	search("UID SEARCH RETURN () ALL", "* ESEARCH (TAG \"q\") UID ALL 1:3")

	// SEARCHRES: "$" is the saved result.
	// SAVE alone answers with no ESEARCH (RFC 5182 section 2.1).
	c.C("r1 SEARCH RETURN (SAVE) FLAGGED")
	if lines := c.OK("r1"); len(lines) != 0 {
		t.Errorf("SEARCH RETURN (SAVE): %q", lines)
	}
	c.C("r2 FETCH $ UID")
	has(t, c.OK("r2"), "* 3 FETCH (UID 3)")
	c.C("r1b UID SEARCH RETURN (save) KEYWORD NoSuchKeyword")
	if lines := c.OK("r1b"); len(lines) != 0 {
		t.Errorf("UID SEARCH RETURN (save) of nothing: %q", lines)
	}
	// With MIN or MAX alone, "$" is what they return.
	search("SEARCH RETURN (SAVE MIN) ALL", "* ESEARCH (TAG \"q\") MIN 1")
	search("UID SEARCH $", "* SEARCH 1")
	search("UID SEARCH RETURN (MAX SAVE MIN) ALL", "* ESEARCH (TAG \"q\") UID MIN 1 MAX 3")
	search("UID SEARCH $", "* SEARCH 1 3")
	search("SEARCH RETURN (SAVE MAX COUNT) ALL", "* ESEARCH (TAG \"q\") MAX 3 COUNT 3")
	search("UID SEARCH $", "* SEARCH 1 2 3")
	c.C("r1c SEARCH RETURN (SAVE) FLAGGED")
	c.OK("r1c")

	// \Recent belongs to the session that saw the message arrive.
	f.addMessage("m9", 0, newInboxMessage, upstream.Inbox)
	c.C("n1 NOOP")
	has(t, c.OK("n1"), "* 4 EXISTS", "* 1 RECENT")
	search("SEARCH RECENT", "* SEARCH 4")
	search("SEARCH NEW", "* SEARCH 4")
	search("SEARCH OLD", "* SEARCH 1 2 3")
	search("SEARCH NOT RECENT UNSEEN", "* SEARCH 2 3")
	c.C("r2b SEARCH $ UNSEEN")
	has(t, c.OK("r2b"), "* SEARCH 3")
	c.C("r3 SEARCH KEYWORD $Work")
	has(t, c.OK("r3"), "* SEARCH")
	// go-imap answers some parse errors (sequence sets) with NO [SERVERBUG].
	c.C("r4 SEARCH FOO")
	c.notOK("r4")
	c.C("r5 SEARCH CHARSET KOI8-R ALL")
	c.NO("r5")
	c.checkCode(t, "BADCHARSET")
}

func TestCopyMoveExpunge(t *testing.T) {
	f := newFixture(t)
	c := f.login()
	c.C("s SELECT INBOX")
	c.OK("s")
	inbox, archive, work := mustMailbox(t, f, "INBOX"), mustMailbox(t, f, "Archive"), mustMailbox(t, f, "Work")

	c.C("a1 COPY 1:2 Archive")
	c.OK("a1")
	if want := "a1 OK [COPYUID " + itoa(int(archive.UIDValidity)) + " 1:2 1:2] COPY completed"; c.lastTagged != want {
		t.Errorf("got  %q\nwant %q", c.lastTagged, want)
	}
	c.C("a2 COPY 1 Nope")
	c.NO("a2")
	c.checkCode(t, "TRYCREATE")
	c.C(`a3 COPY 1 "All Mail"`)
	c.NO("a3")
	c.C("a5 UID MOVE 3 Work")
	lines := c.OK("a5")
	has(t, lines, "* OK [COPYUID "+itoa(int(work.UIDValidity))+" 3 1] COPY completed", "* 3 EXPUNGE")

	c.C(`a6 STORE 1 +FLAGS.SILENT (\Deleted)`)
	c.OK("a6")
	c.C("a7 UID EXPUNGE 2")
	if lines := c.OK("a7"); len(lines) != 0 {
		t.Errorf("UID EXPUNGE of an undeleted message: %q", lines)
	}
	c.C("a8 EXPUNGE")
	has(t, c.OK("a8"), "* 1 EXPUNGE")
	c.C("a9 FETCH 1:* UID")
	has(t, c.OK("a9"), "* 1 FETCH (UID 2)")

	st := mustMailbox(t, f, "INBOX")
	if st.Messages != 1 {
		t.Errorf("INBOX holds %d messages in the store", st.Messages)
	}
	ops, err := f.st.OutboxLen()
	if err != nil || ops == 0 {
		t.Errorf("outbox: %d ops, %v", ops, err)
	}
	_ = inbox
}

// TestCopyMoveSameMailbox: a message is in a mailbox once, so COPY or
// MOVE onto its own mailbox gives it a new UID there (RFC 4315's COPYUID
// says which) and the old one goes, as an EXPUNGE.
func TestCopyMoveSameMailbox(t *testing.T) {
	f := newFixture(t)
	c := f.login()
	other := f.login()
	c.C("s SELECT INBOX")
	c.OK("s")
	other.C("s EXAMINE INBOX")
	other.OK("s")
	v := itoa(int(mustMailbox(t, f, "INBOX").UIDValidity))

	c.C("a1 UID MOVE 2 INBOX")
	lines := c.OK("a1")
	has(t, lines, "* OK [COPYUID "+v+" 2 4] COPY completed", "* 2 EXPUNGE", "* 3 EXISTS")
	c.C("a2 COPY 1 INBOX")
	lines = c.OK("a2")
	has(t, lines, "* 1 EXPUNGE", "* 3 EXISTS")
	if want := "a2 OK [COPYUID " + v + " 1 5] COPY completed"; c.lastTagged != want {
		t.Errorf("got  %q\nwant %q", c.lastTagged, want)
	}
	c.C("a3 FETCH 1:* (UID FLAGS)")
	has(t, c.OK("a3"), `* 1 FETCH (UID 3 FLAGS (\Flagged))`, `* 2 FETCH (UID 4 FLAGS (\Recent))`, `* 3 FETCH (UID 5 FLAGS (\Seen \Recent))`)

	// The other session learns the same at its next command.
	other.C("b1 NOOP")
	has(t, other.OK("b1"), "* 2 EXPUNGE", "* 1 EXPUNGE", "* 3 EXISTS")
	other.C("b2 UID FETCH 1:* UID")
	has(t, other.OK("b2"), "* 1 FETCH (UID 3)", "* 2 FETCH (UID 4)", "* 3 FETCH (UID 5)")
	other.C("b3 COPY 1 INBOX")
	other.NO("b3")
	if n := mustMailbox(t, f, "INBOX").Messages; n != 3 {
		t.Errorf("INBOX holds %d messages in the store, want 3", n)
	}
}

func TestAppend(t *testing.T) {
	f := newFixture(t)
	c := f.login()
	c.C("s SELECT INBOX")
	c.OK("s")
	inbox := mustMailbox(t, f, "INBOX")
	msg := crlf("From: a@example.com\nSubject: appended\n\nhello\n")

	c.write("a1 APPEND INBOX (\\Seen $Later) \"14-Mar-2024 10:00:00 +0100\" {" + itoa(len(msg)) + "}\r\n")
	c.S("+ Ready for literal data")
	c.write(msg + "\r\n")
	lines := c.OK("a1")
	has(t, lines, "* 4 EXISTS")
	if want := "a1 OK [APPENDUID " + itoa(int(inbox.UIDValidity)) + " 4] APPEND completed"; c.lastTagged != want {
		t.Errorf("got  %q\nwant %q", c.lastTagged, want)
	}
	// LITERAL+: no round trip.
	c.write("a2 APPEND Work {" + itoa(len(msg)) + "+}\r\n" + msg + "\r\n")
	c.OK("a2")
	c.checkCode(t, "APPENDUID")

	c.C("a3 FETCH 4 (FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	has(t, c.OK("a3"), `* 4 FETCH (FLAGS (\Seen $Later \Recent) INTERNALDATE "14-Mar-2024 09:00:00 +0000" BODY[HEADER.FIELDS ("SUBJECT")] `+literal("Subject: appended\r\n\r\n")+")")

	c.write(`a4 APPEND "All Mail" {` + itoa(len(msg)) + "+}\r\n" + msg + "\r\n")
	c.NO("a4")
	c.checkCode(t, "CANNOT")
	c.write("a5 APPEND Nope {" + itoa(len(msg)) + "+}\r\n" + msg + "\r\n")
	c.NO("a5")
	c.checkCode(t, "TRYCREATE")
	c.C("a6 NOOP")
	c.OK("a6")
}

func TestExamineIsReadOnly(t *testing.T) {
	f := newFixture(t)
	c := f.login()
	c.C("s EXAMINE INBOX")
	c.OK("s")

	c.C(`a1 STORE 1 +FLAGS (\Deleted)`)
	c.NO("a1")
	c.C("a2 EXPUNGE")
	c.NO("a2")
	c.C("a3 MOVE 1 Archive")
	c.NO("a3")
	msg := crlf("Subject: x\n\ny\n")
	c.write("a4 APPEND INBOX {" + itoa(len(msg)) + "+}\r\n" + msg + "\r\n")
	c.NO("a4")
	// Reading the body of an EXAMINEd message does not set \Seen.
	c.C("a5 FETCH 2 BODY[TEXT]")
	lines := c.OK("a5")
	if len(lines) != 1 || strings.Contains(lines[0], "FLAGS") {
		t.Errorf("FETCH in EXAMINE: %q", lines)
	}
	c.C("a6 COPY 2 Archive")
	c.OK("a6")
	c.C("a7 CLOSE")
	c.OK("a7")
	c.C("a8 STATUS INBOX (MESSAGES UNSEEN)")
	has(t, c.OK("a8"), "* STATUS INBOX (MESSAGES 3 UNSEEN 2)")
}

func TestMalformedCommands(t *testing.T) {
	f := newFixture(t)
	c := f.login()
	for _, cmd := range []string{
		"b1 FROBNICATE",
		"b2 FETCH",
		"b3 SELECT",
		"b5 FETCH 1 FLAGS", // nothing selected
		"b6 LIST",
		`b7 STATUS INBOX (BOGUS)`,
	} {
		c.C(cmd)
		c.BAD(strings.Fields(cmd)[0])
	}
	c.C("b9 UID FETCH x FLAGS")
	c.notOK("b9")
	c.C("s SELECT INBOX")
	c.OK("s")
	for _, cmd := range []string{
		"c1 FETCH 1 (BODY[",
		"c2 FETCH 1 (FLAGS",
		"c4 SEARCH OR SEEN",
		"c5 STORE 1 +FLAGS (\\Seen",
	} {
		c.C(cmd)
		c.BAD(strings.Fields(cmd)[0])
	}
	// go-imap answers some parse errors (dates, sequence sets) with NO [SERVERBUG].
	c.C("c7 SEARCH SINCE 32-Foo-2024")
	c.notOK("c7")
	c.C("c8 FETCH 1:x FLAGS")
	c.notOK("c8")
	c.C("d1 NOOP")
	c.OK("d1")
	c.C("d2 FETCH 1 UID")
	has(t, c.OK("d2"), "* 1 FETCH (UID 1)")
}

// TestAppendToSentKeepsOneCopy: a client saving a message it has sent
// over SMTP into Sent gets the UID of the copy the upstream already put
// there, not a second copy.
func TestAppendToSentKeepsOneCopy(t *testing.T) {
	f := newFixture(t)
	sent := crlf(`From: Alice <alice@example.org>
To: bob@example.com
Subject: Sent once
Message-ID: <sent-1@example.org>

Hello Bob.
`)
	f.addMessage("s1", upstream.FlagSeen, sent, upstream.Sent)
	c := f.login()
	box := mustMailbox(t, f, "Sent")
	c.C("a1 APPEND Sent (\\Seen) " + literalPlus(sent))
	c.OK("a1")
	if want := "a1 OK [APPENDUID " + itoa(int(box.UIDValidity)) + " 1] APPEND completed"; c.lastTagged != want {
		t.Errorf("got  %q\nwant %q", c.lastTagged, want)
	}
	// Another message, and the same one into another mailbox, are stored.
	other := strings.Replace(sent, "sent-1@", "sent-2@", 1)
	c.C("a2 APPEND Sent " + literalPlus(other))
	c.OK("a2")
	c.C("a3 APPEND Drafts " + literalPlus(sent))
	c.OK("a3")
	if n := mustMailbox(t, f, "Sent").Messages; n != 2 {
		t.Errorf("Sent holds %d messages, want 2", n)
	}
	if n := mustMailbox(t, f, "Drafts").Messages; n != 1 {
		t.Errorf("Drafts holds %d messages, want 1", n)
	}
}

// COPY and MOVE racing another session's EXPUNGE: whatever the order,
// each command gets exactly one well-formed tagged reply. The store could
// find the messages gone after go-imap had polled, and an empty COPYUID
// cannot be encoded: the campaign saw "a22 OK [COPYUID 17 a22 NO
// [SERVERBUG]" and MOVEs that got no tagged reply at all.
func TestCopyMoveRacingExpunge(t *testing.T) {
	f := newFixture(t)
	pem, err := os.ReadFile(f.certFile)
	if err != nil {
		t.Fatal(err)
	}
	dial := func() *rawimap.Conn {
		c, err := rawimap.DialTLS(f.tlsAddr, pem)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.Timeout = 5 * time.Second
		for _, cmd := range []string{"LOGIN " + testUser + " " + testPass, "SELECT INBOX"} {
			if _, err := c.OK("%s", cmd); err != nil {
				t.Fatal(err)
			}
		}
		return c
	}
	a, b := dial(), dial()
	const rounds = 150
	done := make(chan struct{})
	go func() {
		defer close(done)
		msg := "Subject: racing\r\n\r\nbody\r\n"
		for range rounds {
			for _, cmd := range []string{
				fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(msg), msg),
				`STORE 1:* +FLAGS.SILENT (\Deleted)`,
				"EXPUNGE",
			} {
				if _, err := b.OK("%s", cmd); err != nil {
					t.Errorf("%s: %v", cmd, err)
					return
				}
			}
		}
	}()
	// BAD is right for "1:*" while the mailbox is empty.
	reply := regexp.MustCompile(`^(OK|NO \[EXPUNGEISSUED\]|BAD( \[CLIENTBUG\])?) [^\[\]]*$|^OK \[COPYUID \d+ [\d:,]+ [\d:,]+\] [A-Za-z ]+$`)
	cmds := []string{"COPY 1:* Work", "UID COPY 1:* Work", "MOVE 1:* Work", "UID MOVE 1:* Work"}
	for i := 0; ; i++ {
		select {
		case <-done:
			return
		default:
		}
		_, tagged, err := a.Cmd("%s", cmds[i%len(cmds)])
		if err != nil {
			t.Fatalf("%s: no tagged reply: %v", cmds[i%len(cmds)], err)
		}
		if !reply.MatchString(tagged) {
			t.Fatalf("%s: %q", cmds[i%len(cmds)], tagged)
		}
	}
}

// An APPEND whose literal the connection cut short stores nothing: the
// command never completed, and a client that retries would otherwise
// find a truncated copy beside the whole one.
func TestAppendCutOffStoresNothing(t *testing.T) {
	f := newFixture(t)
	watcher := f.login()
	watcher.C("w1 CREATE Cut")
	watcher.OK("w1")
	for i, sync := range []bool{false, true} {
		c := f.dialTLS()
		c.C("a1 LOGIN " + testUser + " " + testPass)
		c.OK("a1")
		if sync {
			c.C("a2 APPEND Cut {1000}")
			if l := c.line(); !strings.HasPrefix(l, "+") {
				t.Fatalf("no continuation: %q", l)
			}
			c.write("Subject: cut off\r\n\r\nonly part")
		} else {
			c.write("a2 APPEND Cut {1000+}\r\nSubject: cut off\r\n\r\nonly part")
		}
		c.conn.Close()
		// The server sees the end of the connection at once; a stored
		// message would show within milliseconds.
		for deadline := time.Now().Add(500 * time.Millisecond); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			tag := fmt.Sprintf("s%d", i)
			watcher.C(tag + " STATUS Cut (MESSAGES)")
			if l := watcher.OK(tag); !slices.Contains(l, `* STATUS "Cut" (MESSAGES 0)`) {
				t.Fatalf("after an APPEND cut off (synchronizing %v): %q", sync, l)
			}
		}
	}
}

// Nothing may follow APPEND's message: go-imap stored the message and
// then wrote no reply at all, and a second message (MULTIAPPEND, which is
// not offered) ended the connection without a word (found by
// TestDovecotDifferential). Each gets BAD, stores nothing, and the
// connection stays in step.
func TestAppendWithTrailingArguments(t *testing.T) {
	f := newFixture(t)
	c := f.login()
	c.C("a CREATE Tail")
	c.OK("a")
	const msg = "Subject: t\r\n\r\nbody\r\n"
	lit := literalPlus(msg)
	for i, cmd := range []string{
		"APPEND Tail " + lit + " extra",
		"APPEND Tail " + lit + " " + lit,
		"APPEND Tail (\\Seen) " + lit + " (\\Seen) {3+}\r\nabc",
	} {
		tag := fmt.Sprintf("t%d", i)
		c.write(tag + " " + cmd + "\r\n")
		c.BAD(tag)
		if !strings.Contains(c.lastTagged, "[CLIENTBUG]") {
			t.Errorf("%q: %q", cmd, c.lastTagged)
		}
	}
	// A synchronizing second literal: the client waits for "+", which
	// must not come.
	c.C(fmt.Sprintf("s APPEND Tail {%d}", len(msg)))
	if l := c.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("no continuation: %q", l)
	}
	c.write(msg + " {5}\r\n")
	c.BAD("s")
	// An APPEND refused for another reason is answered too.
	c.write("n APPEND Nosuch " + lit + " extra\r\n")
	c.NO("n")
	c.C("z STATUS Tail (MESSAGES)")
	has(t, c.OK("z"), `* STATUS "Tail" (MESSAGES 0)`)
	c.write("o APPEND Tail " + lit + "\r\n")
	c.OK("o")
}
