// Package crypto holds mailbridge's OpenPGP layer: key generation and
// unlocking, encryption and signing of outgoing mail (PGP/MIME with RFC 9788
// protected headers, inline PGP, whole-message), and decryption plus
// signature verification of incoming mail in every format the upstream may
// store.
//
// It works on byte slices only and never touches the network or a store:
// callers pass the keys in and look sender keys up through a callback.
// Everything it returns uses CRLF line endings, as IMAP clients expect,
// except the plaintext of whole-message encryption, which round-trips byte
// for byte.
//
// Entities are github.com/ProtonMail/go-crypto/openpgp (v1 API) values.
package crypto

import (
	stdcrypto "crypto"
	"errors"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// ErrBadPassphrase is returned by UnlockKeys when the passphrase does not
// unlock a private key.
var ErrBadPassphrase = errors.New("crypto: wrong passphrase")

// maxDecompressed bounds the plaintext of one message so a compression bomb
// cannot exhaust memory.
const maxDecompressed = 512 << 20

// newConfig returns a fresh configuration for one operation. A new value per
// call keeps the package free of shared mutable state; it is cheap.
func newConfig() *packet.Config {
	limit := int64(maxDecompressed)
	return &packet.Config{
		DefaultHash:                stdcrypto.SHA256,
		DefaultCipher:              packet.CipherAES256,
		MaxDecompressedMessageSize: &limit,
	}
}
