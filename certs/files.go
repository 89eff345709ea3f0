package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/mailbridge/mailbridge/internal/atomicfile"
)

const (
	// validity stays under the 825 days Apple accepts for TLS server
	// certificates, with room for the backdated NotBefore.
	validity = 820 * 24 * time.Hour
	// backdate tolerates clients whose clock is slightly behind ours.
	backdate = time.Hour
	// commonName is what users see when asked to trust the certificate.
	commonName = "mailbridge local certificate"
)

// errNoCert means there is no cert.pem yet, as opposed to a broken one.
var errNoCert = errors.New("certs: no certificate stored")

// generate creates a fresh key and self-signed certificate covering hosts.
func generate(hosts hostSet, now time.Time) (*state, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("certs: generate serial: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("certs: encode public key: %w", err)
	}
	keyID := sha256.Sum256(pub)

	// A self-signed end-entity certificate, not a CA: Mozilla (Thunderbird)
	// refuses a CA certificate used as a server certificate, while OpenSSL,
	// Go and Apple accept a self-signed leaf that is trusted explicitly.
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"mailbridge"}},
		NotBefore:             now.Add(-backdate).UTC(),
		NotAfter:              now.Add(validity).UTC(),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              hosts.dns,
		IPAddresses:           hosts.ips,
		SubjectKeyId:          keyID[:20],
		AuthorityKeyId:        keyID[:20],
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("certs: create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("certs: encode key: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return parseState(certPEM, keyPEM)
}

// parseState checks that certPEM and keyPEM form a usable pair.
func parseState(certPEM, keyPEM []byte) (*state, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	if len(pair.Certificate) != 1 {
		return nil, fmt.Errorf("certs: %s holds %d certificates, want 1", certFile, len(pair.Certificate))
	}
	if _, ok := pair.PrivateKey.(crypto.Signer); !ok {
		return nil, fmt.Errorf("certs: unsupported private key type %T", pair.PrivateKey)
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("certs: %w", err)
		}
		pair.Leaf = leaf
	}
	// Re-encode so PEM never echoes anything else the file may contain.
	pemOut := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})
	return &state{tls: &pair, leaf: leaf, pem: pemOut}, nil
}

// readState loads the pair stored in dir.
func readState(dir string) (*state, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, certFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNoCert
	}
	if err != nil {
		return nil, fmt.Errorf("certs: read certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, keyFile))
	if err != nil {
		return nil, fmt.Errorf("certs: read key: %w", err)
	}
	return parseState(certPEM, keyPEM)
}

// writeState stores the pair in dir. The key goes first: a crash between
// the two renames leaves a mismatched pair, which the next Load detects
// and replaces, never a certificate whose key is lost.
func writeState(dir string, st *state) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(st.tls.PrivateKey)
	if err != nil {
		return fmt.Errorf("certs: encode key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := atomicfile.Write(filepath.Join(dir, keyFile), keyPEM, 0o600); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, certFile), st.pem, 0o644); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	return nil
}
