package crypto

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
)

type encryptFunc func([]byte, openpgp.EntityList, *openpgp.Entity) ([]byte, error)

var formats = []struct {
	name    string
	encrypt encryptFunc
	format  Format
}{
	{"pgp-mime", EncryptMIME, FormatPGPMIME},
	{"inline", EncryptInline, FormatInline},
	{"whole", EncryptWhole, FormatWhole},
}

// TestRoundTripVerdicts encrypts in every format, signed and unsigned, and
// checks the plaintext and the verdict for each kind of sender lookup.
func TestRoundTripVerdicts(t *testing.T) {
	alice, bob, mallory := key(t, "alice"), key(t, "bob"), key(t, "mallory")
	wrongKeys := func(string) openpgp.EntityList { return list(mallory) }
	cases := []struct {
		name    string
		signer  *openpgp.Entity
		lookup  SenderKeys
		verdict Verdict
	}{
		{"unsigned", nil, directory(t), SigUnsigned},
		{"valid", alice, directory(t), SigValid},
		{"no lookup", alice, nil, SigUnknownKey},
		{"other sender key", alice, wrongKeys, SigUnknownKey},
		// Signed by Mallory while claiming to be from Alice.
		{"forged sender", mallory, directory(t), SigUnknownKey},
	}
	msg := []byte(simpleMsg)
	for _, f := range formats {
		for _, c := range cases {
			t.Run(f.name+"/"+c.name, func(t *testing.T) {
				enc, err := f.encrypt(msg, list(bob), c.signer)
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(enc, []byte("schöne")) || bytes.Contains(enc, []byte("hidden@example.com")) {
					t.Fatal("plaintext or Bcc visible in encrypted output")
				}
				res := Decrypt(enc, list(bob), c.lookup)
				if res.Failed {
					t.Fatalf("failed: %s", res.Reason)
				}
				if res.Format != f.format {
					t.Errorf("format = %v, want %v", res.Format, f.format)
				}
				if res.Signature != c.verdict {
					t.Errorf("verdict = %q, want %q", res.Signature, c.verdict)
				}
				wantSigner := ""
				if c.verdict == SigValid {
					wantSigner = fmt.Sprintf("%X", alice.PrimaryKey.Fingerprint)
				}
				if res.Signer != wantSigner {
					t.Errorf("signer = %q, want %q", res.Signer, wantSigner)
				}
				if f.format == FormatWhole {
					if !bytes.Equal(res.Message, msg) {
						t.Fatalf("whole round trip not byte-identical:\n%q", res.Message)
					}
					return
				}
				checkCRLF(t, res.Message)
				if got := headerOf(t, res.Message, HeaderSignature); got != string(c.verdict) {
					t.Errorf("%s = %q, want %q", HeaderSignature, got, c.verdict)
				}
				if !strings.HasPrefix(string(res.Message), HeaderSignature+": ") {
					t.Error("verdict field is not at the top")
				}
				if got, want := string(bodyOf(res.Message)), string(bodyOf(crlf(simpleMsg))); got != want {
					t.Errorf("body = %q, want %q", got, want)
				}
				if got := headerOf(t, res.Message, "Subject"); got != "=?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=" {
					t.Errorf("Subject = %q", got)
				}
				if f.format == FormatPGPMIME && countField(res.Message, "Bcc") != 0 {
					t.Error("Bcc survived PGP/MIME encryption")
				}
				for _, name := range []string{"Subject", "From", "To", "Date", "Message-ID"} {
					if n := countField(res.Message, name); n != 1 {
						t.Errorf("%d %s fields, want 1", n, name)
					}
				}
			})
		}
	}
}

// TestEncryptMIMEProtectedHeaders checks the RFC 9788 layout: "[...]"
// outside, the real subject and HP-Outer fields inside, and Decrypt
// restoring the real subject without the HP-Outer bookkeeping.
func TestEncryptMIMEProtectedHeaders(t *testing.T) {
	bob := key(t, "bob")
	raw := []byte("From: alice@example.org\nTo: bob@example.net\nBcc: dave@example.com\nSubject: Geheimnis über Ärger\nX-Mailer: test\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\nsecret\n")
	enc, err := EncryptMIME(raw, list(bob), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := headerOf(t, enc, "Subject"); got != "[...]" {
		t.Errorf("outer Subject = %q, want [...]", got)
	}
	if bytes.Contains(enc, []byte("Geheimnis")) {
		t.Error("real subject leaked into the outer header")
	}
	ct := headerOf(t, enc, "Content-Type")
	if !strings.HasPrefix(ct, "multipart/encrypted;") || !strings.Contains(ct, `protocol="application/pgp-encrypted"`) {
		t.Errorf("outer Content-Type = %q", ct)
	}
	o, err := (&decoder{keys: list(bob), cfg: newConfig()}).open(mustPayload(t, enc))
	if err != nil {
		t.Fatal(err)
	}
	inner := string(o.plain)
	for _, want := range []string{
		`Content-Type: text/plain; charset=utf-8; hp="cipher"; protected-headers="v1"` + "\r\n",
		"Subject: Geheimnis über Ärger\r\n", "From: alice@example.org\r\n", "X-Mailer: test\r\n",
		"HP-Outer: Subject: [...]\r\n", "HP-Outer: To: bob@example.net\r\n", "HP-Outer: X-Mailer: test\r\n",
	} {
		if !strings.Contains(inner, want) {
			t.Errorf("inner entity lacks %q:\n%s", want, inner)
		}
	}
	for _, leak := range []string{"MIME-Version", "dave@example.com", "HP-Outer: Content-Type", "HP-Outer: MIME-Version"} {
		if strings.Contains(inner, leak) {
			t.Errorf("inner entity contains %q:\n%s", leak, inner)
		}
	}
	if bytes.Contains(enc, []byte("dave@example.com")) {
		t.Error("Bcc leaked into the outer header")
	}
	res := Decrypt(enc, list(bob), nil)
	if got := headerOf(t, res.Message, "Subject"); got != "Geheimnis über Ärger" {
		t.Errorf("decrypted Subject = %q", got)
	}
	if bytes.Contains(res.Message, []byte("HP-Outer")) {
		t.Errorf("decrypted message shows HP-Outer fields:\n%s", res.Message)
	}
}

// mustPayload extracts the binary OpenPGP message of a PGP/MIME message.
func mustPayload(t testing.TB, msg []byte) []byte {
	t.Helper()
	_, body := splitMessage(msg)
	hdr, _ := splitMessage(msg)
	h, _ := parseHeader(hdr)
	_, params := mediaType(h.get("Content-Type"))
	parts, err := splitMultipart(body, params["boundary"])
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 || !bytes.Contains(parts[0], []byte("Version: 1")) {
		t.Fatalf("want 2 parts with a version part, got %d", len(parts))
	}
	data, err := encryptedPayload(parts)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestRoundTripAttachment(t *testing.T) {
	alice, bob := key(t, "alice"), key(t, "bob")
	msg := attachmentMsg()
	for _, f := range []struct {
		name string
		enc  encryptFunc
	}{{"pgp-mime", EncryptMIME}, {"whole", EncryptWhole}} {
		t.Run(f.name, func(t *testing.T) {
			enc, err := f.enc(msg, list(bob), alice)
			if err != nil {
				t.Fatal(err)
			}
			res := Decrypt(enc, list(bob), directory(t))
			if res.Failed || res.Signature != SigValid {
				t.Fatalf("failed=%v verdict=%v reason=%s", res.Failed, res.Signature, res.Reason)
			}
			if !bytes.Equal(bodyOf(res.Message), bodyOf(msg)) {
				t.Error("multipart body with binary attachment changed")
			}
			if mt, _ := mediaType(headerOf(t, res.Message, "Content-Type")); mt != "multipart/mixed" {
				t.Errorf("Content-Type = %q, want multipart/mixed", mt)
			}
		})
	}
}

func TestEncryptInlineRefusesMultipart(t *testing.T) {
	if _, err := EncryptInline(attachmentMsg(), list(key(t, "bob")), nil); err == nil {
		t.Fatal("EncryptInline accepted a multipart message")
	}
}

func TestEncryptRefusesBadInput(t *testing.T) {
	bob := key(t, "bob")
	for name, fn := range map[string]encryptFunc{"mime": EncryptMIME, "inline": EncryptInline, "whole": EncryptWhole} {
		if _, err := fn(nil, list(bob), nil); err == nil {
			t.Errorf("%s: empty message accepted", name)
		}
		if _, err := fn([]byte(simpleMsg), nil, nil); err == nil {
			t.Errorf("%s: no recipients accepted", name)
		}
	}
	locked, err := ReadKeys(mustRead(t, "testdata/alice.asc"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := EncryptMIME([]byte(simpleMsg), list(bob), locked[0]); err == nil {
		t.Error("locked signer accepted")
	}
	if _, err := SignMIME([]byte(simpleMsg), nil); err == nil {
		t.Error("nil signer accepted")
	}
}

// TestDecryptConcurrent: sync runs decrypt workers in parallel over the
// same keys; -race checks nothing is shared unsafely.
func TestDecryptConcurrent(t *testing.T) {
	alice, bob := key(t, "alice"), key(t, "bob")
	enc, err := EncryptMIME([]byte(simpleMsg), list(bob), alice)
	if err != nil {
		t.Fatal(err)
	}
	keys, lookup := list(bob), directory(t)
	errs := make(chan string, 8)
	for range 8 {
		go func() {
			for range 5 {
				if res := Decrypt(enc, keys, lookup); res.Failed || res.Signature != SigValid {
					errs <- fmt.Sprintf("failed=%v verdict=%v", res.Failed, res.Signature)
					return
				}
			}
			errs <- ""
		}()
	}
	for range 8 {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
}
