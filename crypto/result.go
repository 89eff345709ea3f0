package crypto

import "github.com/ProtonMail/go-crypto/openpgp"

// Verdict is the outcome of checking a message's signature.
type Verdict string

// Signature verdicts, as recorded in the X-Mailbridge-Signature header.
const (
	SigValid      Verdict = "valid"       // signed by a key of the sender
	SigInvalid    Verdict = "invalid"     // signed, but the signature does not verify
	SigUnknownKey Verdict = "unknown-key" // signed by a key the sender lookup did not return
	SigUnsigned   Verdict = "unsigned"    // no signature
)

// Format says how a message arrived.
type Format int

// Message formats Decrypt recognises.
const (
	FormatPlain   Format = iota // neither encrypted nor signed
	FormatPGPMIME               // RFC 3156 multipart/encrypted
	FormatInline                // text/plain body holding an armored PGP MESSAGE or clearsigned text
	FormatWhole                 // the whole RFC 822 message as one OpenPGP message, no outer headers
	FormatSigned                // RFC 3156 multipart/signed, not encrypted
)

// String returns a short lowercase name for logs.
func (f Format) String() string {
	switch f {
	case FormatPlain:
		return "plain"
	case FormatPGPMIME:
		return "pgp-mime"
	case FormatInline:
		return "inline"
	case FormatWhole:
		return "whole"
	case FormatSigned:
		return "signed"
	}
	return "unknown"
}

// SenderKeys returns the public keys known for a sender address (as written
// in the From field, not normalised). It may return nil.
type SenderKeys func(address string) openpgp.EntityList

// Result is what Decrypt made of one message.
type Result struct {
	// Message is the RFC 822 message a mail client should see.
	Message []byte
	// Format is the format the message arrived in.
	Format Format
	// Signature is the verdict on the message's signature.
	Signature Verdict
	// Signer is the upper-case hex fingerprint of the primary key of the
	// certificate whose signature verified, when Signature is SigValid.
	Signer string
	// Failed reports that the message could not be decrypted; Message
	// then explains that and carries the original.
	Failed bool
	// Reason says briefly why decryption failed. It holds no secrets or
	// content and is fit for logs.
	Reason string
}

// Header fields mailbridge adds to decrypted messages. Incoming copies of
// them are always removed.
const (
	HeaderSignature  = "X-Mailbridge-Signature"
	HeaderDecryption = "X-Mailbridge-Decryption"
)
