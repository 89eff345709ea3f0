package crypto

import (
	"bytes"
	"io"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
)

// fixturePassphrase locks the keys in testdata (generated once by
// GenerateKey, kept as fixtures because key generation is not deterministic).
const fixturePassphrase = "correct horse"

var (
	fixtureOnce sync.Once
	fixtures    map[string]*openpgp.Entity
	fixtureErr  error
)

// key returns the unlocked fixture entity for name (alice, bob, mallory).
// Unlocking runs the S2K once per test binary.
func key(t testing.TB, name string) *openpgp.Entity {
	t.Helper()
	fixtureOnce.Do(func() {
		fixtures = map[string]*openpgp.Entity{}
		for _, n := range []string{"alice", "bob", "mallory"} {
			data, err := os.ReadFile("testdata/" + n + ".asc")
			if err != nil {
				fixtureErr = err
				return
			}
			el, err := UnlockKeys(data, []byte(fixturePassphrase))
			if err != nil {
				fixtureErr = err
				return
			}
			fixtures[n] = el[0]
		}
	})
	if fixtureErr != nil {
		t.Fatalf("load fixtures: %v", fixtureErr)
	}
	return fixtures[name]
}

func list(es ...*openpgp.Entity) openpgp.EntityList { return es }

// directory maps sender addresses to keys, as the caller's lookup would.
func directory(t testing.TB) SenderKeys {
	alice, bob := key(t, "alice"), key(t, "bob")
	return func(addr string) openpgp.EntityList {
		switch strings.ToLower(addr) {
		case "alice@example.org":
			return list(alice)
		case "bob@example.net":
			return list(bob)
		}
		return nil
	}
}

// crlf turns a readable LF test message into wire form.
func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

const simpleMsg = `From: Alice <alice@example.org>
To: Bob Müller <bob@example.net>
Cc: carol@example.com
Bcc: hidden@example.com
Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=
Date: Mon, 02 Jan 2006 15:04:05 +0000
Message-ID: <m1@example.org>
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Hallo Bob, schöne Grüße!
-- 
Alice
`

// attachmentMsg carries a binary attachment with every byte value.
func attachmentMsg() []byte {
	bin := make([]byte, 3000)
	for i := range bin {
		bin[i] = byte(i * 7)
	}
	var b bytes.Buffer
	b.WriteString("From: alice@example.org\r\nTo: bob@example.net\r\nSubject: Report\r\nMIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n\r\n--XYZ\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--XYZ\r\n")
	b.WriteString("Content-Type: application/octet-stream; name=\"data.bin\"\r\nContent-Transfer-Encoding: base64\r\n")
	b.WriteString("Content-Disposition: attachment; filename=\"data.bin\"\r\n\r\n")
	writeBase64Lines(&b, bin)
	b.WriteString("--XYZ--\r\n")
	return b.Bytes()
}

// headerOf returns the unfolded value of a top-level header field of msg.
func headerOf(t testing.TB, msg []byte, name string) string {
	t.Helper()
	hdr, _ := splitMessage(msg)
	h, ok := parseHeader(hdr)
	if !ok {
		t.Fatalf("result has no header:\n%s", msg)
	}
	return h.get(name)
}

// bodyOf returns the body of msg.
func bodyOf(msg []byte) []byte {
	_, body := splitMessage(msg)
	return body
}

// countField counts top-level occurrences of a header field.
func countField(msg []byte, name string) int {
	hdr, _ := splitMessage(msg)
	h, _ := parseHeader(hdr)
	n := 0
	for _, f := range h {
		if strings.EqualFold(f.name, name) {
			n++
		}
	}
	return n
}

// checkCRLF fails when msg has a bare LF.
func checkCRLF(t testing.TB, msg []byte) {
	t.Helper()
	if hasBareLF(msg) {
		t.Errorf("message has bare LF line endings")
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// clearsignEncode starts a clearsigned block signed by e.
func clearsignEncode(w io.Writer, e *openpgp.Entity) (io.WriteCloser, error) {
	return clearsign.Encode(w, e.PrivateKey, newConfig())
}
