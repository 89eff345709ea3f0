package imapsrv

import (
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/rawimap"
)

// The connection states a malformed command is sent in.
type connState uint8

const (
	inNotAuth  connState = 1 << iota // greeted, not logged in
	inAuth                           // logged in, nothing selected
	inSelected                       // INBOX selected read-write
	inExamined                       // INBOX selected read-only (EXAMINE)

	loggedIn  = inAuth | inSelected | inExamined
	inMailbox = inSelected | inExamined
	anyState  = inNotAuth | loggedIn
)

func (s connState) String() string {
	switch s {
	case inNotAuth:
		return "notauth"
	case inAuth:
		return "auth"
	case inSelected:
		return "select"
	case inExamined:
		return "examine"
	}
	return "?"
}

// What a connection is good for after a malformed command, best first.
type afterward uint8

const (
	// usable: a NOOP gets OK, with nothing but untagged lines before it.
	usable afterward = iota
	// closed: the server hangs up (go-imap's answer to a line it cannot
	// find a command in).
	closed
	// desynced: the server took the rest of the command for further
	// commands and answered them with tags of their own.
	desynced
)

// malformedCase is one command and the answer the server must give it.
type malformedCase struct {
	name   string
	states connState
	// cmd follows the tag; "\r\n" in it continues with a literal's
	// contents. With raw set it is sent as the whole line, untagged.
	cmd string
	raw bool
	// then, if set, is a line sent right after cmd: what a server that
	// waits for more of the command gets next from a real client.
	then string
	// want matches the tagged answer after the tag.
	want string
	// goimap names the go-imap v2.0.0-beta.8 function that produces the
	// answer, when it is not the right one and nothing of ours runs
	// before it: the case pins what happens today.
	goimap string
	// right, for a goimap case, is the answer it should get; the case
	// passes with it too, so that a fix does not have to wait for it.
	right string
	after afterward
}

const (
	bad       = `^BAD `
	badClient = `^BAD \[CLIENTBUG\] `
	// syntaxError is the front's answer where go-imap's parser fails
	// with a plain error and go-imap would say NO [SERVERBUG].
	syntaxError   = `^BAD \[CLIENTBUG\] Syntax error`
	badTooBig     = `^BAD \[TOOBIG\] `
	noCharsetList = `^NO \[BADCHARSET \(US-ASCII UTF-8\)\] `
	noCannot      = `^NO \[CANNOT\] `
	noTry         = `^NO \[TRYCREATE\] `
	noNone        = `^NO \[NONEXISTENT\] `
	noExists      = `^NO \[ALREADYEXISTS\] `
	noCharset     = `^NO \[BADCHARSET\] `
	okAnswer      = `^OK `
	notInState    = `^BAD \[CLIENTBUG\] This command is only valid in the `
)

// go-imap functions that answer malformed input wrongly (see goimap).
//
// Many more answer a syntax error with NO [SERVERBUG]: imapwire's
// ExpectNumSet, ExpectMailbox, readSearchKeyWithAtom, ExpectDate,
// DecodeDateTime, Quoted and DecodeSASL return plain errors, which go-imap
// takes for its own faults. The front corrects those (outWatch.fixTagged),
// lists the charsets in BADCHARSET, and refuses command lines past
// go-imap's 50 KiB before go-imap loses track of them; those cases now
// want the right answer.
const (
	// The TOOBIG from CheckBufferedLiteralFunc is dropped; the decoder
	// then reads whatever follows as an atom, without a "+".
	gLiteral = "imapwire.Decoder.Literal"
	// A failed literal prefix falls back to reading an atom.
	gLiteralPrefix = "imapwire.Decoder.ExpectAString"
	// ENABLE needs at least one capability (RFC 5161 grammar).
	gEnable = "imapserver.Conn.handleEnable"
	// An over-limit non-synchronizing literal is answered TOOBIG but not
	// read, so its contents are taken for commands; the front (front.go)
	// drops them, and the case requires that it does.
	gAppendLimit = "imapserver.Conn.handleAppend"
)

// malformedAppendLimit keeps the TOOBIG case small.
const malformedAppendLimit = 4096

var malformedCases = []malformedCase{
	// Sequence sets.
	{name: "fetch set x", states: anyState, cmd: "FETCH x FLAGS", want: syntaxError},
	{name: "fetch set 0", states: anyState, cmd: "FETCH 0 FLAGS", want: syntaxError},
	{name: "fetch set *:x", states: inMailbox, cmd: "FETCH *:x FLAGS", want: syntaxError},
	{name: "fetch set 1:", states: inMailbox, cmd: "FETCH 1: FLAGS", want: syntaxError},
	{name: "fetch set 2^32", states: inMailbox, cmd: "FETCH 4294967296 FLAGS", want: syntaxError},
	{name: "fetch set 1,,2", states: inMailbox, cmd: "FETCH 1,,2 FLAGS", want: syntaxError},
	// Well-formed but past the last message: BAD, as TestResolveSets pins.
	{name: "fetch set 2^32-1", states: inMailbox, cmd: "FETCH 4294967295 FLAGS", want: badClient},
	{name: "uid fetch set 0", states: inMailbox, cmd: "UID FETCH 0 FLAGS", want: syntaxError},
	{name: "uid fetch set 2^32", states: inMailbox, cmd: "UID FETCH 4294967296 FLAGS", want: syntaxError},
	{name: "uid fetch set *:x", states: inMailbox, cmd: "UID FETCH *:x FLAGS", want: syntaxError},
	{name: "uid store set x", states: inMailbox, cmd: `UID STORE x FLAGS (\Seen)`, want: syntaxError},
	{name: "store set x", states: inMailbox, cmd: `STORE x +FLAGS (\Seen)`, want: syntaxError},
	{name: "uid copy set x", states: inMailbox, cmd: "UID COPY x Work", want: syntaxError},
	{name: "uid move set 1:", states: inMailbox, cmd: "UID MOVE 1: Work", want: syntaxError},
	{name: "uid expunge set x", states: inMailbox, cmd: "UID EXPUNGE x", want: syntaxError},
	{name: "search set 0", states: inMailbox, cmd: "SEARCH 0", want: syntaxError},
	{name: "search uid x", states: inMailbox, cmd: "SEARCH UID x", want: syntaxError},
	{name: "uid search uid 0", states: inMailbox, cmd: "UID SEARCH UID 0", want: syntaxError},
	{name: "fetch without set", states: inMailbox, cmd: "FETCH FLAGS", want: syntaxError},
	{name: "fetch $ unsaved", states: inMailbox, cmd: "FETCH $ FLAGS", want: okAnswer},

	// FETCH items.
	{name: "fetch item unknown", states: inMailbox, cmd: "FETCH 1 FOO", want: badClient},
	{name: "fetch item unknown in list", states: inMailbox, cmd: "FETCH 1 (FLAGS FOO)", want: badClient},
	{name: "fetch macro in list", states: inMailbox, cmd: "FETCH 1 (ALL)", want: badClient},
	{name: "fetch section unknown", states: inMailbox, cmd: "FETCH 1 BODY[FOO]", want: badClient},
	{name: "fetch partial no size", states: inMailbox, cmd: "FETCH 1 BODY[]<5>", want: badClient},
	{name: "fetch list unclosed", states: inMailbox, cmd: "FETCH 1 (FLAGS", want: badClient},
	{name: "fetch list overclosed", states: inMailbox, cmd: "FETCH 1 (FLAGS))", want: badClient},
	{name: "fetch trailing junk", states: inMailbox, cmd: "FETCH 1 (FLAGS) extra", want: badClient},
	{name: "fetch modifier unknown", states: inMailbox, cmd: "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1)", want: badClient},
	{name: "fetch not selected", states: inAuth, cmd: "FETCH 1 FLAGS", want: notInState},
	{name: "fetch nul", states: inMailbox, cmd: "FETCH 1 (FLAGS)\x00", want: badClient},

	// SEARCH keys, dates and charsets.
	{name: "search key unknown", states: inMailbox, cmd: "SEARCH FOO", want: syntaxError},
	{name: "search key unknown in or", states: inMailbox, cmd: "SEARCH OR SEEN FOO", want: syntaxError},
	{name: "search date day 32", states: inMailbox, cmd: "SEARCH SINCE 32-Jan-2024", want: syntaxError},
	{name: "search date word", states: inMailbox, cmd: "SEARCH SINCE foo", want: syntaxError},
	{name: "search date month", states: inMailbox, cmd: "SEARCH BEFORE 1-Foo-2024", want: syntaxError},
	{name: "search date iso", states: inMailbox, cmd: "SEARCH SENTON 2024-01-01", want: syntaxError},
	{name: "search larger word", states: inMailbox, cmd: "SEARCH LARGER x", want: badClient},
	{name: "search larger overflow", states: inMailbox, cmd: "SEARCH LARGER 99999999999999999999", want: badClient},
	{name: "search header no args", states: inMailbox, cmd: "SEARCH HEADER", want: badClient},
	{name: "search paren unclosed", states: inMailbox, cmd: "SEARCH (ALL", want: badClient},
	{name: "search paren overclosed", states: inMailbox, cmd: "SEARCH ALL)", want: badClient},
	{name: "search quote unclosed", states: inMailbox, cmd: `SEARCH "unterminated`, want: badClient},
	{name: "search return unknown", states: inMailbox, cmd: "SEARCH RETURN (FOO) ALL", want: badClient},
	{name: "search charset koi8-r", states: inMailbox, cmd: "SEARCH CHARSET KOI8-R ALL", want: noCharsetList},
	{name: "search charset non-ascii", states: inMailbox, cmd: `SEARCH CHARSET "ü" ALL`, want: noCharsetList},
	{name: "search charset utf-8", states: inMailbox, cmd: "SEARCH CHARSET UTF-8 ALL", want: okAnswer},
	{name: "search keyword system flag", states: inMailbox, cmd: `SEARCH KEYWORD \Foo`, want: okAnswer},
	{name: "search not selected", states: inAuth, cmd: "SEARCH ALL", want: notInState},

	// Mailbox names.
	{name: "create mutf7 &-", states: inAuth, cmd: "CREATE a&-b", want: okAnswer},
	{name: "create mutf7 &Jjo", states: loggedIn, cmd: "CREATE &Jjo", want: syntaxError},
	{name: "create mutf7 encoded ascii", states: loggedIn, cmd: "CREATE &AGE-", want: syntaxError},
	{name: "create mutf7 trailing &", states: loggedIn, cmd: "CREATE foo&", want: syntaxError},
	{name: "create nul", states: loggedIn, cmd: "CREATE \"a\x00b\"", want: syntaxError},
	{name: "create ctl", states: loggedIn, cmd: "CREATE \"a\x01b\"", want: syntaxError},
	{name: "create wildcard *", states: loggedIn, cmd: `CREATE "foo*bar"`, want: noCannot},
	{name: "create wildcard %", states: loggedIn, cmd: `CREATE "foo%bar"`, want: noCannot},
	{name: "create wildcard in parent", states: inAuth, cmd: `CREATE "a*/b"`, want: noCannot},
	{name: "create empty", states: loggedIn, cmd: `CREATE ""`, want: noCannot},
	{name: "create leading delimiter", states: loggedIn, cmd: "CREATE /foo", want: noCannot},
	{name: "create double delimiter", states: loggedIn, cmd: "CREATE a//b", want: noCannot},
	{name: "create inbox", states: loggedIn, cmd: "CREATE inbox", want: noExists},
	{name: "create existing", states: loggedIn, cmd: "CREATE Work", want: noExists},
	{name: "create existing trailing delimiter", states: loggedIn, cmd: "CREATE Work/", want: noExists},
	{name: "create list", states: loggedIn, cmd: `CREATE ("foo")`, want: badClient},
	{name: "create no name", states: loggedIn, cmd: "CREATE", want: badClient},
	{name: "create special-use", states: inAuth, cmd: `CREATE Foo (USE (\Drafts))`, want: `^NO \[USEATTR\] `},
	{name: "create not authenticated", states: inNotAuth, cmd: "CREATE Foo", want: notInState},
	{name: "delete inbox", states: loggedIn, cmd: "DELETE INBOX", want: noCannot},
	{name: "delete nonexistent", states: loggedIn, cmd: "DELETE Nope", want: noNone},
	{name: "delete system", states: inAuth, cmd: "DELETE Sent", want: noCannot},
	{name: "rename inbox to existing", states: loggedIn, cmd: "RENAME INBOX Work", want: noCannot},
	{name: "rename inbox to itself", states: loggedIn, cmd: "RENAME INBOX inbox", want: noCannot},
	{name: "rename inbox to new", states: loggedIn, cmd: "RENAME INBOX Old-Inbox", want: noCannot},
	{name: "rename to inbox", states: loggedIn, cmd: "RENAME Work INBOX", want: noExists},
	{name: "rename nonexistent", states: loggedIn, cmd: "RENAME Nope Other", want: noNone},
	{name: "rename system", states: inAuth, cmd: "RENAME Sent Other", want: noCannot},
	{name: "rename to wildcard", states: loggedIn, cmd: `RENAME Work "x*"`, want: noCannot},
	{name: "rename to empty", states: loggedIn, cmd: `RENAME Work ""`, want: noCannot},
	{name: "rename to bad mutf7", states: loggedIn, cmd: "RENAME Work &Jjo", want: syntaxError},
	{name: "rename one name", states: loggedIn, cmd: "RENAME Work", want: badClient},
	{name: "select nonexistent", states: loggedIn, cmd: "SELECT Nope", want: noNone},
	{name: "examine nonexistent", states: loggedIn, cmd: "EXAMINE Nope", want: noNone},
	{name: "select bad mutf7", states: loggedIn, cmd: "SELECT &Jjo", want: syntaxError},
	{name: "select parameters", states: inAuth, cmd: "SELECT INBOX (CONDSTORE)", want: badClient},
	{name: "subscribe nonexistent", states: inAuth, cmd: "SUBSCRIBE Nope", want: noNone},
	{name: "status nonexistent", states: loggedIn, cmd: "STATUS Nope (MESSAGES)", want: noNone},
	{name: "status unknown item", states: loggedIn, cmd: "STATUS INBOX (FOO)", want: bad},
	{name: "status no items", states: inAuth, cmd: "STATUS INBOX", want: badClient},
	{name: "status empty item list", states: inAuth, cmd: "STATUS INBOX ()", want: badClient},
	{name: "status empty name", states: inAuth, cmd: `STATUS "" (MESSAGES)`, want: noCannot},

	// COPY and MOVE targets.
	{name: "copy nonexistent", states: inMailbox, cmd: "COPY 1 Nope", want: noTry},
	{name: "uid copy nonexistent", states: inMailbox, cmd: "UID COPY 1:* Nope", want: noTry},
	{name: "move nonexistent", states: inSelected, cmd: "MOVE 1 Nope", want: noTry},
	{name: "uid move nonexistent", states: inSelected, cmd: "UID MOVE 1 Nope", want: noTry},
	{name: "move read-only", states: inExamined, cmd: "MOVE 1 Work", want: noCannot},
	{name: "copy onto read-only self", states: inExamined, cmd: "COPY 1 INBOX", want: noCannot},
	{name: "copy empty name", states: inMailbox, cmd: `COPY 1 ""`, want: noCannot},
	{name: "copy bad mutf7", states: inMailbox, cmd: "COPY 1 &Jjo", want: syntaxError},
	{name: "copy not selected", states: inAuth, cmd: "COPY 1 Work", want: notInState},

	// STORE flags.
	{name: "store recent", states: inSelected, cmd: `STORE 1 +FLAGS (\Recent)`, want: okAnswer},
	{name: "store unknown system flag", states: inSelected, cmd: `STORE 1 +FLAGS (\Foo)`, want: badClient},
	{name: "store unknown system flag replace", states: inSelected, cmd: `STORE 1 FLAGS (\Seen \Foo)`, want: badClient},
	{name: "store unknown system flag silent", states: inSelected, cmd: `UID STORE 1 -FLAGS.SILENT (\Foo)`, want: badClient},
	{name: "store wildcard flag", states: inSelected, cmd: `STORE 1 +FLAGS (\*)`, want: badClient},
	{name: "store unknown system flag read-only", states: inExamined, cmd: `STORE 1 +FLAGS (\Foo)`, want: badClient},
	{name: "store read-only", states: inExamined, cmd: `STORE 1 +FLAGS (\Seen)`, want: noCannot},
	{name: "store list unclosed", states: inMailbox, cmd: `STORE 1 +FLAGS (\Seen`, want: badClient},
	{name: "store bad item", states: inMailbox, cmd: `STORE 1 FOO (\Seen)`, want: badClient},
	{name: "store flag with wildcard", states: inMailbox, cmd: `STORE 1 +FLAGS (a*b)`, want: badClient},
	{name: "expunge read-only", states: inExamined, cmd: "EXPUNGE", want: noCannot},
	{name: "uid expunge read-only", states: inExamined, cmd: "UID EXPUNGE 1", want: noCannot},

	// APPEND.
	{name: "append recent", states: inAuth, cmd: "APPEND INBOX (\\Recent) {5+}\r\nhello", want: okAnswer},
	{name: "append unknown system flag", states: loggedIn, cmd: "APPEND INBOX (\\Foo) {5+}\r\nhello", want: badClient},
	{name: "append wildcard flag", states: inAuth, cmd: "APPEND INBOX (\\*) {5+}\r\nhello", want: badClient},
	{name: "append nonexistent", states: loggedIn, cmd: "APPEND Nope {5+}\r\nhello", want: noTry},
	{name: "append bad mutf7", states: inAuth, cmd: "APPEND &Jjo {5+}\r\nhello", want: syntaxError},
	{name: "append read-only", states: inExamined, cmd: "APPEND INBOX {5+}\r\nhello", want: noCannot},
	{name: "append empty", states: inAuth, cmd: "APPEND INBOX {0+}\r\n", want: noCannot},
	{name: "append date day 32", states: inAuth, cmd: "APPEND INBOX \"32-Jan-2024 00:00:00 +0000\" {5+}\r\nhello", want: syntaxError},
	{name: "append date word", states: inAuth, cmd: "APPEND INBOX \"bad\" {5+}\r\nhello", want: syntaxError},
	{name: "append flags after date", states: inAuth, cmd: "APPEND INBOX \"10-Mar-2024 12:00:00 +0000\" (\\Seen) {5+}\r\nhello", want: badClient, after: closed, goimap: "imapserver.Conn.handleAppend (the literal is left unread)"},
	{name: "append data extension", states: inAuth, cmd: "APPEND INBOX FOO {5+}\r\nhello", want: badClient, after: closed, goimap: "imapserver.Conn.handleAppend (the literal is left unread)"},
	{name: "append date zone", states: inAuth, cmd: "APPEND INBOX \"01-Jan-2024 00:00:00 +9999\" {5+}\r\nhello", want: syntaxError},
	{name: "append negative literal", states: inAuth, cmd: "APPEND INBOX {-1}", want: badClient},
	{name: "append huge literal", states: inAuth, cmd: "APPEND INBOX {99999999999}", want: `^NO \[TOOBIG\] `},
	{name: "append huge literal+", states: inAuth, cmd: "APPEND INBOX {99999999999+}", want: `^NO \[TOOBIG\] `, goimap: gAppendLimit, after: closed},
	{name: "append over limit literal+", states: inAuth,
		cmd:  "APPEND INBOX {4104+}\r\n" + strings.Repeat("X1 NOOP\r\n", 456),
		want: `^NO \[TOOBIG\] `, goimap: gAppendLimit, after: usable},
	{name: "append not authenticated", states: inNotAuth, cmd: "APPEND INBOX {5+}\r\nhello", want: notInState},

	// Literals and strings elsewhere.
	{name: "literal", states: inAuth, cmd: "CREATE {12}\r\nliteral-name", want: okAnswer},
	{name: "literal huge", states: inAuth, cmd: "CREATE {99999999999}", want: okAnswer, goimap: gLiteral, right: `^NO \[TOOBIG\] `, after: usable},
	{name: "literal huge+", states: inAuth, cmd: "CREATE {99999999999+}", then: "huge-literal-leftover-plus", want: okAnswer, goimap: gLiteral, right: `^NO \[TOOBIG\] `, after: closed},
	{name: "literal negative", states: inAuth, cmd: "CREATE {-1}", want: okAnswer, goimap: gLiteralPrefix},
	{name: "literal unclosed", states: loggedIn, cmd: "CREATE {5", want: badClient},
	// A quoted string ends at the line's end; the line after it is the
	// next command.
	{name: "quoted unclosed", states: loggedIn, cmd: `CREATE "foo`, want: `^BAD \[CLIENTBUG\] Unterminated quoted string`},
	{name: "quoted escaped end", states: loggedIn, cmd: `CREATE "foo\"`, want: `^BAD \[CLIENTBUG\] Unterminated quoted string`},

	// Lines.
	{name: "overlong fetch", states: inMailbox, cmd: "FETCH 1 (" + strings.Repeat("FLAGS ", 10000) + ")", want: badTooBig},
	{name: "overlong name", states: loggedIn, cmd: "CREATE " + strings.Repeat("x", 60000), want: badTooBig},
	{name: "trailing junk", states: anyState, cmd: "NOOP extra", want: badClient},
	{name: "nul after command", states: anyState, cmd: "NOOP \x00", want: badClient},
	// Lines that name no command: TestLinesWithoutCommand.
	{name: "unknown command", states: loggedIn, cmd: "FOO", want: bad},
	{name: "unknown command before login", states: inNotAuth, cmd: "FOO", want: bad, after: closed},

	// ENABLE, LIST, AUTHENTICATE.
	{name: "enable unknown", states: inAuth, cmd: "ENABLE FOO", want: okAnswer},
	{name: "enable nothing", states: inAuth, cmd: "ENABLE", want: okAnswer, goimap: gEnable},
	{name: "enable before login", states: inNotAuth, cmd: "ENABLE IMAP4rev2", want: notInState},
	{name: "list select unknown", states: loggedIn, cmd: `LIST (FOO) "" "*"`, want: badClient},
	{name: "list return unknown", states: loggedIn, cmd: `LIST "" "*" RETURN (FOO)`, want: badClient},
	{name: "list recursivematch alone", states: loggedIn, cmd: `LIST (RECURSIVEMATCH) "" "*"`, want: badClient},
	{name: "list status unknown", states: inAuth, cmd: `LIST "" "*" RETURN (STATUS (FOO))`, want: bad},
	{name: "list patterns unclosed", states: inAuth, cmd: `LIST "" ("*"`, want: badClient},
	{name: "list many wildcards", states: inAuth, cmd: `LIST "" "` + strings.Repeat("%*", 2000) + `x"`, want: okAnswer},
	// go-imap's MatchList backtracks: this LIST took a minute of CPU per
	// mailbox like the one created first.
	{name: "create name for backtracking", states: inAuth, cmd: "CREATE Work/" + strings.Repeat("o", 40), want: okAnswer},
	{name: "list backtracking", states: inAuth, cmd: `LIST "" "` + strings.Repeat("*o", 12) + `x"`, want: okAnswer},
	{name: "list bad mutf7", states: loggedIn, cmd: `LIST "" &Jjo`, want: syntaxError},
	{name: "list empty patterns", states: inAuth, cmd: `LIST () "" ()`, want: badClient},
	{name: "authenticate bad base64", states: inNotAuth, cmd: "AUTHENTICATE PLAIN !!!", want: syntaxError},
	{name: "authenticate bad plain", states: inNotAuth, cmd: "AUTHENTICATE PLAIN =", want: syntaxError},
	{name: "authenticate unknown mechanism", states: inNotAuth, cmd: "AUTHENTICATE FOO", want: `^NO `},
	{name: "login missing password", states: inNotAuth, cmd: "LOGIN a", want: badClient},
}

// Every malformed or impossible command gets a clear answer, and the
// connection is still in step afterwards. go-imap answers some of them
// wrongly before our code runs; those cases pin go-imap's answer, name
// the function responsible and also accept the right answer and a
// better state afterwards, which the front may already give.
func TestMalformedInput(t *testing.T) {
	f := newFixtureWith(t, func(o *Options) { o.AppendLimit = malformedAppendLimit })
	pem, err := os.ReadFile(f.certFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range malformedCases {
		for _, st := range []connState{inNotAuth, inAuth, inSelected, inExamined} {
			if tc.states&st == 0 {
				continue
			}
			t.Run(st.String()+"/"+tc.name, func(t *testing.T) {
				c := dialState(t, f, pem, st)
				defer c.Close()
				runMalformed(t, c, tc)
			})
		}
	}
}

func dialState(t *testing.T, f *fixture, pem []byte, st connState) *rawimap.Conn {
	t.Helper()
	c, err := rawimap.DialTLS(f.tlsAddr, pem)
	if err != nil {
		t.Fatal(err)
	}
	var setup []string
	if st != inNotAuth {
		setup = append(setup, "LOGIN "+testUser+" "+testPass)
	}
	switch st {
	case inSelected:
		setup = append(setup, "SELECT INBOX")
	case inExamined:
		setup = append(setup, "EXAMINE INBOX")
	}
	for _, cmd := range setup {
		if _, err := c.OK("%s", cmd); err != nil {
			c.Close()
			t.Fatal(err)
		}
	}
	return c
}

func runMalformed(t *testing.T, c *rawimap.Conn, tc malformedCase) {
	t.Helper()
	var untagged []string
	var answer string
	var err error
	switch {
	case tc.raw:
		if err := c.Send(tc.cmd); err != nil {
			t.Fatal(err)
		}
	case tc.then != "":
		// The server waits for more of the command before it answers:
		// send that before reading.
		if err := c.Send("T0 " + tc.cmd + "\r\n" + tc.then); err != nil {
			t.Fatal(err)
		}
		untagged, answer, err = readAnswer(c, "T0")
	default:
		untagged, answer, err = c.Cmd("%s", tc.cmd)
	}
	if tc.want != "" {
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		checkAnswer(t, tc, answer)
		if stray := strayLines(untagged); len(stray) > 0 {
			t.Errorf("desynchronised: %q before the answer", stray)
		}
	}
	got := outcome(c)
	t.Logf("afterwards: %s", got)
	switch {
	case got == tc.after:
	case tc.goimap != "" && got < tc.after:
		// Better than go-imap alone (the front resynchronises).
	default:
		t.Errorf("afterwards %s, want %s", got, tc.after)
	}
}

func (a afterward) String() string {
	return [...]string{"usable", "closed", "desynchronised"}[a]
}

// outcome sends a NOOP and tells what became of the connection.
func outcome(c *rawimap.Conn) afterward {
	c.Send("TZ NOOP") // fails if the server has gone
	untagged, done, err := readAnswer(c, "TZ")
	switch {
	case len(strayLines(untagged)) > 0:
		return desynced
	case err != nil:
		return closed
	case strings.HasPrefix(done, "OK"):
		return usable
	}
	return desynced
}

// readAnswer reads the untagged lines and the answer to the command
// tagged tag, already sent.
func readAnswer(c *rawimap.Conn, tag string) (untagged []string, answer string, err error) {
	for {
		line, err := c.ReadLine()
		if err != nil {
			return untagged, "", err
		}
		if rest, ok := strings.CutPrefix(line, tag+" "); ok {
			return untagged, rest, nil
		}
		untagged = append(untagged, line)
	}
}

func checkAnswer(t *testing.T, tc malformedCase, answer string) {
	t.Helper()
	t.Logf("answer: %s", answer)
	right := tc.right
	if tc.goimap != "" && right == "" {
		right = bad // most are syntax errors
	}
	ok := regexp.MustCompile(tc.want).MatchString(answer)
	if !ok && right != "" && regexp.MustCompile(right).MatchString(answer) {
		ok = true // go-imap, or the front, got it right
	}
	if !ok {
		t.Errorf("answered %q, want %s", answer, tc.want)
	}
	if strings.Contains(answer, "SERVERBUG") {
		t.Errorf("answered %q", answer)
	}
}

// strayLines returns the lines that are neither untagged responses nor
// continuation requests: answers to commands the client never sent.
func strayLines(lines []string) []string {
	var stray []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "* ") && !strings.HasPrefix(l, "+ ") {
			stray = append(stray, l)
		}
	}
	return stray
}

// A quoted string left open at the end of a line ends there with BAD:
// go-imap's reader went on into the next lines and swallowed the
// commands in them, up to 50 KB of them.
func TestUnterminatedQuoteEndsAtLineEnd(t *testing.T) {
	f := newFixture(t)
	c := f.login()
	c.write("a1 SELECT \"INBOX\r\na2 NOOP\r\n")
	c.BAD("a1")
	c.OK("a2")
	c.C(`a3 SELECT INBOX`)
	c.OK("a3")
	c.write("a4 SEARCH TEXT \"abc\\\"\r\na5 NOOP\r\na6 NOOP\"\r\n")
	c.BAD("a4")
	c.OK("a5")
	c.BAD("a6")
	// A quote inside a literal is no quote; nor is an escaped one.
	c.C(`a7 SEARCH TEXT {1}`)
	if l := c.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("no continuation: %q", l)
	}
	c.write("\"\r\n")
	c.OK("a7")
	c.C(`a8 SEARCH TEXT "a\"b"`)
	c.OK("a8")
}

// A line that names no command gets BAD, tagged if it has a tag, and the
// connection goes on; go-imap alone closed it without a word.
func TestLinesWithoutCommand(t *testing.T) {
	f := newFixture(t)
	c := f.login()
	for _, tc := range []struct{ line, want string }{
		{"a1", "a1 BAD [CLIENTBUG] Command name missing"},
		{"a1 ", "a1 BAD [CLIENTBUG] Command name missing"},
		{"a1 UID", "a1 BAD [CLIENTBUG] Command name missing"},
		{"", "* BAD [CLIENTBUG] A command starts with its tag"},
		{"* NOOP", "* BAD [CLIENTBUG] A command starts with its tag"},
		{"a1\x00 NOOP", "* BAD [CLIENTBUG] A command starts with its tag"},
		{"\x00", "* BAD [CLIENTBUG] A command starts with its tag"},
	} {
		c.write(tc.line + "\r\n")
		if got := c.line(); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.line, got, tc.want)
		}
		c.C("n1 NOOP")
		c.OK("n1")
	}
	// IDLE ends with DONE in any case (RFC 9051 grammar is case-blind).
	c.C("i1 IDLE")
	if l := c.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	c.write("done\r\n")
	c.OK("i1")
}

// Once the front has said BYE, nothing follows it: go-imap, which it
// ended the command under, would still answer the command and say BYE
// again.
func TestNothingAfterBye(t *testing.T) {
	f := newFixture(t)
	c := f.login()
	c.C("i1 IDLE")
	if l := c.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	c.write(strings.Repeat("x", maxLine+10) + "\r\n")
	if l := c.line(); l != "* BYE Command line too long" {
		t.Fatalf("after an overlong line in IDLE: %q", l)
	}
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if rest, err := io.ReadAll(c.r); len(rest) > 0 {
		t.Errorf("after BYE: %q (%v)", rest, err)
	}
}
