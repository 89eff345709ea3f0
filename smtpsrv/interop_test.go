package smtpsrv

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mailbridge/mailbridge/crypto"
	"github.com/mailbridge/mailbridge/upstream"
)

// mixedMsg goes to bob (has a key), carol (no key) and dave (Bcc, no key).
var mixedMsg = crlf(`From: Alice <alice@example.org>
To: Bob <bob@example.net>, Carol <carol@example.com>
Bcc: Dave <dave@example.com>
Subject: =?UTF-8?Q?Caf=C3=A9?= plans
Message-ID: <2@example.org>
Date: Mon, 1 Jan 2024 12:00:00 +0000
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Café at noon, bring the report.
.dot line
`)

var mixedMsgNoBcc = strings.Replace(mixedMsg, "Bcc: Dave <dave@example.com>\r\n", "", 1)

var mixedRcpts = []string{bobAddr, carolAddr, daveAddr}

// splitSends returns the encrypted and the plain send of a mixed message
// and checks that every recipient got exactly one copy and Sent one copy.
func splitSends(t *testing.T, sends []upstream.SendRequest) (keyed, plain upstream.SendRequest) {
	t.Helper()
	if len(sends) != 2 {
		t.Fatalf("%d sends, want 2", len(sends))
	}
	keyed, plain = sends[0], sends[1]
	if !slices.Equal(keyed.Recipients, []string{bobAddr}) {
		t.Errorf("encrypted send to %q, want bob only", keyed.Recipients)
	}
	if !slices.Equal(plain.Recipients, []string{carolAddr, daveAddr}) {
		t.Errorf("plain send to %q, want carol and dave", plain.Recipients)
	}
	if keyed.SentCopy == nil || plain.SentCopy != nil {
		t.Errorf("Sent copies: first send %d bytes, second %d; want only the first", len(keyed.SentCopy), len(plain.SentCopy))
	}
	if keyed.OpID == plain.OpID {
		t.Errorf("both sends have OpID %q", keyed.OpID)
	}
	return keyed, plain
}

// checkMixedDelivery verifies what each kind of recipient and Sent got.
func checkMixedDelivery(t *testing.T, h *harness, sends []upstream.SendRequest) {
	t.Helper()
	keyed, plain := splitSends(t, sends)
	if got := string(plain.Raw); got != mixedMsgNoBcc {
		t.Errorf("plain copy is not the message minus Bcc:\n%q\nwant\n%q", got, mixedMsgNoBcc)
	}
	if bytes.Contains(keyed.Raw, []byte("Caf=C3=A9")) || bytes.Contains(keyed.Raw, []byte("bring the report")) {
		t.Error("encrypted copy contains plaintext")
	}
	body := decryptAs(t, keyed.Raw, crypto.FormatPGPMIME, h.bob, h.alice)
	for _, want := range []string{"Café at noon, bring the report.", "Subject: =?UTF-8?Q?Caf=C3=A9?= plans", "Message-ID: <2@example.org>"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("decrypted message lacks %q:\n%s", want, body)
		}
	}
	if bytes.Contains(body, []byte("dave@example.com")) {
		t.Error("encrypted copy reveals the Bcc recipient")
	}
	sent := decryptAs(t, keyed.SentCopy, crypto.FormatWhole, h.alice, h.alice)
	if string(sent) != mixedMsg {
		t.Errorf("Sent copy is not the message as written:\n%q\nwant\n%q", sent, mixedMsg)
	}
	// The same checks with an independent OpenPGP implementation, from the
	// recipient's side: bob's secret key and alice's public key only.
	if g := maybeGPG(t); g != nil {
		g.importSecret(h.bob)
		g.importPublic(h.alice)
		inner := g.checkDecryptsAndVerifies(pgpPayload(t, keyed.Raw), h.alice)
		if !bytes.Contains(inner, []byte("Café at noon, bring the report.")) || !bytes.Contains(inner, []byte("Subject: =?UTF-8?Q?Caf=C3=A9?= plans")) {
			t.Errorf("gpg plaintext lacks the body or the protected Subject:\n%s", inner)
		}
	}
}

func TestPythonSmtplib(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	cases := []struct {
		name string
		tls  bool // implicit TLS port, else STARTTLS
		mech string
		noIR bool
	}{
		{"starttls-plain", false, "PLAIN", false},
		{"starttls-login-no-initial-response", false, "LOGIN", true},
		{"starttls-auto", false, "auto", false},
		{"implicit-tls-login", true, "LOGIN", false},
		{"implicit-tls-plain", true, "PLAIN", false},
	}
	msgFile := filepath.Join(t.TempDir(), "msg.eml")
	if err := os.WriteFile(msgFile, []byte(mixedMsg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 0)
			addr, mode := h.plainAddr, "starttls"
			if tc.tls {
				addr, mode = h.tlsAddr, "ssl"
			}
			host, port, _ := strings.Cut(addr, ":")
			args := []string{"testdata/send.py", "--host", host, "--port", port, "--mode", mode,
				"--mech", tc.mech, "--cafile", h.caFile, "--user", userName, "--password", userPass,
				"--sender", aliceAddr, "--message", msgFile}
			if tc.noIR {
				args = append(args, "--no-initial-response")
			}
			for _, r := range mixedRcpts {
				args = append(args, "--rcpt", r)
			}
			out, err := exec.Command(py, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("send.py: %v\n%s", err, out)
			}
			checkMixedDelivery(t, h, h.up.delivered())
		})
	}
}

func TestPythonWrongPassword(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	h := newHarness(t, 0)
	host, port, _ := strings.Cut(h.tlsAddr, ":")
	out, err := exec.Command(py, "testdata/send.py", "--host", host, "--port", port, "--mode", "ssl",
		"--mech", "LOGIN", "--cafile", h.caFile, "--user", userName, "--password", "nope",
		"--sender", aliceAddr, "--rcpt", carolAddr, "--message", "testdata/send.py").CombinedOutput()
	if err == nil || !strings.Contains(string(out), strconv.Itoa(535)) {
		t.Errorf("want a 535 failure, got err %v:\n%s", err, out)
	}
}

// TestGoClientMixedDelivery is the same scenario without Python, so it
// runs everywhere.
func TestGoClientMixedDelivery(t *testing.T) {
	h := newHarness(t, 0)
	c := dial(t, h, false)
	c.ok(250, "EHLO client.test")
	c.startTLS(h.clientTLS)
	c.ok(250, "EHLO client.test")
	c.ok(334, "AUTH LOGIN")
	c.ok(334, b64(userName))
	c.ok(235, b64(userPass))
	if code, msg := c.send(aliceAddr, mixedRcpts, mixedMsg); code != 250 {
		t.Fatalf("got %d %q", code, msg)
	}
	checkMixedDelivery(t, h, h.up.delivered())
}
