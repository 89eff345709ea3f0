package imapsrv

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/mailbridge/mailbridge/upstream"
)

// The front (front.go) answers ID and QUOTA and does STARTTLS; these
// tests drive it over TCP and TLS byte by byte.

const idReply = `* ID ("name" "mailbridge")`

// quotaAuth logs testUser in to an account that knows its quota.
type quotaAuth struct {
	testAuth
	q   upstream.Quota
	err error
}

type quotaTestAccount struct {
	testAccount
	q   upstream.Quota
	err error
}

func (a quotaTestAccount) Quota(context.Context) (upstream.Quota, error) { return a.q, a.err }

func (a quotaAuth) Authenticate(username, password string) (Account, error) {
	acct, err := a.testAuth.Authenticate(username, password)
	if err != nil {
		return nil, err
	}
	return quotaTestAccount{acct.(testAccount), a.q, a.err}, nil
}

func newQuotaFixture(t *testing.T, q upstream.Quota, qerr error) *fixture {
	return newFixtureWith(t, func(o *Options) {
		o.Auth = quotaAuth{testAuth: o.Auth.(testAuth), q: q, err: qerr}
	})
}

func TestIDBeforeLogin(t *testing.T) {
	f := newFixture(t)
	c := f.dialPlain()
	greeting := c.Sx(`^\* OK \[CAPABILITY `)
	for _, want := range []string{" ID", " STARTTLS", " LOGINDISABLED"} {
		if !strings.Contains(greeting, want) {
			t.Errorf("greeting lacks%s: %q", want, greeting)
		}
	}
	if strings.Contains(greeting, "AUTH=") || strings.Contains(greeting, "QUOTA") {
		t.Errorf("greeting before TLS: %q", greeting)
	}
	c.C(`a1 ID ("name" "front test" "version" "1")`)
	c.S(idReply, "a1 OK ID completed")
	c.C("a2 id nil")
	c.S(idReply, "a2 OK ID completed")
	// go-imap ends a connection at an unknown command before login: ID
	// must never reach it.
	c.C("a3 NOOP")
	c.OK("a3")
	// No password is asked for in the clear.
	c.C("a4 LOGIN " + testUser + " {13}")
	c.NO("a4")
	c.checkCode(t, "PRIVACYREQUIRED")
	c.write("a5 LOGIN " + testUser + " {13+}\r\n" + testPass + "\r\na6 NOOP\r\n")
	c.NO("a5")
	c.OK("a6")
}

func TestIDOverTLS(t *testing.T) {
	f := newFixture(t)
	c := f.dialPlain()
	c.Sx(`^\* OK `)
	c.C("a1 STARTTLS")
	c.OK("a1")
	c.startTLS(f.roots)
	c.C(`a2 ID ("name" "x")`)
	c.S(idReply, "a2 OK ID completed")
	c.C("a3 CAPABILITY")
	caps := c.OK("a3")
	if len(caps) != 1 || !strings.Contains(caps[0], " ID") || !strings.Contains(caps[0], "AUTH=PLAIN") ||
		strings.Contains(caps[0], "STARTTLS") || strings.Contains(caps[0], "LOGINDISABLED") {
		t.Fatalf("capabilities after STARTTLS: %q", caps)
	}
	c.C("a4 STARTTLS")
	c.BAD("a4")
	c.C("a5 LOGIN " + testUser + " " + testPass)
	c.OK("a5")
	c.C("a6 ID NIL")
	c.S(idReply, "a6 OK ID completed")

	d := f.dialTLS()
	d.C(`b1 ID ("name" "y")`)
	d.S(idReply, "b1 OK ID completed")
}

// TestIDPipelined sends commands for the front and for go-imap in one
// write: the replies come in order.
func TestIDPipelined(t *testing.T) {
	f := newFixture(t)
	c := f.dialTLS()
	c.write("a1 ID NIL\r\na2 NOOP\r\na3 ID (\"a\" \"b\")\r\na4 LOGIN " + testUser + " " + testPass + "\r\na5 ID NIL\r\na6 SELECT INBOX\r\n")
	c.S(idReply, "a1 OK ID completed", "a2 OK NOOP completed", idReply, "a3 OK ID completed")
	c.Sx(`^a4 OK \[CAPABILITY .* ID.*\] Logged in$`)
	c.S(idReply, "a5 OK ID completed")
	c.OK("a6")
}

func TestIDLiterals(t *testing.T) {
	f := newFixture(t)
	c := f.dialTLS()
	c.C(`a1 ID ("name" {5}`)
	c.Sx(`^\+ `)
	c.C(`front)`)
	c.S(idReply, "a1 OK ID completed")
	c.write("a2 ID ({4+}\r\nname \"x\")\r\na3 NOOP\r\n")
	c.S(idReply, "a2 OK ID completed", "a3 OK NOOP completed")
}

func TestIDMalformed(t *testing.T) {
	f := newFixture(t)
	c := f.dialPlain()
	c.Sx(`^\* OK `)
	long := strings.Repeat(`"f" "v" `, maxIDPairs+1)
	for i, arg := range []string{"", "(", `("name")`, "foo", `("name" "x"`, `(name "x")`, `("x" "y" "z")`, "(" + long + ")", `("` + strings.Repeat("f", maxIDField+1) + `" "v")`} {
		tag := "a" + itoa(i)
		c.C(tag + " ID " + arg)
		c.BAD(tag)
	}
	// A literal over RFC 2971's limit: refused before the client sends
	// it, or dropped when it comes unasked.
	c.C(`b1 ID ("name" {2000}`)
	c.BAD("b1")
	c.write("b2 ID (\"name\" {2000+}\r\n" + strings.Repeat("x", 2000) + ")\r\n")
	c.BAD("b2")
	// Still not logged out, still usable.
	c.C("b3 NOOP")
	c.OK("b3")
}

// TestSTARTTLSInjection: commands sent in the clear together with
// STARTTLS must not be run as if they came over TLS.
func TestSTARTTLSInjection(t *testing.T) {
	f := newFixture(t)
	c := f.dialPlain()
	c.Sx(`^\* OK `)
	c.write("a1 STARTTLS\r\na2 ID NIL\r\na3 LOGIN " + testUser + " " + testPass + "\r\n")
	c.S("a1 OK Begin TLS negotiation now")
	c.startTLS(f.roots)
	c.C("a4 NOOP")
	c.S("a4 OK NOOP completed")
	c.C("a5 CAPABILITY")
	caps := c.OK("a5")
	if len(caps) != 1 || !strings.Contains(caps[0], "AUTH=PLAIN") {
		t.Fatalf("capabilities: %q (logged in by injected plaintext?)", caps)
	}
}

func TestQuota(t *testing.T) {
	q := upstream.Quota{Used: 5*1024 + 1, Limit: 10 << 20}
	f := newQuotaFixture(t, q, nil)
	c := f.dialTLS()
	c.C("a1 GETQUOTAROOT INBOX")
	c.BAD("a1")
	c.C("a2 LOGIN " + testUser + " " + testPass)
	c.Sx(`^a2 OK \[CAPABILITY .* ID QUOTA QUOTA=RES-STORAGE\] Logged in$`)
	c.C("a3 CAPABILITY")
	caps := c.OK("a3")
	if len(caps) != 1 || !strings.HasSuffix(caps[0], " ID QUOTA QUOTA=RES-STORAGE") {
		t.Fatalf("capabilities: %q", caps)
	}
	quota := `* QUOTA "" (STORAGE 6 10240)`
	c.C("a4 GETQUOTAROOT inbox")
	c.S(`* QUOTAROOT "inbox" ""`, quota, "a4 OK GETQUOTAROOT completed")
	c.C(`a5 GETQUOTA ""`)
	c.S(quota, "a5 OK GETQUOTA completed")
	c.C("a6 GETQUOTAROOT Work/2024")
	c.S(`* QUOTAROOT "Work/2024" ""`, quota, "a6 OK GETQUOTAROOT completed")
	c.C("a7 GETQUOTAROOT {4}")
	c.Sx(`^\+ `)
	c.C("Work")
	c.S(`* QUOTAROOT "Work" ""`, quota, "a7 OK GETQUOTAROOT completed")
	c.C("a8 GETQUOTAROOT Nope")
	c.NO("a8")
	c.checkCode(t, "NONEXISTENT")
	c.C("a9 GETQUOTA other")
	c.NO("a9")
	c.checkCode(t, "NONEXISTENT")
	c.C(`b1 SETQUOTA "" (STORAGE 1)`)
	c.NO("b1")
	c.checkCode(t, "NOPERM")
	c.C(`b2 SETQUOTA "" STORAGE`)
	c.BAD("b2")
	c.C("b3 GETQUOTA")
	c.BAD("b3")
	c.C("b4 NOOP")
	c.OK("b4")
}

func TestQuotaUnavailable(t *testing.T) {
	f := newQuotaFixture(t, upstream.Quota{}, errors.New("upstream down"))
	c := f.login()
	c.C(`a1 GETQUOTA ""`)
	c.NO("a1")
	c.checkCode(t, "UNAVAILABLE")
}

func TestNoQuotaWithoutQuotaAccount(t *testing.T) {
	f := newFixture(t)
	c := f.dialTLS()
	c.C("a1 LOGIN " + testUser + " " + testPass)
	line := c.Sx(`^a1 OK \[CAPABILITY .* ID\] Logged in$`)
	if strings.Contains(line, "QUOTA") {
		t.Fatalf("QUOTA offered: %q", line)
	}
	c.C(`a2 GETQUOTA ""`)
	c.BAD("a2")
	c.C("a3 NOOP")
	c.OK("a3")
}

// TestAppendLiteralPlusTooBig: go-imap refuses a LITERAL+ APPEND over
// APPENDLIMIT before reading the message; the front drops the message
// instead of letting go-imap read it as commands.
func TestAppendLiteralPlusTooBig(t *testing.T) {
	f := newFixtureWith(t, func(o *Options) { o.AppendLimit = 100 })
	c := f.login()
	// The message holds a command: it must not run.
	msg := "Subject: x\r\n\r\nz1 LOGOUT\r\n" + strings.Repeat("y", 200) + "\r\n"
	c.write("a1 APPEND INBOX {" + itoa(len(msg)) + "+}\r\n" + msg + "\r\na2 NOOP\r\n")
	c.NO("a1")
	c.checkCode(t, "TOOBIG")
	c.S("a2 OK NOOP completed")
	// And with a second literal after the message (a MULTIAPPEND go-imap
	// does not know), everything the client sends is dropped too.
	c.write("a3 APPEND INBOX {" + itoa(len(msg)) + "+}\r\n" + msg + " {4+}\r\nz2 X\r\na4 NOOP\r\n")
	c.NO("a3")
	c.S("a4 OK NOOP completed")
}

func TestAppendOverQuota(t *testing.T) {
	f := newQuotaFixture(t, upstream.Quota{Used: 1000, Limit: 1100}, nil)
	c := f.login()
	msg := "Subject: x\r\n\r\n" + strings.Repeat("y", 200) + "\r\n"
	c.C("a1 APPEND INBOX (\\Seen) {" + itoa(len(msg)) + "}")
	c.NO("a1") // no "+" first: the client keeps the message
	c.checkCode(t, "OVERQUOTA")
	c.write("a2 APPEND INBOX {" + itoa(len(msg)) + "+}\r\n" + msg + "\r\na3 NOOP\r\n")
	c.NO("a2")
	c.checkCode(t, "OVERQUOTA")
	c.S("a3 OK NOOP completed")
	small := "Subject: s\r\n\r\nok\r\n"
	c.C("a4 APPEND INBOX {" + itoa(len(small)) + "}")
	c.Sx(`^\+ `)
	c.write(small + "\r\n")
	c.OK("a4")
}

// TestFrontPassesContinuations: IDLE's DONE and AUTHENTICATE's response
// reach go-imap as they are, and a refused synchronizing literal leaves
// the connection in step.
func TestFrontPassesContinuations(t *testing.T) {
	f := newFixture(t)
	c := f.dialTLS()
	c.C("a1 AUTHENTICATE PLAIN")
	c.S("+ =")
	c.C(plain(testUser, testPass))
	c.OK("a1")
	c.C("a2 SELECT INBOX")
	c.OK("a2")
	c.C("a3 IDLE")
	c.Sx(`^\+ `)
	c.C("DONE")
	c.OK("a3")
	// A mailbox name over go-imap's 4096-byte limit for literals: go-imap
	// would lose its NO and wait for more; the front answers.
	c.C("a4 SELECT {5000}")
	c.NO("a4")
	c.checkCode(t, "TOOBIG")
	c.C("a5 SELECT {5000+}")
	c.write(strings.Repeat("x", 5000) + "\r\n")
	c.NO("a5")
	c.checkCode(t, "TOOBIG")
	// The same after a first literal, which go-imap already has: it
	// gets an empty line, and answers with a syntax error.
	c.C("a7 RENAME {4}")
	c.Sx(`^\+ `)
	c.C("Work {5000}")
	c.BAD("a7")
	c.C("a6 ID NIL")
	c.S(idReply, "a6 OK ID completed")

	// LOGIN with synchronizing literals, whose reply the front rewrites.
	d := f.dialTLS()
	d.C("b1 LOGIN {" + itoa(len(testUser)) + "}")
	d.Sx(`^\+ `)
	d.C(testUser + " {" + itoa(len(testPass)) + "}")
	d.Sx(`^\+ `)
	d.C(testPass)
	d.Sx(`^b1 OK \[CAPABILITY .* ID\] Logged in$`)
}

func TestLineReaderLimit(t *testing.T) {
	f := newFixture(t)
	c := f.dialTLS()
	c.write("a1 NOOP " + strings.Repeat("x", maxLine) + "\r\n")
	c.S("* BYE Command line too long")
}

func TestLineMark(t *testing.T) {
	for line, want := range map[string]literalMark{
		"a LOGIN u {5}\r\n":                 {ok: true, size: 5},
		"a LOGIN u {5+}\n":                  {ok: true, size: 5, nonSync: true},
		"a APPEND x ~{12}\r\n":              {ok: true, size: 12},
		"a LOGIN \"u {5}\r\n":               {},
		"a LOGIN \"u\\\"\" {5}\r\n":         {ok: true, size: 5},
		"a LOGIN u {}\r\n":                  {},
		"a LOGIN u {5x}\r\n":                {},
		"a NOOP\r\n":                        {},
		"a X {99999999999999999999999}\r\n": {ok: true, size: 1<<63 - 1},
	} {
		if got, _ := lineMark([]byte(line)); got != want {
			t.Errorf("lineMark(%q) = %+v, want %+v", line, got, want)
		}
	}
}

func TestDecodeMailbox(t *testing.T) {
	for in, want := range map[string]string{
		"inbox":        "INBOX",
		"Entw&APw-rfe": "Entwürfe",
		"A&-B":         "A&B",
		"&ZeVnLIqe-":   "日本語",
		"Entwürfe":     "Entwürfe",
	} {
		if got, err := decodeMailbox(in); err != nil || got != want {
			t.Errorf("decodeMailbox(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := decodeMailbox("&Jjo"); err == nil {
		t.Error("unterminated base64 accepted")
	}
}

// TestPythonIDQuota drives ID and QUOTA with Python's imaplib.
func TestPythonIDQuota(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	f := newQuotaFixture(t, upstream.Quota{Used: 3 << 20, Limit: 1 << 30}, nil)
	_, plainPort, _ := net.SplitHostPort(f.plainAddr)
	_, tlsPort, _ := net.SplitHostPort(f.tlsAddr)
	cmd := exec.Command(python, "testdata/imaplib_id_quota.py")
	cmd.Env = append(os.Environ(),
		"IMAP_PORT="+plainPort,
		"IMAPS_PORT="+tlsPort,
		"IMAP_CA="+f.certFile,
		"IMAP_USER="+testUser,
		"IMAP_PASS="+testPass,
		"IMAP_QUOTA=3072 1048576",
	)
	out, err := cmd.CombinedOutput()
	t.Logf("imaplib:\n%s", out)
	if err != nil {
		t.Fatalf("imaplib client failed: %v", err)
	}
}

// TestCapabilityWithUpdates: go-imap writes pending updates after the
// CAPABILITY line, from Poll, which holds the session's lock; the front
// completing the list must not need it.
func TestCapabilityWithUpdates(t *testing.T) {
	f := newQuotaFixture(t, upstream.Quota{Used: 1, Limit: 1 << 20}, nil)
	c := f.login()
	c.C("a1 SELECT INBOX")
	c.OK("a1")
	f.addMessage("m4", 0, testMessage1, upstream.Inbox)
	c.C("a2 CAPABILITY")
	lines := c.OK("a2")
	has(t, lines, "* 4 EXISTS")
	if !strings.HasSuffix(lines[0], " ID QUOTA QUOTA=RES-STORAGE") {
		t.Fatalf("capabilities: %q", lines)
	}
}

// Commands go-imap takes although IMAP's grammar does not are BAD, and
// SMALLER 0 matches nothing (found by TestDovecotDifferential).
func TestFrontRefusesWhatTheGrammarDoesNot(t *testing.T) {
	f := newFixture(t)
	c := f.login()
	c.C("a CHECK")
	c.BAD("a")
	c.C("s SELECT INBOX")
	c.OK("s")
	c.C("b CHECK")
	c.OK("b")
	for _, cmd := range []string{
		"FETCH 1 ()", "UID FETCH 1 ( )", "FETCH 1 BODY.PEEK[HEADER.FIELDS ()]",
		"FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS.NOT ()])", "FETCH 1 BODY.PEEK[MIME]",
		"SEARCH ()", "UID SEARCH NOT ()", "SEARCH OR SEEN ()",
	} {
		c.C("t " + cmd)
		c.BAD("t")
		if !strings.Contains(c.lastTagged, "[CLIENTBUG]") {
			t.Errorf("%s: %q", cmd, c.lastTagged)
		}
	}
	for cmd, want := range map[string]string{
		"SEARCH SMALLER 0":               "* SEARCH",
		"SEARCH OR SMALLER 00 UID 2":     "* SEARCH 2",
		"SEARCH NOT SMALLER 0":           "* SEARCH 1 2 3",
		"SEARCH RETURN () (SMALLER 0)":   "* ESEARCH (TAG \"t\")",
		`SEARCH SUBJECT "SMALLER 0"`:     "* SEARCH",
		`SEARCH SUBJECT "()"`:            "* SEARCH",
		"FETCH 1 BODY.PEEK[1.MIME]<0.1>": "* 1 FETCH (BODY[1.MIME]<0> ",
	} {
		c.C("t " + cmd)
		lines := c.OK("t")
		if len(lines) != 1 || !strings.HasPrefix(lines[0], want) {
			t.Errorf("%s: %q, want %q", cmd, lines, want)
		}
	}
}
