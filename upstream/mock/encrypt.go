package mock

import (
	"fmt"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/mailbridge/mailbridge/crypto"
)

// Format is how a stored message is encrypted; the crypto package decrypts
// all of them.
type Format int

const (
	// FormatPGPMIME is RFC 3156 multipart/encrypted, what Proton stores
	// for most mail. It is the zero value.
	FormatPGPMIME Format = iota
	// FormatInline keeps the headers and replaces a text/plain body with
	// an armored OpenPGP message.
	FormatInline
	// FormatWhole is the whole RFC 822 message as one armored OpenPGP
	// message.
	FormatWhole
)

func (f Format) String() string {
	switch f {
	case FormatPGPMIME:
		return "pgp-mime"
	case FormatInline:
		return "inline"
	case FormatWhole:
		return "whole"
	}
	return fmt.Sprintf("format(%d)", int(f))
}

// encrypt encrypts plain to the keys in to, signed by signer if not nil.
func encrypt(f Format, plain []byte, to openpgp.EntityList, signer *openpgp.Entity) ([]byte, error) {
	switch f {
	case FormatPGPMIME:
		return crypto.EncryptMIME(plain, to, signer)
	case FormatInline:
		return crypto.EncryptInline(plain, to, signer)
	case FormatWhole:
		return crypto.EncryptWhole(plain, to, signer)
	}
	return nil, fmt.Errorf("unknown format %v", f)
}
