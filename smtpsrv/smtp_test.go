package smtpsrv

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mailbridge/mailbridge/upstream"
)

// plainMsg is a message to a recipient without a key, with a Bcc.
var plainMsg = crlf(`From: Alice <alice@example.org>
To: Carol <carol@example.com>
Bcc: dave@example.com,
 someone@example.com
Subject: Lunch
Message-ID: <1@example.org>
Date: Mon, 1 Jan 2024 12:00:00 +0000

Shall we meet at noon?
.a line starting with a dot
`)

var plainMsgNoBcc = crlf(`From: Alice <alice@example.org>
To: Carol <carol@example.com>
Subject: Lunch
Message-ID: <1@example.org>
Date: Mon, 1 Jan 2024 12:00:00 +0000

Shall we meet at noon?
.a line starting with a dot
`)

func TestEHLOBeforeAndAfterTLS(t *testing.T) {
	h := newHarness(t, 0)
	c := dial(t, h, false)
	caps := c.ok(250, "EHLO client.test")
	if strings.Contains(caps, "AUTH") {
		t.Errorf("AUTH advertised before TLS:\n%s", caps)
	}
	if !strings.Contains(caps, "STARTTLS") {
		t.Errorf("STARTTLS not advertised:\n%s", caps)
	}
	if code, msg := c.cmd("AUTH PLAIN " + plainIR(userName, userPass)); code/100 != 5 {
		t.Errorf("AUTH before TLS: got %d %q, want a 5xx refusal", code, msg)
	}
	if code, msg := c.cmd("MAIL FROM:<" + aliceAddr + ">"); code != 530 {
		t.Errorf("MAIL before AUTH: got %d %q, want 530", code, msg)
	}

	c.startTLS(h.clientTLS)
	caps = c.ok(250, "EHLO client.test")
	for _, want := range []string{"AUTH PLAIN LOGIN", "SIZE 26214400", "8BITMIME", "PIPELINING", "ENHANCEDSTATUSCODES", "SMTPUTF8", "CHUNKING"} {
		if !slices.Contains(strings.Split(caps, "\n"), want) {
			t.Errorf("capability %q missing after STARTTLS:\n%s", want, caps)
		}
	}
	if strings.Contains(caps, "STARTTLS") {
		t.Errorf("STARTTLS advertised inside TLS:\n%s", caps)
	}
	c.ok(235, "AUTH PLAIN "+plainIR(userName, userPass))
	c.ok(221, "QUIT")
}

func TestWrongPassword(t *testing.T) {
	h := newHarness(t, 0)
	c := dial(t, h, true)
	c.ok(250, "EHLO client.test")
	if msg := c.ok(535, "AUTH PLAIN "+plainIR(userName, "wrong")); !strings.HasPrefix(msg, "5.7.8") {
		t.Errorf("got %q, want enhanced code 5.7.8", msg)
	}
	c.ok(334, "AUTH LOGIN")
	c.ok(334, b64(userName))
	c.ok(535, b64("also wrong"))
	c.ok(535, "AUTH PLAIN "+plainIR("bob", userPass))
	// The connection stays usable: the right password still works.
	c.ok(334, "AUTH LOGIN "+b64(userName))
	c.ok(235, b64(userPass))
	c.ok(503, "AUTH PLAIN "+plainIR(userName, userPass))
}

func TestAuthorizationIdentityRefused(t *testing.T) {
	h := newHarness(t, 0)
	c := dial(t, h, true)
	c.ok(250, "EHLO client.test")
	ir := b64("someone-else\x00" + userName + "\x00" + userPass)
	c.ok(535, "AUTH PLAIN "+ir)
}

func TestForeignSender(t *testing.T) {
	h := newHarness(t, 0)
	c := dialAuthed(t, h)
	code, msg := c.cmd("MAIL FROM:<mallory@example.org>")
	if code != 553 || !strings.HasPrefix(msg, "5.7.1") || !strings.Contains(msg, "mallory@example.org") {
		t.Errorf("got %d %q, want 553 5.7.1 naming the address", code, msg)
	}
	c.ok(553, "MAIL FROM:<>")
	// Case does not matter, and every address of the account is allowed.
	c.ok(250, "MAIL FROM:<ALICE@Example.ORG>")
	c.ok(250, "RSET")
	c.ok(250, "MAIL FROM:<alias@example.org>")
}

func TestFromHeaderMustBeOwn(t *testing.T) {
	h := newHarness(t, 0)
	c := dialAuthed(t, h)
	msg := strings.Replace(plainMsg, "From: Alice <alice@example.org>", "From: Boss <ceo@example.org>", 1)
	code, text := c.send(aliceAddr, []string{carolAddr}, msg)
	if code != 550 || !strings.Contains(text, "ceo@example.org") {
		t.Errorf("got %d %q, want 550 naming the From address", code, text)
	}
	noFrom := strings.Replace(plainMsg, "From: Alice <alice@example.org>\r\n", "", 1)
	if code, text := c.send(aliceAddr, []string{carolAddr}, noFrom); code != 550 {
		t.Errorf("no From: got %d %q, want 550", code, text)
	}
	if n := len(h.up.delivered()); n != 0 {
		t.Errorf("%d messages delivered, want none", n)
	}
}

func TestOversize(t *testing.T) {
	h := newHarness(t, 4096)
	c := dialAuthed(t, h)
	if caps := c.ok(250, "EHLO client.test"); !strings.Contains(caps, "SIZE 4096") {
		t.Errorf("SIZE 4096 not advertised:\n%s", caps)
	}
	c.ok(552, "MAIL FROM:<"+aliceAddr+"> SIZE=5000")
	big := plainMsg + strings.Repeat(strings.Repeat("x", 70)+"\r\n", 100)
	code, msg := c.send(aliceAddr, []string{carolAddr}, big)
	if code != 552 || !strings.HasPrefix(msg, "5.3.4") {
		t.Errorf("got %d %q, want 552 5.3.4", code, msg)
	}
	// The session goes on after the refusal.
	if code, msg := c.send(aliceAddr, []string{carolAddr}, plainMsg); code != 250 {
		t.Errorf("after oversize: got %d %q, want 250", code, msg)
	}
	if n := len(h.up.delivered()); n != 1 {
		t.Errorf("%d messages delivered, want 1", n)
	}
}

func TestLineTooLong(t *testing.T) {
	h := newHarness(t, 0)
	c := dialAuthed(t, h)
	long := plainMsg + strings.Repeat("x", 5000) + "\r\n"
	code, msg := c.send(aliceAddr, []string{carolAddr}, long)
	if code != 500 || !strings.HasPrefix(msg, "5.5.6") {
		t.Errorf("got %d %q, want 500 5.5.6", code, msg)
	}
	if n := h.up.sendCalls(); n != 0 {
		t.Errorf("%d upstream sends, want none", n)
	}
}

func TestMalformedMIME(t *testing.T) {
	cases := map[string]string{
		"unterminated multipart": `From: alice@example.org
To: carol@example.com
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain

hello
`,
		"multipart without boundary": `From: alice@example.org
To: carol@example.com
Content-Type: multipart/mixed

hello
`,
		"garbage header line": `From: alice@example.org
this is not a header
To: carol@example.com

hello
`,
		"no header": `
just a body
`,
	}
	h := newHarness(t, 0)
	c := dialAuthed(t, h)
	for name, msg := range cases {
		code, text := c.send(aliceAddr, []string{carolAddr}, crlf(msg))
		if code != 554 || !strings.HasPrefix(text, "5.6.0 Malformed message") {
			t.Errorf("%s: got %d %q, want 554 5.6.0 Malformed message", name, code, text)
		}
	}
	if n := h.up.sendCalls(); n != 0 {
		t.Errorf("%d upstream sends, want none", n)
	}
}

func TestPlainRecipientGetsMessageMinusBcc(t *testing.T) {
	h := newHarness(t, 0)
	c := dialAuthed(t, h)
	if code, msg := c.send(aliceAddr, []string{carolAddr, daveAddr, "CAROL@example.com"}, plainMsg); code != 250 {
		t.Fatalf("got %d %q, want 250", code, msg)
	}
	sends := h.up.delivered()
	if len(sends) != 1 {
		t.Fatalf("%d sends, want 1", len(sends))
	}
	s := sends[0]
	if got := string(s.Raw); got != plainMsgNoBcc {
		t.Errorf("delivered message differs from the original minus Bcc:\n%q\nwant\n%q", got, plainMsgNoBcc)
	}
	if !slices.Equal(s.Recipients, []string{carolAddr, daveAddr}) {
		t.Errorf("recipients %q, want carol and dave once each", s.Recipients)
	}
	if s.From != aliceAddr || s.SentCopy == nil {
		t.Errorf("From %q, SentCopy %d bytes; want %s and a Sent copy", s.From, len(s.SentCopy), aliceAddr)
	}
}

func TestTemporaryFailureThenRetry(t *testing.T) {
	h := newHarness(t, 0)
	c := dialAuthed(t, h)
	h.up.failNext(upstream.Errorf(upstream.Temporary, "backend down"))
	code, msg := c.send(aliceAddr, []string{carolAddr}, plainMsg)
	if code != 451 || !strings.HasPrefix(msg, "4.3.0") {
		t.Fatalf("got %d %q, want 451 4.3.0", code, msg)
	}
	if code, msg := c.send(aliceAddr, []string{carolAddr}, plainMsg); code != 250 {
		t.Fatalf("retry: got %d %q, want 250", code, msg)
	}
	if n := len(h.up.delivered()); n != 1 {
		t.Errorf("%d deliveries, want 1", n)
	}
}

// A message split into an encrypted and a plain send whose second send
// fails: the client retries the whole message, and no recipient may get
// a second copy, nor Sent a second copy.
func TestPartialFailureRetryDeliversOnce(t *testing.T) {
	h := newHarness(t, 0)
	c := dialAuthed(t, h)
	rcpts := []string{bobAddr, carolAddr}
	h.up.failNext(nil, upstream.Errorf(upstream.RateLimited, "slow down"))
	if code, msg := c.send(aliceAddr, rcpts, mixedMsg); code != 451 {
		t.Fatalf("got %d %q, want 451", code, msg)
	}
	if code, msg := c.send(aliceAddr, rcpts, mixedMsg); code != 250 {
		t.Fatalf("retry: got %d %q, want 250", code, msg)
	}
	sends := h.up.delivered()
	if len(sends) != 2 {
		t.Fatalf("%d deliveries, want 2 (one encrypted, one plain)", len(sends))
	}
	got := map[string]int{}
	sentCopies := 0
	for _, s := range sends {
		for _, r := range s.Recipients {
			got[r]++
		}
		if s.SentCopy != nil {
			sentCopies++
		}
	}
	if got[bobAddr] != 1 || got[carolAddr] != 1 || len(got) != 2 {
		t.Errorf("copies per recipient %v, want one each for bob and carol", got)
	}
	if sentCopies != 1 {
		t.Errorf("%d Sent copies, want 1", sentCopies)
	}
}

func TestUpstreamErrorReplies(t *testing.T) {
	cases := []struct {
		err  error
		code int
		enh  string
	}{
		{upstream.Errorf(upstream.Permanent, "recipient refused"), 554, "5.0.0"},
		{upstream.Errorf(upstream.AuthFailed, "token expired"), 454, "4.7.0"},
		{&upstream.Error{Kind: upstream.RateLimited, RetryAfter: 30e9}, 451, "4.3.0"},
		{fmt.Errorf("dial: connection refused"), 451, "4.3.0"},
	}
	h := newHarness(t, 0)
	c := dialAuthed(t, h)
	for _, tc := range cases {
		h.up.failNext(tc.err)
		code, msg := c.send(aliceAddr, []string{carolAddr}, plainMsg)
		if code != tc.code || !strings.HasPrefix(msg, tc.enh) {
			t.Errorf("%v: got %d %q, want %d %s", tc.err, code, msg, tc.code, tc.enh)
		}
	}
}

// A key server failure refuses that recipient for now (451 at RCPT), so
// the client knows it was not sent to; nothing goes out in clear to it.
func TestKeyLookupFailureIsTemporary(t *testing.T) {
	h := newHarness(t, 0)
	h.up.lookupErr[bobAddr] = upstream.Errorf(upstream.Temporary, "key server down")
	c := dialAuthed(t, h)
	c.ok(250, "MAIL FROM:<"+aliceAddr+">")
	c.ok(250, "RCPT TO:<"+carolAddr+">")
	code, msg := c.cmd("RCPT TO:<" + bobAddr + ">")
	if code != 451 || !strings.HasPrefix(msg, "4.4.3") || !strings.Contains(msg, bobAddr) {
		t.Errorf("got %d %q, want 451 4.4.3 naming bob", code, msg)
	}
	if code, msg := c.data(mixedMsg); code != 250 {
		t.Fatalf("DATA to carol: got %d %q", code, msg)
	}
	sends := h.up.delivered()
	if len(sends) != 1 || !slices.Equal(sends[0].Recipients, []string{carolAddr}) {
		t.Errorf("sends %v, want one to carol only", sends)
	}
}

func TestBareLFTerminator(t *testing.T) {
	h := newHarness(t, 0)
	c := dialAuthed(t, h)
	c.ok(250, "MAIL FROM:<"+aliceAddr+">")
	c.ok(250, "RCPT TO:<"+carolAddr+">")
	c.ok(354, "DATA")
	if _, err := c.conn.Write([]byte("From: alice@example.org\nSubject: hi\n\nhello\n.\n")); err != nil {
		t.Fatal(err)
	}
	code, msg := c.read()
	if code != 554 || !strings.HasPrefix(msg, "5.5.2") {
		t.Errorf("got %d %q, want 554 5.5.2", code, msg)
	}
	if !c.closed() {
		t.Error("connection still open after a bare-LF terminator")
	}
	if n := h.up.sendCalls(); n != 0 {
		t.Errorf("%d upstream sends, want none", n)
	}
}

func TestBDAT(t *testing.T) {
	h := newHarness(t, 0)
	c := dialAuthed(t, h)
	c.ok(250, "MAIL FROM:<"+aliceAddr+">")
	c.ok(250, "RCPT TO:<"+carolAddr+">")
	// BDAT has no dot terminator, so a bare-LF dot line is plain content.
	msg := plainMsgNoBcc + "x\n.\ny\r\n"
	if _, err := fmt.Fprintf(c.conn, "BDAT %d LAST\r\n%s", len(msg), msg); err != nil {
		t.Fatal(err)
	}
	c.expect(250)
	sends := h.up.delivered()
	if len(sends) != 1 || string(sends[0].Raw) != msg {
		t.Fatalf("BDAT message not delivered as written")
	}
}

func TestLogsHoldNoSecrets(t *testing.T) {
	h := newHarness(t, 0)
	c := dial(t, h, true)
	c.ok(250, "EHLO client.test")
	c.ok(535, "AUTH PLAIN "+plainIR(userName, "hunter2-wrong"))
	c.ok(235, "AUTH PLAIN "+plainIR(userName, userPass))
	if code, msg := c.send(aliceAddr, mixedRcpts, mixedMsg); code != 250 {
		t.Fatalf("got %d %q", code, msg)
	}
	broken := crlf("From: alice@example.org\nSECRET-HEADER-LINE\n\nsecret body\n")
	c.send(aliceAddr, []string{carolAddr}, broken)
	h.up.failNext(upstream.Errorf(upstream.Temporary, "down"))
	c.send(aliceAddr, []string{carolAddr}, plainMsg)
	c.ok(221, "QUIT")

	logs := h.logs.String()
	if !strings.Contains(logs, "message sent") || !strings.Contains(logs, "authentication failed") {
		t.Fatalf("expected events missing from the log:\n%s", logs)
	}
	for _, secret := range []string{userPass, "hunter2-wrong", "Café", "bring the report", "SECRET-HEADER-LINE", "secret body", "Lunch", "noon"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains %q:\n%s", secret, logs)
		}
	}
}

// Recipients as real clients write them pass the address check, quoted
// local parts included (go-smtp hands them over without their quotes),
// and a NUL in one does not.
func TestRecipientAddressesOverTheWire(t *testing.T) {
	h := newHarness(t, 0)
	c := dialAuthed(t, h)
	c.ok(250, "MAIL FROM:<"+aliceAddr+">")
	for _, rcpt := range []string{`"john doe"@example.com`, `"a\ b"@example.com`, "bob+tag@example.com", "Bob@EXAMPLE.COM", "root@[IPv6:::1]"} {
		if code, msg := c.cmd("RCPT TO:<" + rcpt + ">"); code != 250 {
			t.Errorf("RCPT TO:<%s>: %d %q, want 250", rcpt, code, msg)
		}
	}
	if code, _ := c.cmd("RCPT TO:<a@b\x00c.test>"); code != 501 {
		t.Errorf("RCPT with a NUL: %d, want 501", code)
	}
}
