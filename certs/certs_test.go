package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func clock(t time.Time) func() time.Time { return func() time.Time { return t } }

func mustLoad(t *testing.T, opts Options) *Cert {
	t.Helper()
	c, err := Load(opts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func serial(c *Cert) string { return c.current.Load().leaf.SerialNumber.String() }

func TestLoadCreates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	c := mustLoad(t, Options{Dir: dir, Now: clock(t0)})

	if c.Path() != filepath.Join(dir, "cert.pem") {
		t.Errorf("Path = %q", c.Path())
	}
	fi, err := os.Stat(filepath.Join(dir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key.pem mode = %o, want 600", perm)
	}
	onDisk, err := os.ReadFile(c.Path())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, c.PEM()) {
		t.Error("PEM() differs from cert.pem")
	}

	leaf := c.current.Load().leaf
	if leaf.Subject.CommonName != "mailbridge local certificate" {
		t.Errorf("CN = %q", leaf.Subject.CommonName)
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key %T is not ECDSA P-256", leaf.PublicKey)
	}
	if leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		t.Errorf("KeyUsage %v lacks DigitalSignature", leaf.KeyUsage)
	}
	if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("ExtKeyUsage = %v", leaf.ExtKeyUsage)
	}
	if !leaf.NotBefore.Before(t0) {
		t.Errorf("NotBefore %v is not before now %v", leaf.NotBefore, t0)
	}
	if !c.NotAfter().Equal(leaf.NotAfter) || !leaf.NotAfter.After(t0.Add(800*24*time.Hour)) {
		t.Errorf("NotAfter = %v", c.NotAfter())
	}
	for _, h := range []string{"localhost", "127.0.0.1", "::1"} {
		if !slices.Contains(c.Hosts(), h) {
			t.Errorf("Hosts() = %v, missing %s", c.Hosts(), h)
		}
	}
	if err := leaf.VerifyHostname("localhost"); err != nil {
		t.Error(err)
	}
}

func TestValidityWithinAppleLimit(t *testing.T) {
	c := mustLoad(t, Options{Dir: t.TempDir(), Now: clock(t0)})
	leaf := c.current.Load().leaf
	if d := leaf.NotAfter.Sub(leaf.NotBefore); d > 825*24*time.Hour {
		t.Errorf("validity %v exceeds 825 days", d)
	}
}

func TestSerialsAreRandom(t *testing.T) {
	a := mustLoad(t, Options{Dir: t.TempDir(), Now: clock(t0)})
	b := mustLoad(t, Options{Dir: t.TempDir(), Now: clock(t0)})
	if serial(a) == serial(b) {
		t.Errorf("two certificates share serial %s", serial(a))
	}
	if a.current.Load().leaf.SerialNumber.Sign() <= 0 {
		t.Error("serial is not positive")
	}
}

func TestLoadReuses(t *testing.T) {
	dir := t.TempDir()
	first := mustLoad(t, Options{Dir: dir, Now: clock(t0)})
	// Months later, still well before the renewal window.
	second := mustLoad(t, Options{Dir: dir, Now: clock(t0.Add(400 * 24 * time.Hour))})
	if serial(first) != serial(second) {
		t.Errorf("serial changed on reload: %s -> %s", serial(first), serial(second))
	}
	if !bytes.Equal(first.PEM(), second.PEM()) {
		t.Error("PEM changed on reload")
	}
}

func TestLoadRenewal(t *testing.T) {
	tests := []struct {
		name    string
		at      func(notAfter time.Time) time.Time
		renewed bool
	}{
		{"31 days left", func(na time.Time) time.Time { return na.Add(-31 * 24 * time.Hour) }, false},
		{"29 days left", func(na time.Time) time.Time { return na.Add(-29 * 24 * time.Hour) }, true},
		{"expired", func(na time.Time) time.Time { return na.Add(time.Hour) }, true},
		{"clock went back", func(time.Time) time.Time { return t0.Add(-48 * time.Hour) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			first := mustLoad(t, Options{Dir: dir, Now: clock(t0)})
			now := tt.at(first.NotAfter())
			second := mustLoad(t, Options{Dir: dir, Now: clock(now)})
			if got := serial(first) != serial(second); got != tt.renewed {
				t.Fatalf("renewed = %v, want %v", got, tt.renewed)
			}
			if tt.renewed {
				if !second.NotAfter().After(now.Add(RenewBefore)) {
					t.Errorf("new certificate expires %v, too soon after %v", second.NotAfter(), now)
				}
				// The replacement is persisted, not just held in memory.
				third := mustLoad(t, Options{Dir: dir, Now: clock(now)})
				if serial(third) != serial(second) {
					t.Error("renewed certificate was not persisted")
				}
			}
		})
	}
}

func TestRenewIfNeeded(t *testing.T) {
	now := t0
	c := mustLoad(t, Options{Dir: t.TempDir(), Now: func() time.Time { return now }})
	before := serial(c)
	if renewed, err := c.RenewIfNeeded(); err != nil || renewed {
		t.Fatalf("RenewIfNeeded on a fresh certificate = %v, %v", renewed, err)
	}
	now = c.NotAfter().Add(-24 * time.Hour)
	if renewed, err := c.RenewIfNeeded(); err != nil || !renewed {
		t.Fatalf("RenewIfNeeded one day before expiry = %v, %v", renewed, err)
	}
	if serial(c) == before {
		t.Error("serial unchanged after renewal")
	}
}

func TestLoadReplacesBrokenFiles(t *testing.T) {
	otherKey := func(t *testing.T) []byte {
		other := mustLoad(t, Options{Dir: t.TempDir(), Now: clock(t0)})
		b, err := os.ReadFile(filepath.Join(other.dir, "key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{"garbage certificate", func(t *testing.T, dir string) { write(t, dir, "cert.pem", []byte("not a certificate")) }},
		{"empty certificate", func(t *testing.T, dir string) { write(t, dir, "cert.pem", nil) }},
		{"truncated certificate", func(t *testing.T, dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, "cert.pem"))
			write(t, dir, "cert.pem", b[:len(b)/2])
		}},
		{"garbage key", func(t *testing.T, dir string) {
			write(t, dir, "key.pem", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
		}},
		{"missing key", func(t *testing.T, dir string) { _ = os.Remove(filepath.Join(dir, "key.pem")) }},
		{"key of another certificate", func(t *testing.T, dir string) { write(t, dir, "key.pem", otherKey(t)) }},
		{"corrupt DER", func(t *testing.T, dir string) {
			write(t, dir, "cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x03, 1, 2, 3}}))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			first := mustLoad(t, Options{Dir: dir, Now: clock(t0)})
			tt.damage(t, dir)
			second := mustLoad(t, Options{Dir: dir, Now: clock(t0)})
			if serial(first) == serial(second) {
				t.Fatal("broken files were not replaced")
			}
			if _, err := readState(dir); err != nil {
				t.Errorf("files on disk still broken: %v", err)
			}
		})
	}
}

func write(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoadExtraHosts(t *testing.T) {
	dir := t.TempDir()
	first := mustLoad(t, Options{Dir: dir, Now: clock(t0)})

	extra := []string{"Mail.Example.test.", "192.168.1.5", "[fd00::1]"}
	second := mustLoad(t, Options{Dir: dir, Now: clock(t0), Hosts: extra})
	if serial(first) == serial(second) {
		t.Fatal("new hosts did not trigger a new certificate")
	}
	leaf := second.current.Load().leaf
	for _, h := range []string{"mail.example.test", "192.168.1.5", "fd00::1", "localhost", "127.0.0.1", "::1"} {
		if err := leaf.VerifyHostname(h); err != nil {
			t.Errorf("new certificate: %v", err)
		}
	}

	// Asking for fewer hosts than covered keeps the certificate.
	third := mustLoad(t, Options{Dir: dir, Now: clock(t0), Hosts: []string{"192.168.1.5"}})
	if serial(third) != serial(second) {
		t.Error("a subset of covered hosts replaced the certificate")
	}
}

func TestLoadRejectsBadHost(t *testing.T) {
	for _, h := range []string{"bad host", "-x.example", "a..b", "exa_mple.com", "*"} {
		if _, err := Load(Options{Dir: t.TempDir(), Hosts: []string{h}}); err == nil {
			t.Errorf("Load accepted host %q", h)
		}
	}
	if _, err := Load(Options{}); err == nil {
		t.Error("Load accepted an empty Dir")
	}
}

func TestPEMHoldsOnlyTheCertificate(t *testing.T) {
	c := mustLoad(t, Options{Dir: t.TempDir(), Now: clock(t0)})
	rest := c.PEM()
	var n int
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		n++
		if b.Type != "CERTIFICATE" {
			t.Errorf("PEM block of type %q", b.Type)
		}
	}
	if n != 1 {
		t.Errorf("PEM holds %d blocks, want 1", n)
	}
}

// handshake connects to addr trusting pool and returns the server's leaf.
func handshake(t *testing.T, addr string, pool *x509.CertPool, maxVersion uint16) (*x509.Certificate, error) {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{
		RootCAs:    pool,
		ServerName: "localhost",
		MinVersion: tls.VersionTLS10,
		MaxVersion: maxVersion,
	})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// serveTLS accepts connections and completes their handshakes until the
// test ends.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { _ = ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_ = conn.(*tls.Conn).Handshake()
			_ = conn.Close()
		}
	}()
	return ln.Addr().String()
}

func TestRenewTakesEffectLive(t *testing.T) {
	c := mustLoad(t, Options{Dir: t.TempDir()})
	addr := serveTLS(t, c.TLSConfig())

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.PEM())
	got, err := handshake(t, addr, pool, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.SerialNumber.String() != serial(c) {
		t.Fatal("server presented another certificate")
	}

	if err := c.Renew(); err != nil {
		t.Fatal(err)
	}
	// The old trust no longer matches: the listener really switched.
	if _, err := handshake(t, addr, pool, 0); err == nil {
		t.Fatal("handshake still succeeds with the old certificate trusted")
	}
	pool.AppendCertsFromPEM(c.PEM())
	got, err = handshake(t, addr, pool, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.SerialNumber.String() != serial(c) {
		t.Error("server did not present the renewed certificate")
	}
}

func TestTLSConfigRefusesOldVersions(t *testing.T) {
	c := mustLoad(t, Options{Dir: t.TempDir()})
	addr := serveTLS(t, c.TLSConfig())
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.PEM())
	if _, err := handshake(t, addr, pool, tls.VersionTLS11); err == nil {
		t.Error("TLS 1.1 handshake succeeded")
	}
	if _, err := handshake(t, addr, pool, tls.VersionTLS12); err != nil {
		t.Errorf("TLS 1.2 handshake: %v", err)
	}
}

func TestServesClientsWithoutSNI(t *testing.T) {
	c := mustLoad(t, Options{Dir: t.TempDir()})
	addr := serveTLS(t, c.TLSConfig())
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.PEM())
	// Go sends no SNI for an IP address, like most mail clients do.
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := conn.ConnectionState().PeerCertificates[0].SerialNumber.String(); got != serial(c) {
		t.Error("server presented another certificate")
	}
}
