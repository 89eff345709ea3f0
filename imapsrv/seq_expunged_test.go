package imapsrv

import (
	"strings"
	"testing"
)

// "*" is the last message the client knows of. If another session
// expunged that one and the client was not told yet, "*" must not become
// an earlier message: STORE * +FLAGS (\Deleted) would mark a message the
// client never named, and its EXPUNGE would then remove it.
func TestStarAfterExpungeMeanwhile(t *testing.T) {
	f := newFixture(t)
	a, b := f.selectedPair("INBOX")
	// a expunges message 3; b is not told (no command since).
	a.C(`a2 STORE 3 +FLAGS.SILENT (\Deleted)`)
	a.OK("a2")
	a.C("a3 EXPUNGE")
	a.OK("a3")

	// b still knows 3 messages; "*" is its message 3, which is gone.
	b.C(`b2 STORE * +FLAGS (\Deleted)`)
	lines, tagged := b.Tagged("b2")
	for _, l := range lines {
		if strings.HasPrefix(l, "* 2 FETCH") {
			t.Errorf("STORE * marked message 2: %q, then %q", lines, tagged)
		}
	}
	b.C(`b3 FETCH 3:* (UID)`)
	lines, tagged = b.Tagged("b3")
	if len(lines) != 0 || !strings.Contains(tagged, "EXPUNGEISSUED") {
		t.Errorf("FETCH 3:* with 3 expunged meanwhile: %q, then %q", lines, tagged)
	}
	b.C("b4 NOOP")
	b.OK("b4")
	b.C(`b5 FETCH 1:* (FLAGS)`)
	for _, l := range b.OK("b5") {
		if strings.Contains(l, `\Deleted`) {
			t.Errorf("a message b never named is \\Deleted: %q", l)
		}
	}
}

// Sequence numbers a client learnt of are never BAD.
func TestKnownSeqNeverBad(t *testing.T) {
	f := newFixture(t)
	a, b := f.selectedPair("INBOX")
	const msg = "Subject: x\r\n\r\nbody\r\n"
	// Pipelined: APPEND to the selected mailbox, then FETCH of it.
	a.write("a2 APPEND INBOX " + literalPlus(msg) + "\r\na3 FETCH 4 (UID)\r\n")
	lines := a.OK("a2")
	has(t, lines, "* 4 EXISTS")
	a.OK("a3")
	// b learns of 4 in IDLE; then a moves 2 and 4 away; b still knows 4.
	b.C("b2 IDLE")
	b.Sx(`^\+`)
	b.Sx(`^\* 4 EXISTS`)
	b.C("DONE")
	b.OK("b2")
	a.C("a4 MOVE 2,4 Archive")
	a.OK("a4")
	for _, cmd := range []string{"FETCH 4 (UID)", "FETCH 1:4 (UID)", "STORE 4 +FLAGS (x)", "FETCH 4:* (UID)"} {
		b.C("b3 " + cmd)
		_, tagged := b.Tagged("b3")
		if strings.HasPrefix(tagged, "b3 BAD") {
			t.Errorf("%s: %q", cmd, tagged)
		}
	}
	b.C("b4 NOOP")
	lines = b.OK("b4")
	has(t, lines, "* 2 EXPUNGE", "* 3 EXPUNGE")
	// a's own EXPUNGE: it knows 1 message then.
	a.C(`a5 STORE 1:* +FLAGS.SILENT (\Deleted)`)
	a.OK("a5")
	a.C(`a6 STORE 1 -FLAGS.SILENT (\Deleted)`)
	a.OK("a6")
	a.C("a7 EXPUNGE")
	a.OK("a7")
	a.C("a8 FETCH 1 (UID)")
	a.OK("a8")
	a.C("a9 FETCH 2 (UID)")
	a.BAD("a9")
}

// COPY and MOVE of messages another session expunged meanwhile (the
// client not told yet) must not answer OK having copied nothing: RFC 2180
// section 4.4.1 and RFC 5530 EXPUNGEISSUED, as FETCH and STORE now do.
func TestCopyOfExpungedMeanwhile(t *testing.T) {
	f := newFixture(t)
	a, b := f.selectedPair("INBOX")
	a.C("a2 MOVE 3 Archive")
	a.OK("a2")
	for _, cmd := range []string{"COPY 3 Work", "MOVE 3 Work", "COPY 2:3 Work"} {
		b.C("b2 " + cmd)
		_, tagged := b.Tagged("b2")
		if !strings.HasPrefix(tagged, "b2 NO") {
			t.Errorf("%s with 3 expunged meanwhile: %q", cmd, tagged)
		}
		if strings.HasPrefix(tagged, "b2 OK") {
			break // the EXPUNGE came with it
		}
	}
}
