package store

import (
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"slices"

	"golang.org/x/crypto/chacha20poly1305"
)

// sealer encrypts values at rest. The associated data binds each value to
// its bucket and key, so a value copied to another record fails to open.
type sealer struct {
	aead cipher.AEAD
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) != chacha20poly1305.KeySize {
		return nil, fmt.Errorf("store: cache key must be %d bytes, got %d", chacha20poly1305.KeySize, len(key))
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("store: cache key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

// additionalData is bucket NUL key: bucket names contain no NUL, so no two
// (bucket, key) pairs share it.
func additionalData(bucket string, key []byte) []byte {
	ad := make([]byte, 0, len(bucket)+1+len(key))
	ad = append(ad, bucket...)
	ad = append(ad, 0)
	return append(ad, key...)
}

// seal returns nonce || ciphertext. The nonce is random: XChaCha20's
// 192-bit nonces make collisions negligible without a counter to persist.
func (s *sealer) seal(bucket string, key, plain []byte) []byte {
	ns := s.aead.NonceSize()
	out := make([]byte, ns, ns+len(plain)+s.aead.Overhead())
	// crypto/rand.Read never returns an error (Go 1.24+): it crashes the
	// program itself if the system source fails.
	_, _ = rand.Read(out)
	return s.aead.Seal(out, out, plain, additionalData(bucket, key))
}

// sealedLen is the length of plain sealed.
func (s *sealer) sealedLen(plain int) int { return s.aead.NonceSize() + plain + s.aead.Overhead() }

// sealAppend appends what seal returns to dst, allocating only if dst has
// no room for it.
func (s *sealer) sealAppend(dst []byte, bucket string, key, plain []byte) []byte {
	ns := s.aead.NonceSize()
	start := len(dst)
	dst = slices.Grow(dst, s.sealedLen(len(plain)))[:start+ns]
	_, _ = rand.Read(dst[start:])
	return s.aead.Seal(dst, dst[start:], plain, additionalData(bucket, key))
}

// open reverses seal. It fails with ErrBadKey when the key is wrong or the
// value was tampered with or moved.
func (s *sealer) open(bucket string, key, sealed []byte) ([]byte, error) {
	return s.openInto(nil, bucket, key, sealed)
}

// openInto is open appending the plaintext to dst.
func (s *sealer) openInto(dst []byte, bucket string, key, sealed []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < ns+s.aead.Overhead() {
		return nil, fmt.Errorf("%w: short sealed value in %s", ErrBadKey, bucket)
	}
	plain, err := s.aead.Open(dst, sealed[:ns], sealed[ns:], additionalData(bucket, key))
	if err != nil {
		return nil, fmt.Errorf("%w: cannot open value in %s", ErrBadKey, bucket)
	}
	return plain, nil
}
