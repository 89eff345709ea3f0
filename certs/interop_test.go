package certs

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The certificate must satisfy independent TLS stacks, not only Go's:
// mail clients use OpenSSL, NSS, Schannel or Apple's Security framework.

const pyHandshake = `
import socket, ssl, sys
cafile, host, port, server_name = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
ctx = ssl.create_default_context(cafile=cafile)
# Python 3.13 turns strict X.509 checks on by default; demand them now.
ctx.verify_flags |= getattr(ssl, "VERIFY_X509_STRICT", 0)
with socket.create_connection((host, port)) as raw:
    with ctx.wrap_socket(raw, server_hostname=server_name) as tls:
        print(tls.version())
`

func python(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	return py
}

func runPython(t *testing.T, cafile, addr, serverName string) (string, error) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), python(t), "-c", pyHandshake, cafile, host, port, serverName).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestPythonTrustsCertificate(t *testing.T) {
	c := mustLoad(t, Options{Dir: t.TempDir()})
	addr := serveTLS(t, c.TLSConfig())

	for _, name := range []string{"localhost", "127.0.0.1"} {
		out, err := runPython(t, c.Path(), addr, name)
		if err != nil {
			t.Errorf("python handshake as %s: %v\n%s", name, err, out)
			continue
		}
		if out != "TLSv1.3" {
			t.Errorf("python negotiated %q, want TLSv1.3", out)
		}
	}

	// Proof that verification is really on: a name the certificate lacks fails.
	if out, err := runPython(t, c.Path(), addr, "mail.example.test"); err == nil {
		t.Errorf("python accepted a name the certificate does not cover: %s", out)
	}
}

func TestPythonRejectsOtherCertificate(t *testing.T) {
	c := mustLoad(t, Options{Dir: t.TempDir()})
	other := mustLoad(t, Options{Dir: t.TempDir()})
	addr := serveTLS(t, c.TLSConfig())
	if out, err := runPython(t, other.Path(), addr, "localhost"); err == nil {
		t.Errorf("python trusted a certificate it was not given: %s", out)
	}
}

func TestPythonRefusedBelowTLS12(t *testing.T) {
	c := mustLoad(t, Options{Dir: t.TempDir()})
	addr := serveTLS(t, c.TLSConfig())
	host, port, _ := net.SplitHostPort(addr)
	const script = `
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
ctx.minimum_version = ssl.TLSVersion.TLSv1_1
ctx.maximum_version = ssl.TLSVersion.TLSv1_1
with socket.create_connection((sys.argv[1], int(sys.argv[2]))) as raw:
    with ctx.wrap_socket(raw) as tls:
        print(tls.version())
`
	out, err := exec.CommandContext(t.Context(), python(t), "-c", script, host, port).CombinedOutput()
	if err == nil {
		t.Errorf("TLS 1.1 handshake succeeded: %s", out)
	}
}

func TestCurlTrustsCertificate(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	c := mustLoad(t, Options{Dir: t.TempDir()})
	// Not httptest.Server.StartTLS: it adds its own certificate, which Go
	// serves to clients that send no SNI (curl connecting to an IP address).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		TLSConfig: c.TLSConfig(),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("hello from mailbridge\n"))
		}),
		ErrorLog: log.New(io.Discard, "", 0), // refused handshakes are expected
	}
	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close(); <-served })
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	run := func(ctx context.Context, cafile, url string) (string, error) {
		out, err := exec.CommandContext(ctx, curl, "-sS", "-v", "--cacert", cafile,
			"--resolve", "localhost:"+port+":127.0.0.1", url).CombinedOutput()
		return string(out), err
	}
	for _, url := range []string{"https://localhost:" + port + "/", "https://127.0.0.1:" + port + "/"} {
		out, err := run(t.Context(), c.Path(), url)
		if err != nil || !strings.Contains(out, "hello from mailbridge") {
			t.Errorf("curl %s: %v\n%s", url, err, out)
		}
	}

	// The same request against a certificate curl was not told to trust fails.
	other := mustLoad(t, Options{Dir: t.TempDir()})
	if out, err := run(t.Context(), other.Path(), "https://localhost:"+port+"/"); err == nil {
		t.Errorf("curl accepted an untrusted certificate:\n%s", out)
	}
	// A copy of the exported PEM works as well as the file itself.
	exported := filepath.Join(t.TempDir(), "exported.pem")
	if err := os.WriteFile(exported, c.PEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t.Context(), exported, "https://localhost:"+port+"/"); err != nil {
		t.Errorf("curl with exported PEM: %v\n%s", err, out)
	}
}
