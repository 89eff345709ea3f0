package smtpsrv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The tests here drive the server with real mail clients: swaks and
// msmtp (Debian packages of the same names). Each skips only when its
// binary is missing. Both are given the message with LF line endings and
// must put it on the wire with CRLF, as every SMTP client does.

func lfOnly(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

func TestSwaks(t *testing.T) {
	bin, err := exec.LookPath("swaks")
	if err != nil {
		t.Skip("swaks not installed")
	}
	cases := []struct {
		name string
		tls  string // --tls (STARTTLS) or --tls-on-connect
		mech string
	}{
		{"starttls-plain", "--tls", "PLAIN"},
		{"starttls-login", "--tls", "LOGIN"},
		{"implicit-tls-plain", "--tls-on-connect", "PLAIN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 0)
			addr := h.plainAddr
			if tc.tls == "--tls-on-connect" {
				addr = h.tlsAddr
			}
			host, port, _ := strings.Cut(addr, ":")
			cmd := exec.Command(bin, "--server", host, "--port", port, tc.tls,
				"--tls-verify", "--tls-ca-path", h.caFile,
				"--auth", tc.mech, "--auth-user", userName, "--auth-password", userPass,
				"--from", aliceAddr, "--to", strings.Join(mixedRcpts, ","),
				"--data", "-", "--helo", "client.test")
			// swaks ends the data with its own line break before the dot.
			cmd.Stdin = strings.NewReader(strings.TrimSuffix(lfOnly(mixedMsg), "\n"))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("swaks: %v\n%s", err, out)
			}
			checkMixedDelivery(t, h, h.up.delivered())
		})
	}
}

func TestSwaksWrongPassword(t *testing.T) {
	bin, err := exec.LookPath("swaks")
	if err != nil {
		t.Skip("swaks not installed")
	}
	h := newHarness(t, 0)
	host, port, _ := strings.Cut(h.tlsAddr, ":")
	out, err := exec.Command(bin, "--server", host, "--port", port, "--tls-on-connect",
		"--tls-verify", "--tls-ca-path", h.caFile, "--auth", "LOGIN", "--auth-user", userName,
		"--auth-password", "wrong", "--from", aliceAddr, "--to", carolAddr).CombinedOutput()
	if err == nil || !bytes.Contains(out, []byte("535 5.7.8")) {
		t.Errorf("want a 535 5.7.8 failure, got err %v:\n%s", err, out)
	}
	if n := h.up.sendCalls(); n != 0 {
		t.Errorf("%d sends after a failed login", n)
	}
}

func TestMsmtp(t *testing.T) {
	bin, err := exec.LookPath("msmtp")
	if err != nil {
		t.Skip("msmtp not installed")
	}
	cases := []struct {
		name     string
		implicit bool
		mech     string
	}{
		{"starttls-plain", false, "plain"},
		{"starttls-login", false, "login"},
		{"implicit-tls-login", true, "login"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 0)
			addr, starttls := h.plainAddr, "on"
			if tc.implicit {
				addr, starttls = h.tlsAddr, "off"
			}
			host, port, _ := strings.Cut(addr, ":")
			dir := t.TempDir()
			conf := filepath.Join(dir, "msmtprc")
			// remove_bcc_headers off: the server, not the client, must
			// keep Bcc recipients hidden.
			rc := fmt.Sprintf(`account default
host %s
port %s
tls on
tls_starttls %s
tls_trust_file %s
auth %s
user %s
password %s
from %s
remove_bcc_headers off
logfile %s
`, host, port, starttls, h.caFile, tc.mech, userName, userPass, aliceAddr, filepath.Join(dir, "log"))
			if err := os.WriteFile(conf, []byte(rc), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, append([]string{"-C", conf, "-f", aliceAddr}, mixedRcpts...)...)
			cmd.Stdin = strings.NewReader(lfOnly(mixedMsg))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("msmtp: %v\n%s", err, out)
			}
			checkMixedDelivery(t, h, h.up.delivered())
		})
	}
}

// TestMsmtpRefusal checks msmtp reports the server's reason and exits
// non-zero when the account refuses to send unencrypted.
func TestMsmtpRefusal(t *testing.T) {
	bin, err := exec.LookPath("msmtp")
	if err != nil {
		t.Skip("msmtp not installed")
	}
	h := newHarnessWith(t, harnessOpts{account: withPolicy(Policy{RequireEncryption: true}, nil)})
	host, port, _ := strings.Cut(h.tlsAddr, ":")
	cmd := exec.Command(bin, "--host", host, "--port", port, "--tls=on", "--tls-starttls=off",
		"--tls-trust-file", h.caFile, "--auth=plain", "--user", userName, "--passwordeval", "echo "+userPass,
		"-f", aliceAddr, carolAddr)
	cmd.Stdin = strings.NewReader(lfOnly(plainMsgNoBcc))
	out, err := cmd.CombinedOutput()
	if err == nil || !bytes.Contains(out, []byte("5.7.1")) || !bytes.Contains(out, []byte(carolAddr)) {
		t.Errorf("want a 5.7.1 refusal naming carol, got err %v:\n%s", err, out)
	}
}
