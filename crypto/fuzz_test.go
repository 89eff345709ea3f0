package crypto

import (
	"bytes"
	"testing"
)

// FuzzDecrypt feeds arbitrary input to Decrypt: it must always return a
// message, and a failure must keep the input.
func FuzzDecrypt(f *testing.F) {
	alice, bob := key(f, "alice"), key(f, "bob")
	msg := []byte(simpleMsg)
	for _, enc := range []encryptFunc{EncryptMIME, EncryptInline, EncryptWhole} {
		out, err := enc(msg, list(bob), alice)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(out)
	}
	signed, err := SignMIME(msg, alice)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	f.Add(msg)
	f.Add([]byte{})
	f.Add([]byte("\x85\x01\x0c\x03"))
	f.Add([]byte("Content-Type: multipart/encrypted; boundary=x\r\n\r\n--x\r\n\r\n--x\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n\r\nwcBMA\r\n--x--"))
	keys, lookup := list(bob), directory(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		res := Decrypt(raw, keys, lookup)
		if res == nil || len(res.Message) == 0 && len(raw) > 0 {
			t.Fatal("no message")
		}
		if res.Reason == reasonPanic {
			t.Fatal("Decrypt recovered from a panic")
		}
		if res.Failed && len(raw) > 0 && !bytes.Contains(res.Message, raw) && !bytes.Contains(res.Message, toCRLF(raw)) {
			// Binary originals are attached base64-encoded.
			if !bytes.Contains(res.Message, []byte("Content-Transfer-Encoding: base64")) {
				t.Fatal("failure dropped the original")
			}
		}
	})
}
