package imapsrv

import (
	"bytes"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// A keyword new to the mailbox reaches an idling read-only session as
// FLAGS followed by an empty PERMANENTFLAGS, RFC 9051's pair.
func TestNewKeywordReachesExamineSession(t *testing.T) {
	f := newFixture(t)
	a, b := f.login(), f.login()
	b.C("e EXAMINE INBOX")
	has(t, b.OK("e"), `* OK [PERMANENTFLAGS ()] Permanent flags`)
	b.C("i IDLE")
	b.Sx(`^\+ `)

	a.C("s SELECT INBOX")
	a.OK("s")
	a.C(`k STORE 1 +FLAGS ($Project)`)
	has(t, a.OK("k"), `* OK [PERMANENTFLAGS ($Project \Answered \Deleted \Draft \Flagged \Seen \*)] Permanent flags`)

	b.S(`* FLAGS ($Project \Answered \Deleted \Draft \Flagged \Seen)`,
		`* OK [PERMANENTFLAGS ()] Permanent flags`)
	b.Sx(`^\* 1 FETCH \(.*\$Project`)
	b.C("DONE")
	b.OK("i")
}

// observe must never change literal data, however it is cut into writes,
// even where a message holds what looks like a FLAGS response.
func TestObserveSkipsLiterals(t *testing.T) {
	body := "Subject: x\r\n\r\n* FLAGS (\\Seen)\r\nb1 OK done\r\n{5}\r\n"
	reply := "* 1 FETCH (BODY[] {" + strconv.Itoa(len(body)) + "}\r\n" + body + ")\r\n" +
		"* FLAGS (\\Seen $X)\r\nb1 OK FETCH completed\r\n"
	want := strings.Replace(reply, "* FLAGS (\\Seen $X)\r\n",
		"* FLAGS (\\Seen $X)\r\n* OK [PERMANENTFLAGS (\\Seen $X \\*)] Permanent flags\r\n", 1)
	for cut := 1; cut < len(reply); cut++ {
		var o outWatch
		o.begin("b1", "FETCH", false)
		var out bytes.Buffer
		for _, part := range []string{reply[:cut], reply[cut:]} {
			out.Write(o.observe([]byte(part)))
		}
		// A FLAGS line cut in two is passed through unmarked: go-imap
		// writes each response line whole, so it does not happen.
		flagsAt := strings.Index(reply, "* FLAGS (\\Seen $X)")
		if cut > flagsAt && cut < flagsAt+len("* FLAGS (") {
			continue
		}
		if out.String() != want {
			t.Fatalf("cut at %d:\n got %q\nwant %q", cut, out.String(), want)
		}
		if !o.answered {
			t.Fatalf("cut at %d: tagged reply not seen", cut)
		}
	}
}

// A SERVERBUG is go-imap's parser's only when no session method ran in
// the command; a session's fault stays a server error.
func TestFixTaggedServerBug(t *testing.T) {
	var calls atomic.Uint64
	const bug = "t1 NO [SERVERBUG] Internal server error\r\n"
	for _, tc := range []struct {
		name    string
		session bool // a session method runs during the command
		want    string
	}{
		{"parser", false, "t1 BAD [CLIENTBUG] Syntax error\r\n"},
		{"session", true, bug},
	} {
		o := outWatch{calls: calls.Load}
		o.begin("t1", "FETCH", false)
		if tc.session {
			calls.Add(1)
		}
		if got := string(o.observe([]byte(bug))); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
		if !o.answered {
			t.Errorf("%s: tagged reply not seen", tc.name)
		}
	}
}

// A SAVE-only SEARCH loses go-imap's ESEARCH line wherever the writes cut
// it, as long as its start is whole, and nothing else.
func TestObserveDropsSaveOnlyESearch(t *testing.T) {
	reply := "* 3 EXISTS\r\n* ESEARCH (TAG \"s1\") ALL 1:3,5\r\ns1 OK SEARCH completed\r\n"
	want := "* 3 EXISTS\r\ns1 OK SEARCH completed\r\n"
	start := strings.Index(reply, "* ESEARCH")
	for cut := 1; cut < len(reply); cut++ {
		if cut > start && cut < start+len(esearchPrefix) {
			continue // go-imap writes a response line's start whole
		}
		var o outWatch
		o.begin("s1", "SEARCH", false)
		o.saveOnly = true
		var out bytes.Buffer
		for _, part := range []string{reply[:cut], reply[cut:]} {
			out.Write(o.observe([]byte(part)))
		}
		if out.String() != want || !o.answered {
			t.Errorf("cut at %d: %q (answered %v)", cut, out.String(), o.answered)
		}
	}
	for line, want := range map[string]bool{
		"a SEARCH RETURN (SAVE) FLAGGED\r\n":       true,
		"a uid search return (save) ALL\r\n":       true,
		"a SEARCH RETURN (SAVE MIN) ALL\r\n":       false,
		"a SEARCH RETURN (ALL SAVE) ALL\r\n":       false,
		"a SEARCH RETURN () SAVE\r\n":              false,
		"a SEARCH FLAGGED\r\n":                     false,
		"a UID FETCH 1 (FLAGS)\r\n":                false,
		"a SEARCH RETURN ( SAVE ) FLAGGED\r\n":     true,
		"a SEARCH CHARSET UTF-8 RETURN (SAVE)\r\n": false,
	} {
		if got := saveOnlySearch([]byte(line)); got != want {
			t.Errorf("saveOnlySearch(%q) = %v", line, got)
		}
	}
}
