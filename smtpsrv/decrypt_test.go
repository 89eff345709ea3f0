package smtpsrv

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/emersion/go-message"

	"github.com/mailbridge/mailbridge/crypto"
)

// pgpPayload returns the armored OpenPGP message inside a PGP/MIME
// multipart/encrypted message (RFC 3156: the second part).
func pgpPayload(t *testing.T, raw []byte) []byte {
	t.Helper()
	ent, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse PGP/MIME: %v", err)
	}
	if mt, params, _ := ent.Header.ContentType(); mt != "multipart/encrypted" || params["protocol"] != "application/pgp-encrypted" {
		t.Fatalf("Content-Type %q %v, want multipart/encrypted for PGP", mt, params)
	}
	mr := ent.MultipartReader()
	var parts [][]byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("PGP/MIME part: %v", err)
		}
		b, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, b)
	}
	if len(parts) != 2 {
		t.Fatalf("%d parts in multipart/encrypted, want 2", len(parts))
	}
	return parts[1]
}

// decryptAs decrypts raw with key through crypto.Decrypt, the bridge's own
// reader, and checks it arrived in format and carries a valid signature by
// signer. The gpg tests check the same messages with an independent
// implementation.
func decryptAs(t *testing.T, raw []byte, format crypto.Format, key, signer *openpgp.Entity) []byte {
	t.Helper()
	senderKeys := func(addr string) openpgp.EntityList {
		if strings.EqualFold(addr, aliceAddr) {
			return openpgp.EntityList{signer}
		}
		return nil
	}
	res := crypto.Decrypt(raw, openpgp.EntityList{key}, senderKeys)
	if res.Failed {
		t.Fatalf("decrypt failed: %s", res.Reason)
	}
	if res.Format != format {
		t.Errorf("format %v, want %v", res.Format, format)
	}
	want := fmt.Sprintf("%X", signer.PrimaryKey.Fingerprint)
	if res.Signature != crypto.SigValid || res.Signer != want {
		t.Errorf("signature %q by %s, want valid by %s", res.Signature, res.Signer, want)
	}
	return res.Message
}
