package mock

import (
	"bytes"
	"context"
	"mime"
	"net/mail"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/mailbridge/mailbridge/crypto"
	"github.com/mailbridge/mailbridge/upstream"
)

// TestSeededMessagesDecrypt is the round trip the bridge relies on: what
// Seed stores decrypts, with the account's own locked key, into the seeded
// plaintext, with the signature verdicts the seed promises.
func TestSeededMessagesDecrypt(t *testing.T) {
	s, sess := newAccount(t)
	ctx := context.Background()
	const n = 80
	if err := s.Seed(testUser, n, 11); err != nil {
		t.Fatal(err)
	}
	armored, err := sess.PrivateKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := crypto.UnlockKeys(armored, []byte(testPass))
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(addr string) openpgp.EntityList {
		a, err := mail.ParseAddress(addr)
		if err != nil {
			return nil
		}
		pub, err := sess.PublicKeys(ctx, a.Address)
		if err != nil {
			return nil
		}
		list, _ := crypto.ReadKeys(pub)
		return list
	}

	formats := map[Format]crypto.Format{
		FormatPGPMIME: crypto.FormatPGPMIME, FormatInline: crypto.FormatInline, FormatWhole: crypto.FormatWhole,
	}
	for _, want := range SeedMessages(n, 11, seedMe) {
		stored, err := sess.GetMessage(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		res := crypto.Decrypt(stored.Raw, keys, lookup)
		if res.Failed {
			t.Fatalf("%s (%s, %s): decryption failed: %s", want.ID, want.Kind, want.Format, res.Reason)
		}
		if res.Format != formats[want.Format] {
			t.Errorf("%s: format %v, want %v", want.ID, res.Format, want.Format)
		}
		verdict := crypto.SigUnsigned
		switch {
		case want.Signer != "" && want.SignerKnown:
			verdict = crypto.SigValid
		case want.Signer != "":
			verdict = crypto.SigUnknownKey
		}
		if res.Signature != verdict {
			t.Errorf("%s (%s): signature %v, want %v", want.ID, want.Format, res.Signature, verdict)
		}
		sameContent(t, want, res.Message)
	}
}

// sameContent compares the headers a reader sees and every decoded leaf
// part of the decrypted message with the seeded plaintext.
func sameContent(t *testing.T, want SeedMessage, got []byte) {
	t.Helper()
	wm, wparts := leafParts(t, want.Raw)
	gm, gparts := leafParts(t, got)
	dec := new(mime.WordDecoder)
	for _, f := range []string{"From", "To", "Subject", "Date", "Message-ID", "In-Reply-To", "References"} {
		w, _ := dec.DecodeHeader(wm.Header.Get(f))
		g, _ := dec.DecodeHeader(gm.Header.Get(f))
		if w != g {
			t.Errorf("%s (%s): %s = %q, want %q", want.ID, want.Format, f, g, w)
		}
	}
	if len(gparts) != len(wparts) {
		t.Errorf("%s (%s): parts %d, want %d", want.ID, want.Format, len(gparts), len(wparts))
	}
	for typ, ws := range wparts {
		gs := gparts[typ]
		if len(gs) != len(ws) {
			t.Errorf("%s (%s): %d %s parts, want %d", want.ID, want.Format, len(gs), typ, len(ws))
			continue
		}
		for i := range ws {
			if !bytes.Equal(bytes.TrimRight(gs[i], "\r\n"), bytes.TrimRight(ws[i], "\r\n")) {
				t.Errorf("%s (%s): %s part %d differs", want.ID, want.Format, typ, i)
			}
		}
	}
}

// TestDeliverDecrypts checks Deliver's formats and signing.
func TestDeliverDecrypts(t *testing.T) {
	s, sess := newAccount(t)
	ctx := context.Background()
	armored, _ := sess.PrivateKeys(ctx)
	keys, err := crypto.UnlockKeys(armored, []byte(testPass))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := crypto.ArmorPublicKey(AliceKey())
	if err := s.PublishKey(AliceEmail, pub); err != nil {
		t.Fatal(err)
	}
	alice, _ := crypto.ReadKeys(pub)
	lookup := func(addr string) openpgp.EntityList {
		if bytes.Contains([]byte(addr), []byte(AliceEmail)) {
			return alice
		}
		return nil
	}
	plain := []byte("From: Alice <alice@example.test>\r\nTo: demo@example.test\r\nSubject: Hello\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\nHello there.\r\n")
	for _, f := range []Format{FormatPGPMIME, FormatInline, FormatWhole} {
		id, err := s.DeliverSigned(testUser, plain, []string{upstream.Archive}, f, AliceKey())
		if err != nil {
			t.Fatal(err)
		}
		m, err := sess.GetMessage(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		res := crypto.Decrypt(m.Raw, keys, lookup)
		if res.Failed || res.Signature != crypto.SigValid || !bytes.Contains(res.Message, []byte("Hello there.")) {
			t.Fatalf("%v: %+v", f, res)
		}
	}
}
