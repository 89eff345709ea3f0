package imapsrv

import (
	"net"
	"os"
	"os/exec"
	"testing"
)

// TestPythonImaplib drives the server with Python's imaplib, a client
// that shares no code with go-imap.
func TestPythonImaplib(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	f := newFixture(t)
	_, plainPort, _ := net.SplitHostPort(f.plainAddr)
	_, tlsPort, _ := net.SplitHostPort(f.tlsAddr)
	cmd := exec.Command(python, "testdata/imaplib_client.py")
	cmd.Env = append(os.Environ(),
		"IMAP_PORT="+plainPort,
		"IMAPS_PORT="+tlsPort,
		"IMAP_CA="+f.certFile,
		"IMAP_USER="+testUser,
		"IMAP_PASS="+testPass,
	)
	out, err := cmd.CombinedOutput()
	t.Logf("imaplib:\n%s", out)
	if err != nil {
		t.Fatalf("imaplib client failed: %v", err)
	}
}
