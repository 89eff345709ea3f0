package crypto

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// decryptRing offers the user's keys for decryption only. Signatures are
// not verified while decrypting, because the sender (whose keys must verify
// them) is only known once the protected headers have been read; the
// library then keeps the signature packets for us to check afterwards.
type decryptRing struct{ openpgp.EntityList }

// KeysByIdUsage hides every key from signature lookup; see decryptRing.
func (decryptRing) KeysByIdUsage(uint64, byte) []openpgp.Key { return nil }

// opened is a decrypted (or merely unwrapped) OpenPGP message.
type opened struct {
	plain  []byte
	sigs   []*packet.Signature // signature packets, not yet verified
	signed bool
	sigErr error // the library could not even set up verification
}

// open decrypts data, a binary OpenPGP message, reading it to the end
// before returning so that an MDC or AEAD failure never yields partial
// plaintext.
func (d *decoder) open(data []byte) (*opened, error) {
	md, err := openpgp.ReadMessage(bytes.NewReader(data), decryptRing{d.keys}, nil, d.cfg)
	if err != nil {
		return nil, err
	}
	buf := bytes.NewBuffer(make([]byte, 0, len(data)+512))
	if _, err := buf.ReadFrom(md.UnverifiedBody); err != nil {
		return nil, err
	}
	return &opened{plain: buf.Bytes(), sigs: md.UnverifiedSignatures, signed: md.IsSigned, sigErr: md.SignatureError}, nil
}

// check returns the verdict on o's in-packet signatures by the sender.
func (d *decoder) check(o *opened, from string) (Verdict, string) {
	if !o.signed {
		return SigUnsigned, ""
	}
	if o.sigErr != nil {
		return SigInvalid, ""
	}
	return d.verify(o.plain, o.sigs, from)
}

// verify checks signatures over signed against the keys of sender from.
// One good signature is enough; otherwise a bad one outweighs an unknown
// issuer.
func (d *decoder) verify(signed []byte, sigs []*packet.Signature, from string) (Verdict, string) {
	if len(sigs) == 0 {
		return SigInvalid, ""
	}
	ring := d.ring(from)
	if len(ring) == 0 {
		return SigUnknownKey, ""
	}
	verdict := SigUnknownKey
	for _, sig := range sigs {
		var b bytes.Buffer
		if err := sig.Serialize(&b); err != nil {
			verdict = SigInvalid
			continue
		}
		_, signer, err := openpgp.VerifyDetachedSignature(ring, bytes.NewReader(signed), &b, d.cfg)
		switch {
		case err == nil && signer != nil:
			return SigValid, fmt.Sprintf("%X", signer.PrimaryKey.Fingerprint)
		case errors.Is(err, pgperrors.ErrUnknownIssuer):
		default:
			verdict = SigInvalid
		}
	}
	return verdict, ""
}

// verifyDetached checks a detached signature (armored or binary) over
// signed. RFC 3156 signs the canonical CRLF form; a signer that skipped the
// canonicalisation is given a second chance over the bytes as they are.
func (d *decoder) verifyDetached(signed, sigData []byte, from string) (Verdict, string) {
	sigs, err := readSignatures(sigData)
	if err != nil {
		return SigInvalid, ""
	}
	canon := toCRLF(signed)
	v, signer := d.verify(canon, sigs, from)
	if v == SigInvalid && len(canon) != len(signed) {
		if v2, s2 := d.verify(signed, sigs, from); v2 == SigValid {
			return v2, s2
		}
	}
	return v, signer
}

// ring returns the sender's keys, nil when unknown.
func (d *decoder) ring(from string) openpgp.EntityList {
	if d.senderKeys == nil || from == "" {
		return nil
	}
	return d.senderKeys(from)
}

// readSignatures parses the signature packets of an armored (any label:
// some clients write PGP MESSAGE) or binary signature.
func readSignatures(data []byte) ([]*packet.Signature, error) {
	if start, ok := findArmorStart(data, ""); ok {
		blk, err := decodeArmor(data, start)
		if err != nil {
			return nil, err
		}
		data = blk.Data
	}
	return signaturePackets(data)
}

// signaturePackets parses the signature packets of a binary signature.
func signaturePackets(data []byte) ([]*packet.Signature, error) {
	var sigs []*packet.Signature
	r := packet.NewReader(bytes.NewReader(data))
	for {
		p, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if s, ok := p.(*packet.Signature); ok {
			sigs = append(sigs, s)
		}
	}
	if len(sigs) == 0 {
		return nil, errors.New("no signature packet")
	}
	return sigs, nil
}

// verdictRank orders verdicts for combining the checks of one message: a
// bad signature anywhere is reported, then a good one, then an unknown key.
func verdictRank(v Verdict) int {
	switch v {
	case SigInvalid:
		return 4
	case SigValid:
		return 3
	case SigUnknownKey:
		return 2
	}
	return 1
}

// combine merges two verdicts (and their signers) on the same message.
func combine(v1 Verdict, s1 string, v2 Verdict, s2 string) (Verdict, string) {
	if verdictRank(v2) > verdictRank(v1) {
		return v2, s2
	}
	return v1, s1
}

// failureReason turns a decryption error into a short, secret-free reason.
func failureReason(err error) string {
	var structural pgperrors.StructuralError
	var unsupported pgperrors.UnsupportedError
	switch {
	case errors.Is(err, pgperrors.ErrKeyIncorrect):
		return "no matching private key"
	case errors.Is(err, errTruncatedArmor), errors.Is(err, io.ErrUnexpectedEOF):
		return "the encrypted data is truncated"
	case errors.Is(err, pgperrors.ErrMessageTooLarge):
		return "the decrypted message is too large"
	case errors.As(err, new(pgperrors.SignatureError)), errors.As(err, new(pgperrors.AEADError)),
		errors.As(err, new(pgperrors.ErrMalformedMessage)), errors.As(err, new(pgperrors.DecryptWithSessionKeyError)):
		return "the encrypted data was modified or is corrupt"
	case errors.As(err, &unsupported):
		return "unsupported OpenPGP feature: " + string(unsupported)
	case errors.As(err, &structural):
		return "the encrypted data is corrupt"
	}
	return "the encrypted data is damaged"
}
