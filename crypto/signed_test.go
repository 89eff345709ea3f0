package crypto

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestSignMIMEVerdicts(t *testing.T) {
	alice, mallory := key(t, "alice"), key(t, "mallory")
	signed, err := SignMIME([]byte(simpleMsg), alice)
	if err != nil {
		t.Fatal(err)
	}
	ct := headerOf(t, signed, "Content-Type")
	for _, want := range []string{"multipart/signed;", "micalg=pgp-sha256", `protocol="application/pgp-signature"`} {
		if !strings.Contains(ct, want) {
			t.Errorf("Content-Type %q lacks %q", ct, want)
		}
	}
	if !bytes.Contains(signed, []byte("-----BEGIN PGP SIGNATURE-----\r\n")) {
		t.Error("signature not armored as PGP SIGNATURE")
	}
	// RFC 9788 for signed-only mail: hp="clear" on the signed entity, the
	// Subject readable outside, and no HP-Outer fields (nothing is hidden).
	if !bytes.Contains(signed, []byte(`Content-Type: text/plain; charset=utf-8; hp="clear"; protected-headers="v1"`+"\r\n")) ||
		bytes.Contains(signed, []byte("HP-Outer")) || headerOf(t, signed, "Subject") == obscuredSubject {
		t.Errorf("signed entity lacks RFC 9788 clear header protection:\n%s", signed)
	}
	if countField(signed, "Bcc") != 0 || bytes.Contains(signed, []byte("hidden@")) {
		t.Error("Bcc leaked into signed message")
	}
	checkCRLF(t, signed)
	forged, err := SignMIME([]byte(simpleMsg), mallory)
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Replace(signed, []byte("Grüße!"), []byte("Grüsse"), 1)
	if bytes.Equal(tampered, signed) {
		t.Fatal("tampering did not change the message")
	}
	cases := []struct {
		name    string
		raw     []byte
		lookup  SenderKeys
		verdict Verdict
	}{
		{"valid", signed, directory(t), SigValid},
		{"valid with LF line endings", bytes.ReplaceAll(signed, []byte("\r\n"), []byte("\n")), directory(t), SigValid},
		{"unknown key", signed, nil, SigUnknownKey},
		{"forged", forged, directory(t), SigUnknownKey},
		{"invalid", tampered, directory(t), SigInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := Decrypt(c.raw, nil, c.lookup)
			if res.Failed || res.Format != FormatSigned {
				t.Fatalf("failed=%v format=%v", res.Failed, res.Format)
			}
			if res.Signature != c.verdict {
				t.Errorf("verdict %q, want %q", res.Signature, c.verdict)
			}
			if got := headerOf(t, res.Message, HeaderSignature); got != string(c.verdict) {
				t.Errorf("header verdict %q", got)
			}
			checkCRLF(t, res.Message)
		})
	}
}

// TestSignedThenEncrypted covers RFC 3156 §6.1: a multipart/signed inside
// the encryption, verified and unwrapped, with protected headers.
func TestSignedThenEncrypted(t *testing.T) {
	alice, bob := key(t, "alice"), key(t, "bob")
	signed, err := SignMIME([]byte(simpleMsg), alice)
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Replace(signed, []byte("Grüße!"), []byte("Grüsse"), 1)
	for _, c := range []struct {
		name    string
		inner   []byte
		verdict Verdict
	}{{"valid", signed, SigValid}, {"invalid", tampered, SigInvalid}} {
		t.Run(c.name, func(t *testing.T) {
			// EncryptMIME protects the multipart/signed entity as it is.
			enc, err := EncryptMIME(c.inner, list(bob), nil)
			if err != nil {
				t.Fatal(err)
			}
			res := Decrypt(enc, list(bob), directory(t))
			if res.Failed || res.Signature != c.verdict {
				t.Fatalf("failed=%v verdict=%v reason=%s", res.Failed, res.Signature, res.Reason)
			}
			if got := headerOf(t, res.Message, "Content-Type"); !strings.HasPrefix(got, "text/plain") {
				t.Errorf("multipart/signed not unwrapped: Content-Type %q", got)
			}
			if headerOf(t, res.Message, "Subject") == "..." {
				t.Error("outer obscured subject won over the protected one")
			}
			if !bytes.Contains(res.Message, []byte("Grü")) {
				t.Error("body missing")
			}
		})
	}
}

// TestPacketSignatureInvalid alters a verified plaintext: the in-packet
// signature must then be reported invalid.
func TestPacketSignatureInvalid(t *testing.T) {
	alice, bob := key(t, "alice"), key(t, "bob")
	enc, err := EncryptWhole([]byte(simpleMsg), list(bob), alice)
	if err != nil {
		t.Fatal(err)
	}
	d := &decoder{keys: list(bob), senderKeys: directory(t), cfg: newConfig()}
	blk, err := decodeArmor(enc, 0)
	if err != nil {
		t.Fatal(err)
	}
	o, err := d.open(blk.Data)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := d.check(o, "alice@example.org"); v != SigValid {
		t.Fatalf("untouched: %v", v)
	}
	o.plain[len(o.plain)-2] ^= 1
	if v, _ := d.check(o, "alice@example.org"); v != SigInvalid {
		t.Errorf("altered plaintext: verdict %v, want invalid", v)
	}
	o.sigs = nil
	if v, _ := d.check(o, "alice@example.org"); v != SigInvalid {
		t.Errorf("missing signature packet: verdict %v, want invalid", v)
	}
}

func TestInlineClearsigned(t *testing.T) {
	alice := key(t, "alice")
	var cs bytes.Buffer
	w, err := clearsignEncode(&cs, alice)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(w, "Meet me at noon.\n- not a dash line\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	raw := []byte("From: Alice <alice@example.org>\r\nSubject: plan\r\n\r\nHi,\r\n\r\n" + cs.String() + "\r\nbye\r\n")
	res := Decrypt(raw, nil, directory(t))
	if res.Failed || res.Format != FormatInline || res.Signature != SigValid {
		t.Fatalf("failed=%v format=%v verdict=%v", res.Failed, res.Format, res.Signature)
	}
	body := string(bodyOf(res.Message))
	if !strings.Contains(body, "Hi,\r\n\r\nMeet me at noon.\r\n- not a dash line") || !strings.HasSuffix(body, "bye\r\n") || strings.Contains(body, "BEGIN PGP") {
		t.Errorf("body = %q", body)
	}
	bad := bytes.Replace(raw, []byte("noon"), []byte("dawn"), 1)
	if res := Decrypt(bad, nil, directory(t)); res.Signature != SigInvalid {
		t.Errorf("altered clearsigned text: verdict %v", res.Signature)
	}
}

func TestFormatString(t *testing.T) {
	for f, want := range map[Format]string{FormatPlain: "plain", FormatPGPMIME: "pgp-mime", FormatInline: "inline", FormatWhole: "whole", FormatSigned: "signed", Format(99): "unknown"} {
		if f.String() != want {
			t.Errorf("%d: %q", f, f.String())
		}
	}
}
