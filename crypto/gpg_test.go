package crypto

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// gpgHome is a throwaway GnuPG home holding Alice's secret key, Bob's
// public key and a fresh RSA-2048 key ("Gerda") that GnuPG generated.
type gpgHome struct {
	dir   string
	gerda *openpgp.Entity // Gerda's key as exported by gpg, unlocked
}

func newGPG(t *testing.T) *gpgHome {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Skip("gpg not installed")
	}
	// Short path: gpg-agent's socket path must stay under ~100 bytes.
	dir, err := os.MkdirTemp("", "mbgpg")
	if err != nil {
		t.Fatal(err)
	}
	g := &gpgHome{dir: dir}
	t.Cleanup(func() {
		cmd := exec.Command("gpgconf", "--kill", "all")
		cmd.Env = append(os.Environ(), "GNUPGHOME="+dir)
		_ = cmd.Run()
		os.RemoveAll(dir)
	})
	alicePub, err := ArmorPublicKey(key(t, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	bobPub, err := ArmorPublicKey(key(t, "bob"))
	if err != nil {
		t.Fatal(err)
	}
	g.run(t, nil, "--import", g.file(t, "alice-pub.asc", alicePub))
	g.run(t, nil, "--import", filepath.Join(mustAbs(t, "testdata"), "alice.asc"))
	g.run(t, nil, "--import", g.file(t, "bob.asc", bobPub))
	g.run(t, nil, "--quick-generate-key", "Gerda <gerda@example.de>", "rsa2048", "default", "never")
	g.run(t, nil, "--quick-add-key", g.fingerprint(t, "gerda@example.de"), "rsa2048", "encr", "never")
	sec := g.run(t, nil, "--armor", "--export-secret-keys", "gerda@example.de")
	el, err := UnlockKeys(sec, []byte(fixturePassphrase))
	if err != nil {
		t.Fatal(err)
	}
	g.gerda = el[0]
	return g
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// file writes data into the GnuPG home and returns its path.
func (g *gpgHome) file(t *testing.T, name string, data []byte) string {
	p := filepath.Join(g.dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// run runs gpg non-interactively and returns stdout; it fails the test on
// a non-zero exit.
func (g *gpgHome) run(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	out, stderr, err := g.try(stdin, args...)
	if err != nil {
		t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

func (g *gpgHome) try(stdin []byte, args ...string) (stdout, stderr []byte, err error) {
	base := []string{"--homedir", g.dir, "--batch", "--yes", "--no-tty", "--pinentry-mode", "loopback",
		"--passphrase", fixturePassphrase, "--trust-model", "always"}
	cmd := exec.Command("gpg", append(base, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.Bytes(), e.Bytes(), err
}

func (g *gpgHome) fingerprint(t *testing.T, uid string) string {
	out := g.run(t, nil, "--with-colons", "--list-keys", uid)
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "fpr:") {
			return strings.Split(line, ":")[9]
		}
	}
	t.Fatalf("no fingerprint for %s", uid)
	return ""
}

// lookup adds Gerda to the test directory.
func (g *gpgHome) lookup(t *testing.T) SenderKeys {
	dir := directory(t)
	return func(addr string) openpgp.EntityList {
		if addr == "gerda@example.de" {
			return list(g.gerda)
		}
		return dir(addr)
	}
}

// partsOf splits a top-level multipart message.
func partsOf(t *testing.T, msg []byte) [][]byte {
	t.Helper()
	hdr, body := splitMessage(msg)
	h, _ := parseHeader(hdr)
	_, params := mediaType(h.get("Content-Type"))
	parts, err := splitMultipart(body, params["boundary"])
	if err != nil || len(parts) != 2 {
		t.Fatalf("want 2 parts, got %d (%v)", len(parts), err)
	}
	return parts
}

// TestGPGInterop runs the GnuPG checks against one GnuPG home, since
// generating its RSA key takes seconds.
func TestGPGInterop(t *testing.T) {
	g := newGPG(t)
	t.Run("gpg decrypts EncryptMIME", func(t *testing.T) { gpgDecryptsEncryptMIME(t, g) })
	t.Run("gpg verifies SignMIME", func(t *testing.T) { gpgVerifiesSignMIME(t, g) })
	t.Run("Decrypt reads gpg output", func(t *testing.T) { decryptGPGOutput(t, g) })
}

// gpgDecryptsEncryptMIME: gpg decrypts and verifies our PGP/MIME, for
// a Curve25519 and an RSA recipient.
func gpgDecryptsEncryptMIME(t *testing.T, g *gpgHome) {
	alice := key(t, "alice")
	for _, to := range []*openpgp.Entity{alice, g.gerda} {
		enc, err := EncryptMIME([]byte(simpleMsg), list(to), alice)
		if err != nil {
			t.Fatal(err)
		}
		_, armored := splitMessage(partsOf(t, enc)[1])
		out, stderr, err := g.try(nil, "--status-fd", "2", "--decrypt", g.file(t, "enc.asc", armored))
		if err != nil {
			t.Fatalf("gpg --decrypt: %v\n%s", err, stderr)
		}
		if !bytes.Contains(out, []byte("\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=\r\n")) || !bytes.Contains(out, []byte("Hallo Bob, schöne Grüße!\r\n")) {
			t.Errorf("gpg plaintext:\n%s", out)
		}
		if !bytes.Contains(stderr, []byte("[GNUPG:] GOODSIG")) || !bytes.Contains(stderr, []byte(fmt.Sprintf("VALIDSIG %X", alice.PrimaryKey.Fingerprint))) {
			t.Errorf("gpg did not verify the signature:\n%s", stderr)
		}
	}
}

// gpgVerifiesSignMIME: the signed part, as it sits in the message, and
// the detached signature verify with gpg.
func gpgVerifiesSignMIME(t *testing.T, g *gpgHome) {
	signed, err := SignMIME(attachmentMsg(), key(t, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	parts := partsOf(t, signed)
	_, sig := splitMessage(parts[1])
	_, stderr, err := g.try(nil, "--status-fd", "2", "--verify", g.file(t, "sig.asc", sig), g.file(t, "data", parts[0]))
	if err != nil || !bytes.Contains(stderr, []byte("[GNUPG:] GOODSIG")) {
		t.Fatalf("gpg --verify: %v\n%s", err, stderr)
	}
	tampered := bytes.Replace(parts[0], []byte("See attached"), []byte("See attacked"), 1)
	if _, _, err := g.try(nil, "--verify", g.file(t, "sig.asc", sig), g.file(t, "data", tampered)); err == nil {
		t.Fatal("gpg verified a tampered part: the test cannot tell good from bad")
	}
}

// decryptGPGOutput: what gpg --encrypt --sign produces, whole, inline
// and wrapped in PGP/MIME, signed with Gerda's RSA key; and gpg output
// encrypted to the RSA key, decrypted with that key.
func decryptGPGOutput(t *testing.T, g *gpgHome) {
	alice := key(t, "alice")
	gerdaFpr := fmt.Sprintf("%X", g.gerda.PrimaryKey.Fingerprint)
	msg := []byte("From: Gerda <gerda@example.de>\nTo: alice@example.org\nSubject: Grüße\nContent-Type: text/plain; charset=utf-8\n\nHallo Alice\n")
	encSign := func(to string, armor bool, in []byte) []byte {
		args := []string{"--encrypt", "--sign", "--local-user", "gerda@example.de", "--recipient", to}
		if armor {
			args = append(args, "--armor")
		}
		return g.run(t, in, append(args, "--output", "-")...)
	}

	t.Run("whole armored", func(t *testing.T) {
		res := Decrypt(encSign("alice@example.org", true, msg), list(alice), g.lookup(t))
		if res.Failed || res.Format != FormatWhole || res.Signature != SigValid || res.Signer != gerdaFpr {
			t.Fatalf("%+v", res)
		}
		if !bytes.Equal(res.Message, msg) {
			t.Errorf("plaintext differs:\n%q", res.Message)
		}
	})
	t.Run("whole binary", func(t *testing.T) {
		res := Decrypt(encSign("alice@example.org", false, msg), list(alice), g.lookup(t))
		if res.Failed || res.Signature != SigValid || !bytes.Equal(res.Message, msg) {
			t.Fatalf("failed=%v verdict=%v %s", res.Failed, res.Signature, res.Reason)
		}
	})
	t.Run("pgp-mime wrapper", func(t *testing.T) {
		inner := []byte("Content-Type: text/plain; charset=utf-8; protected-headers=\"v1\"\nSubject: Grüße\nFrom: Gerda <gerda@example.de>\n\nHallo Alice\n")
		raw := wrapPGPMIME(t, "From: Gerda <gerda@example.de>\r\nTo: alice@example.org\r\nSubject: ...\r\n", encSign("alice@example.org", true, inner))
		res := Decrypt(raw, list(alice), g.lookup(t))
		if res.Failed || res.Format != FormatPGPMIME || res.Signature != SigValid {
			t.Fatalf("failed=%v verdict=%v %s", res.Failed, res.Signature, res.Reason)
		}
		if got := headerOf(t, res.Message, "Subject"); got != "Grüße" {
			t.Errorf("Subject = %q", got)
		}
		if !bytes.HasSuffix(res.Message, []byte("\r\n\r\nHallo Alice\r\n")) {
			t.Errorf("message:\n%s", res.Message)
		}
		checkCRLF(t, res.Message)
	})
	t.Run("inline", func(t *testing.T) {
		raw := append([]byte("From: gerda@example.de\r\nSubject: inline\r\n\r\n"), encSign("alice@example.org", true, []byte("Hallo inline\n"))...)
		res := Decrypt(raw, list(alice), g.lookup(t))
		if res.Failed || res.Format != FormatInline || res.Signature != SigValid {
			t.Fatalf("failed=%v verdict=%v %s", res.Failed, res.Signature, res.Reason)
		}
		if got := string(bodyOf(res.Message)); got != "Hallo inline\r\n" {
			t.Errorf("body = %q", got)
		}
	})
	t.Run("inline clearsigned", func(t *testing.T) {
		cs := g.run(t, []byte("Signed text\n"), "--clearsign", "--local-user", "gerda@example.de", "--output", "-")
		raw := append([]byte("From: gerda@example.de\r\nSubject: cs\r\n\r\n"), cs...)
		res := Decrypt(raw, nil, g.lookup(t))
		if res.Failed || res.Format != FormatInline || res.Signature != SigValid {
			t.Fatalf("failed=%v verdict=%v %s", res.Failed, res.Signature, res.Reason)
		}
	})
	t.Run("to RSA key", func(t *testing.T) {
		res := Decrypt(encSign("gerda@example.de", true, msg), list(g.gerda), g.lookup(t))
		if res.Failed || res.Signature != SigValid || !bytes.Equal(res.Message, msg) {
			t.Fatalf("failed=%v verdict=%v %s", res.Failed, res.Signature, res.Reason)
		}
	})
	t.Run("our encryption to RSA key", func(t *testing.T) {
		enc, err := EncryptMIME(msg, list(g.gerda), g.gerda)
		if err != nil {
			t.Fatal(err)
		}
		res := Decrypt(enc, list(g.gerda), g.lookup(t))
		if res.Failed || res.Signature != SigValid {
			t.Fatalf("failed=%v verdict=%v %s", res.Failed, res.Signature, res.Reason)
		}
	})
}
