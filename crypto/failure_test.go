package crypto

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message"
)

// checkFailed asserts a failure result: flagged, explained, original kept,
// and well-formed MIME for an independent parser (go-message).
func checkFailed(t *testing.T, res *Result, original []byte, secret string) {
	t.Helper()
	if res == nil || !res.Failed {
		t.Fatalf("want a failure, got %+v", res)
	}
	if res.Reason == "" || res.Signature != SigUnsigned {
		t.Errorf("reason %q, verdict %q", res.Reason, res.Signature)
	}
	if got := headerOf(t, res.Message, HeaderDecryption); got != "failed" {
		t.Errorf("%s = %q", HeaderDecryption, got)
	}
	if secret != "" && bytes.Contains(res.Message, []byte(secret)) {
		t.Error("failure message contains plaintext")
	}
	checkCRLF(t, res.Message)
	ent, err := message.Read(bytes.NewReader(res.Message))
	if err != nil {
		t.Fatal(err)
	}
	mr := ent.MultipartReader()
	if mr == nil {
		t.Fatal("failure message is not multipart")
	}
	first, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(first.Body)
	if !strings.HasPrefix(string(text), "This message could not be decrypted by mailbridge: "+res.Reason) {
		t.Errorf("explanation = %q", text)
	}
	second, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	kept, _ := io.ReadAll(second.Body)
	if !bytes.Equal(kept, toCRLF(original)) && !bytes.Equal(kept, original) {
		t.Errorf("original not kept: got %d bytes, want %d", len(kept), len(original))
	}
}

// tamper flips one base64 character near the end of the armored block,
// inside the encrypted data packet.
func tamper(t *testing.T, msg []byte) []byte {
	t.Helper()
	out := bytes.Clone(msg)
	end := bytes.Index(out, []byte("\r\n="))
	if end < 0 {
		t.Fatal("no armor checksum line")
	}
	i := end - 10
	if out[i] == 'A' {
		out[i] = 'B'
	} else {
		out[i] = 'A'
	}
	return out
}

func TestDecryptFailures(t *testing.T) {
	alice, bob, mallory := key(t, "alice"), key(t, "bob"), key(t, "mallory")
	mime, err := EncryptMIME([]byte(simpleMsg), list(bob), alice)
	if err != nil {
		t.Fatal(err)
	}
	whole, err := EncryptWhole([]byte(simpleMsg), list(bob), nil)
	if err != nil {
		t.Fatal(err)
	}
	inline, err := EncryptInline([]byte(simpleMsg), list(bob), nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		raw    []byte
		format Format
		reason string
	}{
		{"pgp-mime wrong key", mime, FormatPGPMIME, "no matching private key"},
		{"pgp-mime tampered", tamper(t, mime), FormatPGPMIME, "the encrypted data was modified or is corrupt"},
		{"whole tampered", tamper(t, whole), FormatWhole, "the encrypted data was modified or is corrupt"},
		{"inline tampered", tamper(t, inline), FormatInline, ""},
		{"whole truncated armor", whole[:len(whole)/2], FormatWhole, "the encrypted data is truncated"},
		{"pgp-mime truncated", mime[:len(mime)*2/3], FormatPGPMIME, ""},
		{"whole truncated binary", mustPayload(t, mime)[:100], FormatWhole, ""},
		{"empty", nil, FormatPlain, "empty message"},
		{"garbage text", []byte("just some words\nwithout a header\n"), FormatPlain, "not a mail message"},
		{"garbage binary", []byte("\xff\xfe\x00\x01garbage"), FormatWhole, ""},
		{"garbage armor", []byte("-----BEGIN PGP MESSAGE-----\n\n!!!notbase64***\n-----END PGP MESSAGE-----\n"), FormatWhole, ""},
		{"pgp-mime without payload", []byte("Subject: x\r\nContent-Type: multipart/encrypted; boundary=b\r\n\r\n--b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n--b--\r\n"), FormatPGPMIME, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			keys := list(bob)
			if strings.Contains(c.name, "wrong key") {
				keys = list(mallory)
			}
			res := Decrypt(c.raw, keys, directory(t))
			t.Logf("reason: %s", res.Reason)
			checkFailed(t, res, c.raw, "schöne")
			if res.Format != c.format {
				t.Errorf("format = %v, want %v", res.Format, c.format)
			}
			if c.reason != "" && res.Reason != c.reason {
				t.Errorf("reason = %q, want %q", res.Reason, c.reason)
			}
		})
	}
}

// TestDecryptKeepsOuterHeadersOnFailure: the failure notice is still
// threaded and addressed like the original.
func TestDecryptKeepsOuterHeadersOnFailure(t *testing.T) {
	mime, err := EncryptMIME([]byte(simpleMsg), list(key(t, "bob")), nil)
	if err != nil {
		t.Fatal(err)
	}
	res := Decrypt(mime, list(key(t, "mallory")), nil)
	for _, name := range []string{"From", "To", "Message-ID", "Date"} {
		if headerOf(t, res.Message, name) == "" {
			t.Errorf("failure message lost %s", name)
		}
	}
	if n := countField(res.Message, "Content-Type"); n != 1 {
		t.Errorf("%d Content-Type fields", n)
	}
}

func TestDecryptStripsSpoofedVerdict(t *testing.T) {
	bob := key(t, "bob")
	spoofed := "X-Mailbridge-Signature: valid\nx-mailbridge-decryption: ok\n" + simpleMsg
	plain := Decrypt([]byte(spoofed), list(bob), directory(t))
	if plain.Format != FormatPlain || plain.Failed {
		t.Fatalf("plain: format %v failed %v", plain.Format, plain.Failed)
	}
	if n := countField(plain.Message, HeaderSignature); n != 1 || headerOf(t, plain.Message, HeaderSignature) != "unsigned" {
		t.Errorf("plain: %d verdict fields, value %q", n, headerOf(t, plain.Message, HeaderSignature))
	}
	if countField(plain.Message, HeaderDecryption) != 0 {
		t.Error("spoofed decryption field kept")
	}

	// Inside the encrypted part (a protected header) it must go too.
	enc, err := EncryptMIME([]byte(spoofed), list(bob), nil)
	if err != nil {
		t.Fatal(err)
	}
	inner, err := (&decoder{keys: list(bob), cfg: newConfig()}).open(mustPayload(t, enc))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(inner.plain, []byte("X-Mailbridge")) {
		t.Error("EncryptMIME copied X-Mailbridge fields")
	}
	withInner := bytes.Replace(inner.plain, []byte("Subject:"), []byte("X-Mailbridge-Signature: valid\r\nSubject:"), 1)
	whole, err := EncryptWhole(withInner, list(bob), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range [][]byte{whole, wrapPGPMIME(t, "From: alice@example.org\r\nSubject: ...\r\n", whole)} {
		res := Decrypt(raw, list(bob), directory(t))
		if res.Failed {
			t.Fatal(res.Reason)
		}
		if got := string(res.Message); strings.Contains(got, ": valid") {
			t.Errorf("%v: spoofed verdict survived:\n%s", res.Format, got)
		}
	}
}

// wrapPGPMIME puts an armored OpenPGP message into a multipart/encrypted
// message with the given outer header fields, as another client would.
func wrapPGPMIME(t testing.TB, outer string, armored []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString(outer)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: multipart/encrypted;\r\n\tprotocol=\"application/pgp-encrypted\"; boundary=\"=-=outer=-=\"\r\n\r\n")
	b.WriteString("--=-=outer=-=\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n")
	b.WriteString("--=-=outer=-=\r\nContent-Type: application/octet-stream\r\n\r\n")
	b.Write(armored)
	b.WriteString("\r\n--=-=outer=-=--\r\n")
	return b.Bytes()
}
