package smtpsrv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/mailbridge/mailbridge/crypto"
)

// gpgHome is a throwaway GnuPG home with an agent that is stopped at the
// end of the test.
type gpgHome struct {
	t    *testing.T
	bin  string
	dir  string
	pass string
}

func newGPGHome(t *testing.T) *gpgHome {
	t.Helper()
	g := maybeGPG(t)
	if g == nil {
		t.Skip("gpg not installed")
	}
	return g
}

// maybeGPG returns a GnuPG home, or nil when gpg is not installed, for
// tests that check with gpg in addition to their own checks.
func maybeGPG(t *testing.T) *gpgHome {
	t.Helper()
	bin, err := exec.LookPath("gpg")
	if err != nil {
		return nil
	}
	// The agent's socket path must stay short: t.TempDir() names can be
	// too long for a Unix socket.
	dir, err := os.MkdirTemp("", "gpg")
	if err != nil {
		t.Fatal(err)
	}
	g := &gpgHome{t: t, bin: bin, dir: dir, pass: "test passphrase"}
	t.Cleanup(func() {
		if conf, err := exec.LookPath("gpgconf"); err == nil {
			cmd := exec.Command(conf, "--kill", "all")
			cmd.Env = append(os.Environ(), "GNUPGHOME="+dir)
			_ = cmd.Run()
		}
		os.RemoveAll(dir)
	})
	return g
}

// run runs gpg with args and returns stdout and the --status-fd lines.
func (g *gpgHome) run(stdin []byte, args ...string) (stdout []byte, status string) {
	g.t.Helper()
	statusFile := filepath.Join(g.dir, "status")
	full := append([]string{"--batch", "--no-tty", "--pinentry-mode", "loopback",
		"--passphrase", g.pass, "--status-file", statusFile}, args...)
	cmd := exec.Command(g.bin, full...)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+g.dir)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	st, _ := os.ReadFile(statusFile)
	if err != nil {
		g.t.Fatalf("gpg %s: %v\n%s\n%s", strings.Join(args, " "), err, errOut.String(), st)
	}
	return out.Bytes(), string(st)
}

// importSecret imports e's secret key without passphrase protection:
// locking it with crypto.ArmorPrivateKey would run a deliberately slow
// S2K, seconds under the race detector, for nothing a test checks.
func (g *gpgHome) importSecret(e *openpgp.Entity) {
	g.t.Helper()
	var bin bytes.Buffer
	if err := e.SerializePrivateWithoutSigning(&bin, nil); err != nil {
		g.t.Fatal(err)
	}
	g.run(bin.Bytes(), "--import")
}

func (g *gpgHome) importPublic(e *openpgp.Entity) {
	g.t.Helper()
	armored, err := crypto.ArmorPublicKey(e)
	if err != nil {
		g.t.Fatal(err)
	}
	g.run(armored, "--import")
}

// checkDecryptsAndVerifies asserts gpg decrypted data and found a good
// signature by signer, and returns the plaintext.
func (g *gpgHome) checkDecryptsAndVerifies(data []byte, signer *openpgp.Entity) []byte {
	g.t.Helper()
	plain, status := g.run(data, "--decrypt")
	fpr := fmt.Sprintf("%X", signer.PrimaryKey.Fingerprint)
	for _, want := range []string{"DECRYPTION_OKAY", "GOODSIG", "VALIDSIG " + fpr} {
		if !strings.Contains(status, want) {
			g.t.Errorf("gpg status lacks %q:\n%s", want, status)
		}
	}
	return plain
}

func TestGPGDecryptsDeliveredMessage(t *testing.T) {
	g := newGPGHome(t)
	h := newHarness(t, 0)
	g.importSecret(h.bob)
	g.importSecret(h.alice)

	c := dialAuthed(t, h)
	if code, msg := c.send(aliceAddr, mixedRcpts, mixedMsg); code != 250 {
		t.Fatalf("got %d %q", code, msg)
	}
	keyed, _ := splitSends(t, h.up.delivered())

	inner := g.checkDecryptsAndVerifies(pgpPayload(t, keyed.Raw), h.alice)
	if !bytes.Contains(inner, []byte("Café at noon, bring the report.")) {
		t.Errorf("gpg plaintext lacks the body:\n%s", inner)
	}
	sent := g.checkDecryptsAndVerifies(keyed.SentCopy, h.alice)
	if string(sent) != mixedMsg {
		t.Errorf("gpg Sent copy differs from the message as written:\n%q", sent)
	}
}

// TestGPGWithPublicSenderKey checks the recipient's view: only its own
// secret key and the sender's public key.
func TestGPGWithPublicSenderKey(t *testing.T) {
	g := newGPGHome(t)
	h := newHarness(t, 0)
	g.importSecret(h.bob)
	g.importPublic(h.alice)

	c := dialAuthed(t, h)
	if code, msg := c.send(aliceAddr, []string{bobAddr}, mixedMsgNoBcc); code != 250 {
		t.Fatalf("got %d %q", code, msg)
	}
	sends := h.up.delivered()
	if len(sends) != 1 {
		t.Fatalf("%d sends, want 1", len(sends))
	}
	g.checkDecryptsAndVerifies(pgpPayload(t, sends[0].Raw), h.alice)
}
