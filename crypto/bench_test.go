package crypto

import (
	"bytes"
	"strings"
	"testing"
)

// message10K is a realistic 10 KiB text message.
func message10K() []byte {
	var b bytes.Buffer
	b.WriteString("From: Alice <alice@example.org>\r\nTo: Bob <bob@example.net>\r\nSubject: Quarterly numbers\r\n")
	b.WriteString("Date: Mon, 02 Jan 2006 15:04:05 +0000\r\nMessage-ID: <bench@example.org>\r\nMIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\n")
	line := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 2)[:76] + "\r\n"
	for b.Len() < 10<<10 {
		b.WriteString(line)
	}
	return b.Bytes()
}

func reportRate(b *testing.B, size int) {
	b.SetBytes(int64(size))
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkDecryptPGPMIME10K decrypts and verifies a signed 10 KiB
// PGP/MIME message (Curve25519), the common case at sync.
func BenchmarkDecryptPGPMIME10K(b *testing.B) {
	alice, bob := key(b, "alice"), key(b, "bob")
	msg := message10K()
	enc, err := EncryptMIME(msg, list(bob), alice)
	if err != nil {
		b.Fatal(err)
	}
	keys, lookup := list(bob), directory(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if res := Decrypt(enc, keys, lookup); res.Failed || res.Signature != SigValid {
			b.Fatalf("failed=%v verdict=%v", res.Failed, res.Signature)
		}
	}
	reportRate(b, len(enc))
}

// BenchmarkEncryptMIME10K signs and encrypts a 10 KiB message to two
// recipients, as the SMTP path does.
func BenchmarkEncryptMIME10K(b *testing.B) {
	alice, bob := key(b, "alice"), key(b, "bob")
	msg := message10K()
	to := list(alice, bob)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := EncryptMIME(msg, to, alice); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, len(msg))
}
