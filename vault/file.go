package vault

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/mailbridge/mailbridge/internal/atomicfile"
)

// vault.enc layout:
//
//	magic   8 bytes  "MBVAULT\x00"
//	version 1 byte   formatVersion
//	source  1 byte   'k' keychain, 'f' key file, 'p' passphrase
//	kdf     25 bytes only for 'p': salt (16), Argon2id time (4), memory in
//	        KiB (4), threads (1); see passphrase.go
//	nonce   24 bytes
//	sealed  XChaCha20-Poly1305 of the JSON contents, the header bytes as
//	        additional data so the clear part cannot be altered unnoticed.
const (
	magic         = "MBVAULT\x00"
	formatVersion = 1
	// headerSize is the header of a keychain- or key-file-keyed vault.
	headerSize = len(magic) + 2
)

// headerByte is how src is recorded in the file header.
func (src KeySource) headerByte() byte {
	switch src {
	case KeySourceKeychain:
		return 'k'
	case KeySourcePassphrase:
		return 'p'
	}
	return 'f'
}

// header is the clear part of a vault file.
type header struct {
	source KeySource
	kdf    kdfParams // only for KeySourcePassphrase
}

// bytes encodes h as it starts the file.
func (h header) bytes() []byte {
	out := append([]byte(magic), formatVersion, h.source.headerByte())
	if h.source == KeySourcePassphrase {
		out = h.kdf.appendTo(out)
	}
	return out
}

// parseHeader reads the clear part of a vault file and returns it with
// its length.
func parseHeader(raw []byte) (header, int, error) {
	minSize := headerSize + chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead
	if len(raw) < minSize || !bytes.HasPrefix(raw, []byte(magic)) {
		return header{}, 0, fmt.Errorf("%w: %s is not a mailbridge vault", ErrDecrypt, vaultFile)
	}
	if v := raw[len(magic)]; v != formatVersion {
		return header{}, 0, fmt.Errorf("vault: %s has format version %d; this mailbridge reads version %d (was it written by a newer release?)",
			vaultFile, v, formatVersion)
	}
	switch raw[len(magic)+1] {
	case 'k':
		return header{source: KeySourceKeychain}, headerSize, nil
	case 'f':
		return header{source: KeySourceFile}, headerSize, nil
	case 'p':
		if len(raw) < minSize+kdfSize {
			return header{}, 0, fmt.Errorf("%w: truncated passphrase header", ErrDecrypt)
		}
		kdf, err := parseKDF(raw[headerSize : headerSize+kdfSize])
		if err != nil {
			return header{}, 0, err
		}
		return header{source: KeySourcePassphrase, kdf: kdf}, headerSize + kdfSize, nil
	}
	return header{}, 0, fmt.Errorf("%w: unknown key source in header", ErrDecrypt)
}

// seal encrypts c under key behind the clear header hdr.
func seal(key []byte, hdr header, c contents) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	plain, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("vault: encode: %w", err)
	}
	defer clear(plain)
	clearPart := hdr.bytes()
	n := len(clearPart)
	out := make([]byte, n+aead.NonceSize(), n+aead.NonceSize()+len(plain)+aead.Overhead())
	copy(out, clearPart)
	nonce := out[n:]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("vault: random nonce: %w", err)
	}
	return aead.Seal(out, nonce, plain, out[:n]), nil
}

// unseal decrypts a vault file whose header of n bytes parseHeader accepted.
func unseal(key, raw []byte, n int) (contents, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return contents{}, fmt.Errorf("vault: %w", err)
	}
	if len(raw) < n+aead.NonceSize()+aead.Overhead() {
		return contents{}, ErrDecrypt
	}
	nonce := raw[n : n+aead.NonceSize()]
	plain, err := aead.Open(nil, nonce, raw[n+aead.NonceSize():], raw[:n])
	if err != nil {
		return contents{}, ErrDecrypt
	}
	defer clear(plain)
	var c contents
	if err := json.Unmarshal(plain, &c); err != nil {
		// Authentic but unreadable: a bug, not tampering; say so.
		return contents{}, fmt.Errorf("vault: decode contents: %w", err)
	}
	return c, nil
}

// save seals c and replaces the vault file with it.
func (v *Vault) save(c contents) error {
	data, err := seal(v.key, v.header, c)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(v.path, data, 0o600); err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	return nil
}
