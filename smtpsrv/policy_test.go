package smtpsrv

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/mailbridge/mailbridge/crypto"
	"github.com/mailbridge/mailbridge/upstream"
)

func withPolicy(p Policy, pinned map[string]openpgp.EntityList) func(*fakeAccount) Account {
	return func(fa *fakeAccount) Account { return &policyAccount{fakeAccount: fa, policy: p, pinned: pinned} }
}

func TestRequireEncryptionNamesRecipientsWithoutKeys(t *testing.T) {
	h := newHarnessWith(t, harnessOpts{account: withPolicy(Policy{RequireEncryption: true}, nil)})
	c := dialAuthed(t, h)
	code, msg := c.send(aliceAddr, mixedRcpts, mixedMsg)
	if code != 550 || !strings.HasPrefix(msg, "5.7.1") ||
		!strings.Contains(msg, carolAddr) || !strings.Contains(msg, daveAddr) || strings.Contains(msg, bobAddr) {
		t.Errorf("got %d %q, want 550 5.7.1 naming carol and dave only", code, msg)
	}
	if n := h.up.sendCalls(); n != 0 {
		t.Fatalf("%d upstream sends, want none", n)
	}
	if code, msg := c.send(aliceAddr, []string{bobAddr}, mixedMsgNoBcc); code != 250 {
		t.Errorf("to bob alone: got %d %q, want 250", code, msg)
	}
}

func TestSignAndAttachKeyForRecipientsWithoutKeys(t *testing.T) {
	h := newHarnessWith(t, harnessOpts{account: withPolicy(Policy{SignUnencrypted: true, AttachPublicKey: true}, nil)})
	c := dialAuthed(t, h)
	if code, msg := c.send(aliceAddr, mixedRcpts, mixedMsg); code != 250 {
		t.Fatalf("got %d %q", code, msg)
	}
	keyed, plain := splitSends(t, h.up.delivered())
	if bytes.Contains(keyed.Raw, []byte("application/pgp-keys")) {
		t.Error("the encrypted copy changed: the settings are for recipients without keys")
	}
	if !bytes.Contains(plain.Raw, []byte("Content-Type: multipart/signed")) {
		t.Fatalf("plain copy is not multipart/signed:\n%s", plain.Raw)
	}
	if bytes.Contains(plain.Raw, []byte("dave@example.com")) {
		t.Error("plain copy reveals the Bcc recipient")
	}
	got := decryptAs(t, plain.Raw, crypto.FormatSigned, h.alice, h.alice)
	for _, want := range []string{"Café at noon, bring the report.", "application/pgp-keys", "-----BEGIN PGP PUBLIC KEY BLOCK-----"} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("signed copy lacks %q:\n%s", want, got)
		}
	}
	if bytes.Contains(got, []byte("PRIVATE KEY")) {
		t.Error("the attached key holds private key material")
	}
}

func TestPinnedKeyUsedWithoutServerKey(t *testing.T) {
	carol, err := crypto.GenerateKey("Carol", carolAddr)
	if err != nil {
		t.Fatal(err)
	}
	pinned := map[string]openpgp.EntityList{carolAddr: {carol}}
	h := newHarnessWith(t, harnessOpts{account: withPolicy(Policy{RequireEncryption: true}, pinned)})
	c := dialAuthed(t, h)
	msg := strings.Replace(mixedMsgNoBcc, "To: Bob <bob@example.net>, ", "To: ", 1)
	if code, text := c.send(aliceAddr, []string{carolAddr}, msg); code != 250 {
		t.Fatalf("got %d %q", code, text)
	}
	sends := h.up.delivered()
	if len(sends) != 1 || !slices.Equal(sends[0].Recipients, []string{carolAddr}) {
		t.Fatalf("sends %+v, want one to carol", sends)
	}
	body := decryptAs(t, sends[0].Raw, crypto.FormatPGPMIME, carol, h.alice)
	if !bytes.Contains(body, []byte("Café at noon")) {
		t.Errorf("carol's copy:\n%s", body)
	}
}

func TestKeyLookupsAreCached(t *testing.T) {
	h := newHarness(t, 0)
	c := dialAuthed(t, h)
	for range 3 {
		c.ok(250, "RSET")
		if code, msg := c.send(aliceAddr, mixedRcpts, mixedMsg); code != 250 {
			t.Fatalf("got %d %q", code, msg)
		}
	}
	if n := h.up.lookupCalls(); n != len(mixedRcpts) {
		t.Errorf("%d key lookups for 3 messages to %d recipients, want %d", n, len(mixedRcpts), len(mixedRcpts))
	}
}

// A recipient the upstream refuses when its key is looked up gets a 550 of
// its own; the others still get the message.
func TestRecipientRefusedAtRcpt(t *testing.T) {
	h := newHarness(t, 0)
	h.up.lookupErr[carolAddr] = &rejectedError{addrs: []string{carolAddr}}
	c := dialAuthed(t, h)
	c.ok(250, "MAIL FROM:<"+aliceAddr+">")
	c.ok(250, "RCPT TO:<"+bobAddr+">")
	code, msg := c.cmd("RCPT TO:<" + carolAddr + ">")
	if code != 550 || !strings.HasPrefix(msg, "5.1.1") || !strings.Contains(msg, carolAddr) {
		t.Errorf("got %d %q, want 550 5.1.1 naming carol", code, msg)
	}
	c.ok(250, "RCPT TO:<"+daveAddr+">")
	if code, msg := c.data(mixedMsg); code != 250 {
		t.Fatalf("DATA: got %d %q", code, msg)
	}
	var got []string
	for _, s := range h.up.delivered() {
		got = append(got, s.Recipients...)
	}
	if !slices.Equal(got, []string{bobAddr, daveAddr}) {
		t.Errorf("delivered to %v, want bob and dave", got)
	}
}

// A recipient the upstream refuses at Send: 550 naming it; the client sends
// again without it, and nobody gets a second copy, Sent included.
func TestRecipientRefusedAtSend(t *testing.T) {
	h := newHarness(t, 0)
	h.up.reject = map[string]bool{carolAddr: true}
	c := dialAuthed(t, h)
	code, msg := c.send(aliceAddr, mixedRcpts, mixedMsg)
	if code != 550 || !strings.HasPrefix(msg, "5.1.1") || !strings.Contains(msg, carolAddr) || strings.Contains(msg, bobAddr) {
		t.Fatalf("got %d %q, want 550 5.1.1 naming carol only", code, msg)
	}
	if code, msg := c.send(aliceAddr, []string{bobAddr, daveAddr}, mixedMsg); code != 250 {
		t.Fatalf("retry without carol: got %d %q", code, msg)
	}
	copies := map[string]int{}
	sent := 0
	for _, s := range h.up.delivered() {
		for _, r := range s.Recipients {
			copies[r]++
		}
		if s.SentCopy != nil {
			sent++
		}
	}
	if copies[bobAddr] != 1 || copies[daveAddr] != 1 || copies[carolAddr] != 0 {
		t.Errorf("copies %v, want one for bob and dave, none for carol", copies)
	}
	if sent != 1 {
		t.Errorf("%d Sent copies, want 1", sent)
	}
}

// An upstream error without named recipients stays a whole-message refusal.
func TestPermanentSendErrorWithoutRecipients(t *testing.T) {
	h := newHarness(t, 0)
	h.up.failNext(&rejectedError{})
	c := dialAuthed(t, h)
	if code, msg := c.send(aliceAddr, []string{carolAddr}, plainMsg); code != 451 {
		// Not an *upstream.Error: KindOf treats it as temporary.
		t.Errorf("got %d %q, want 451", code, msg)
	}
	h.up.failNext(upstream.Errorf(upstream.Permanent, "message refused"))
	if code, msg := c.send(aliceAddr, []string{carolAddr}, plainMsg); code != 554 {
		t.Errorf("got %d %q, want 554", code, msg)
	}
}

func TestMessageIDAddedWhenMissing(t *testing.T) {
	h := newHarness(t, 0)
	c := dialAuthed(t, h)
	msg := strings.Replace(mixedMsg, "Message-ID: <2@example.org>\r\n", "", 1)
	if code, text := c.send(aliceAddr, mixedRcpts, msg); code != 250 {
		t.Fatalf("got %d %q", code, text)
	}
	keyed, plain := splitSends(t, h.up.delivered())
	if !bytes.HasPrefix(plain.Raw, []byte("Message-ID: <mailbridge.")) {
		t.Fatalf("plain copy has no Message-ID:\n%s", plain.Raw)
	}
	id, _, _ := bytes.Cut(plain.Raw, []byte("\r\n"))
	sent := decryptAs(t, keyed.SentCopy, crypto.FormatWhole, h.alice, h.alice)
	inner := decryptAs(t, keyed.Raw, crypto.FormatPGPMIME, h.bob, h.alice)
	if !bytes.Contains(sent, id) || !bytes.Contains(inner, id) {
		t.Errorf("the copies do not share %q", id)
	}
}
