package smtpsrv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/emersion/go-message"
)

func TestLoginServer(t *testing.T) {
	var gotUser, gotPass string
	auth := func(u, p string) error {
		gotUser, gotPass = u, p
		if p != "pw" {
			return errors.New("bad")
		}
		return nil
	}
	// Without an initial response: Username:, Password:, done.
	s := newLoginServer(auth)
	steps := []struct {
		resp      []byte
		challenge string
		done      bool
	}{
		{nil, "Username:", false},
		{[]byte("joe"), "Password:", false},
		{[]byte("pw"), "", true},
	}
	for i, st := range steps {
		ch, done, err := s.Next(st.resp)
		if err != nil || string(ch) != st.challenge || done != st.done {
			t.Fatalf("step %d: got %q %v %v, want %q %v", i, ch, done, err, st.challenge, st.done)
		}
	}
	if gotUser != "joe" || gotPass != "pw" {
		t.Errorf("authenticated %q/%q", gotUser, gotPass)
	}
	if _, _, err := s.Next([]byte("more")); err == nil {
		t.Error("response after completion accepted")
	}

	// With the username as initial response, and a wrong password.
	s = newLoginServer(auth)
	if ch, done, err := s.Next([]byte("ann")); string(ch) != "Password:" || done || err != nil {
		t.Fatalf("initial response: got %q %v %v", ch, done, err)
	}
	if _, done, err := s.Next([]byte("nope")); !done || err == nil {
		t.Errorf("wrong password: done %v err %v, want done with an error", done, err)
	}
	if gotUser != "ann" {
		t.Errorf("user %q, want ann", gotUser)
	}
}

func TestLFGuard(t *testing.T) {
	cases := []struct {
		in   string
		bare bool
	}{
		{"a\r\nb\r\n", false},
		{"a\nb\n", false},              // bare LFs alone are passed on
		{"a\r\n.\nb\r\n", false},       // go-smtp already elided the dot stuffing
		{"a\r\n..\r\n", false},         // a stuffed dot line
		{"a\n.\n", true},               // LF . LF
		{"a\n.\r\n", true},             // LF . CRLF
		{"\n.\n", true},                // at the start of DATA
		{".\n", false},                 // start of DATA is after a CRLF
		{"a\r\n\n.\nrest", true},       // the LF before the dot is bare
		{"x.\ny\n", false},             // dot not alone on its line
		{"a\n.x\n", false},             // dot followed by text
		{"header\r\n\r\n.\r\n", false}, // CRLF . CRLF cannot reach Data, but is fine
	}
	for _, tc := range cases {
		// OneByteReader also checks the guard copes with short reads.
		got, err := io.ReadAll(newLFGuard(iotest.OneByteReader(strings.NewReader(tc.in))))
		if bare := errors.Is(err, errBareLF); bare != tc.bare {
			t.Errorf("%q: bare LF %v, want %v (err %v)", tc.in, bare, tc.bare, err)
		}
		if !tc.bare && string(got) != tc.in {
			t.Errorf("%q: read %q", tc.in, got)
		}
	}
}

// A guard must return at the bare-LF terminator without asking for the
// next byte, which a waiting client never sends.
func TestLFGuardStopsAtTerminator(t *testing.T) {
	r := &strictReader{data: []byte("Subject: x\n\nhi\n.\n")}
	_, err := io.ReadAll(newLFGuard(r))
	if !errors.Is(err, errBareLF) {
		t.Fatalf("err %v, want errBareLF", err)
	}
}

// strictReader fails the read after its data ends, standing in for a
// client that sent its terminator and now waits.
type strictReader struct{ data []byte }

func (r *strictReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, errors.New("read past the terminator: the server would hang here")
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestStripBcc(t *testing.T) {
	cases := []struct{ in, want string }{
		{"To: a\r\nBcc: b\r\nSubject: s\r\n\r\nBcc: body\r\n", "To: a\r\nSubject: s\r\n\r\nBcc: body\r\n"},
		{"BCC : b,\r\n c\r\n\tdd\r\nTo: a\r\n\r\nx", "To: a\r\n\r\nx"},
		{"To: a\nbcc: b\nResent-Bcc: c\n\nbody\n", "To: a\n\nbody\n"},
		{"To: a\r\nBcc:\r\n", "To: a\r\n"},
		{"To: a\r\nX-Bcc-Note: keep\r\n\r\n", "To: a\r\nX-Bcc-Note: keep\r\n\r\n"},
		{"", ""},
	}
	for _, tc := range cases {
		if got := string(stripBcc([]byte(tc.in))); got != tc.want {
			t.Errorf("stripBcc(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCheckFrom(t *testing.T) {
	addrs := []string{"alice@example.org"}
	cases := []struct {
		hdr  string
		code int // 0 = accepted
	}{
		{"From: Alice <Alice@Example.org>\r\n", 0},
		{"From: =?ISO-2022-JP?B?GyRCJSIbKEI=?= <alice@example.org>\r\n", 0},
		{"From: a <alice@example.org>, b <bob@example.org>\r\n", 550},
		{"From: alice@example.org\r\nSender: bob@example.org\r\n", 550},
		{"From: alice@example.org\r\nFrom: alice@example.org\r\n", 550},
		{"To: alice@example.org\r\n", 550},
		{"From: not an address\r\n", 550},
	}
	for _, tc := range cases {
		ent, err := message.Read(strings.NewReader(tc.hdr + "\r\nbody"))
		if err != nil {
			t.Fatal(err)
		}
		err = checkFrom(ent.Header, addrs)
		var rej *rejection
		switch {
		case tc.code == 0 && err != nil:
			t.Errorf("%q: refused: %v", tc.hdr, err)
		case tc.code != 0 && (!errors.As(err, &rej) || rej.code != tc.code):
			t.Errorf("%q: got %v, want a %d refusal", tc.hdr, err, tc.code)
		}
	}
}

func TestCheckMessageAcceptsOddButValid(t *testing.T) {
	msgs := []string{
		"From: a@b\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\nhi\r\n",
		"From: a@b\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nhi\r\n",
		"From: a@b\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\nContent-Type: multipart/alternative; boundary=y\r\n\r\n--y\r\n\r\na\r\n--y--\r\n--z--\r\n",
		"From: a@b\r\n", // header only
	}
	for _, m := range msgs {
		if _, err := checkMessage([]byte(m)); err != nil {
			t.Errorf("%q refused: %v", m, err)
		}
	}
	// Properly closed multiparts nested to the limit, then one level deeper.
	nested := func(depth int) []byte {
		body := "\r\nleaf\r\n"
		for i := range depth {
			b := fmt.Sprintf("b%d", i)
			body = "Content-Type: multipart/mixed; boundary=" + b + "\r\n\r\n--" + b + "\r\n" + body + "\r\n--" + b + "--\r\n"
		}
		return []byte("From: a@b\r\n" + body)
	}
	if _, err := checkMessage(nested(maxMIMEDepth)); err != nil {
		t.Errorf("nesting at the limit refused: %v", err)
	}
	if _, err := checkMessage(nested(maxMIMEDepth + 1)); err == nil || !strings.Contains(err.Error(), "nested") {
		t.Errorf("nesting past the limit: got %v, want a nesting refusal", err)
	}
}

func TestOpIDStable(t *testing.T) {
	raw := []byte("From: a@b\r\n\r\nhi\r\n")
	a := opBase("A@b", raw)
	if b := opBase("a@b", raw); a != b {
		t.Errorf("same message and sender give %q and %q", a, b)
	}
	if opBase("a@b", append(bytes.Clone(raw), 'x')) == a || opBase("c@b", raw) == a {
		t.Error("different messages or senders share an OpID")
	}
	if opID(a, "pgp", []string{"x@y"}) == opID(a, "pgp", []string{"z@y"}) {
		t.Error("sends to different recipients share an OpID")
	}
	if opID(a, "pgp", []string{"X@y"}) != opID(a, "pgp", []string{"x@y"}) {
		t.Error("the case of an address changes the OpID")
	}
}

func TestWithMessageID(t *testing.T) {
	keep := []byte("From: a@b.example\r\nMessage-ID: <x@y>\r\n\r\nhi\r\n")
	hdr, _ := checkMessage(keep)
	if got := withMessageID(keep, hdr, "a@b.example"); !bytes.Equal(got, keep) {
		t.Errorf("a message with a Message-ID was changed:\n%q", got)
	}
	none := []byte("From: a@b.example\nSubject: s\n\nhi\n")
	hdr, _ = checkMessage(none)
	got := withMessageID(none, hdr, "a@b.example")
	if !bytes.HasPrefix(got, []byte("Message-ID: <mailbridge.")) || !bytes.HasSuffix(got, none) ||
		!bytes.Contains(got, []byte("@b.example>\nFrom:")) {
		t.Errorf("added Message-ID: %q", got)
	}
	if again := withMessageID(none, hdr, "a@b.example"); !bytes.Equal(again, got) {
		t.Error("a retry gets a different Message-ID")
	}
}

// BenchmarkLFGuard measures the cost of reading DATA one byte at a time.
func BenchmarkLFGuard(b *testing.B) {
	line := strings.Repeat("x", 76) + "\r\n"
	data := []byte(strings.Repeat(line, (1<<20)/len(line)))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := io.Copy(io.Discard, newLFGuard(bytes.NewReader(data))); err != nil {
			b.Fatal(err)
		}
	}
}

func TestValidMailbox(t *testing.T) {
	for addr, want := range map[string]bool{
		"alice@example.test":         true,
		"first.last+tag@mail.co.uk":  true,
		"john doe@example.test":      true, // go-smtp takes the quotes off
		"a@my_host.example":          true,
		"root@[IPv6:::1]":            true,
		"a@[]":                       false,
		"a@b\xff.test":               false,
		"a\u0085@b.test":             false,
		"jörg@bücher.example":        true,
		"root@[127.0.0.1]":           true,
		"a@b\x00c.test":              false,
		"a\x00@b.test":               false,
		"@example.test":              false,
		"alice@":                     false,
		"alice":                      false,
		"alice@exa mple.test":        false,
		"alice@example..test":        false,
		"alice@-example.test":        false,
		"alice@example.test\r\nRCPT": false,
	} {
		if got := validMailbox(addr); got != want {
			t.Errorf("validMailbox(%q) = %v, want %v", addr, got, want)
		}
	}
}
