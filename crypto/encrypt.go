package crypto

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime/quotedprintable"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// obscuredSubject replaces the outer Subject of encrypted mail: RFC 9788's
// baseline header confidentiality policy (hcp_baseline) uses "[...]".
const obscuredSubject = "[...]"

// Values of the RFC 9788 "hp" Content-Type parameter of the cryptographic
// payload: the header section inside is protected by encryption ("cipher")
// or only by a signature ("clear").
const (
	hpCipher = "cipher"
	hpClear  = "clear"
)

// EncryptMIME encrypts msg as RFC 3156 PGP/MIME to every entity in to. The
// encrypted payload is the message's MIME entity with RFC 9788 header
// protection: every message header field is copied inside, the
// Content-Type gains hp="cipher" (and the older protected-headers="v1" that
// deployed clients still look for), and HP-Outer fields record what the
// outer header shows. The outer Subject becomes "[...]" (hcp_baseline).
// When signer is non-nil the payload is also signed inside the OpenPGP
// message (RFC 3156 §6.2). Bcc is dropped everywhere. The body is copied
// byte for byte, except that bare LFs become CRLF.
func EncryptMIME(msg []byte, to openpgp.EntityList, signer *openpgp.Entity) ([]byte, error) {
	h, body, err := parseMessage(msg)
	if err != nil {
		return nil, err
	}
	var outer bytes.Buffer
	writeOuterFields(&outer, h, true)
	inner := protectedEntity(h, body, hpCipher, outer.Bytes())
	var ct bytes.Buffer
	ct.Grow(len(inner)*4/3 + 1024)
	if err := encryptTo(&ct, inner, to, signer); err != nil {
		return nil, err
	}

	boundary := newBoundary()
	var out bytes.Buffer
	out.Grow(ct.Len()*4/3 + outer.Len() + 1024)
	out.Write(outer.Bytes())
	out.WriteString("MIME-Version: 1.0\r\n")
	out.WriteString("Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\";\r\n boundary=\"" + boundary + "\"\r\n\r\n")
	out.WriteString("This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)\r\n")
	out.WriteString("--" + boundary + "\r\n")
	out.WriteString("Content-Type: application/pgp-encrypted\r\nContent-Description: PGP/MIME version identification\r\n\r\nVersion: 1\r\n\r\n")
	out.WriteString("--" + boundary + "\r\n")
	out.WriteString("Content-Type: application/octet-stream; name=\"encrypted.asc\"\r\n")
	out.WriteString("Content-Description: OpenPGP encrypted message\r\n")
	out.WriteString("Content-Disposition: inline; filename=\"encrypted.asc\"\r\n\r\n")
	writeArmor(&out, armorMessage, ct.Bytes())
	out.WriteString("\r\n--" + boundary + "--\r\n")
	return out.Bytes(), nil
}

// SignMIME signs msg as RFC 3156 §5 multipart/signed. The signed part is
// the message's MIME entity with RFC 9788 protected headers (hp="clear"),
// canonicalised to CRLF exactly as it is signed; the signature is detached
// and armored as "PGP SIGNATURE". The outer Subject stays readable. Bcc is
// dropped.
func SignMIME(msg []byte, signer *openpgp.Entity) ([]byte, error) {
	if err := checkSigner(signer); err != nil {
		return nil, err
	}
	h, body, err := parseMessage(msg)
	if err != nil {
		return nil, err
	}
	inner := protectedEntity(h, body, hpClear, nil)
	cfg := newConfig()
	var sig bytes.Buffer
	if err := openpgp.DetachSign(&sig, signer, bytes.NewReader(inner), cfg); err != nil {
		return nil, fmt.Errorf("crypto: sign: %w", err)
	}
	micalg, err := signatureMicalg(sig.Bytes())
	if err != nil {
		return nil, err
	}

	boundary := newBoundary()
	var out bytes.Buffer
	out.Grow(len(inner) + len(msg)/4 + 2048)
	writeOuterFields(&out, h, false)
	out.WriteString("MIME-Version: 1.0\r\n")
	out.WriteString("Content-Type: multipart/signed; micalg=" + micalg + ";\r\n protocol=\"application/pgp-signature\"; boundary=\"" + boundary + "\"\r\n\r\n")
	out.WriteString("This is an OpenPGP/MIME signed message (RFC 4880 and 3156)\r\n")
	out.WriteString("--" + boundary + "\r\n")
	out.Write(inner)
	out.WriteString("\r\n--" + boundary + "\r\n")
	out.WriteString("Content-Type: application/pgp-signature; name=\"signature.asc\"\r\n")
	out.WriteString("Content-Description: OpenPGP digital signature\r\n")
	out.WriteString("Content-Disposition: attachment; filename=\"signature.asc\"\r\n\r\n")
	writeArmor(&out, armorSignature, sig.Bytes())
	out.WriteString("\r\n--" + boundary + "--\r\n")
	return out.Bytes(), nil
}

// EncryptInline replaces the text/plain body of a single-part message with
// an armored PGP MESSAGE of its decoded content ("inline PGP"). Headers are
// kept, except that the transfer encoding becomes 7bit and Bcc is dropped.
// Other message shapes are refused.
func EncryptInline(msg []byte, to openpgp.EntityList, signer *openpgp.Entity) ([]byte, error) {
	h, body, err := parseMessage(msg)
	if err != nil {
		return nil, err
	}
	if t, _ := mediaType(h.get("Content-Type")); t != "text/plain" {
		return nil, fmt.Errorf("crypto: inline PGP needs a text/plain message, not %s", t)
	}
	text, err := decodeTransfer(body, h.get("Content-Transfer-Encoding"))
	if err != nil {
		return nil, err
	}
	var ct bytes.Buffer
	if err := encryptTo(&ct, text, to, signer); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Grow(ct.Len()*4/3 + len(msg)/4 + 512)
	for _, f := range h {
		if strings.EqualFold(f.name, "Content-Transfer-Encoding") || strings.EqualFold(f.name, "Bcc") || isOwnField(f.name) {
			continue
		}
		writeField(&out, f.raw)
	}
	out.WriteString("Content-Transfer-Encoding: 7bit\r\n\r\n")
	writeArmor(&out, armorMessage, ct.Bytes())
	return out.Bytes(), nil
}

// EncryptWhole encrypts the whole message, headers included and byte for
// byte, as one armored OpenPGP message with no outer headers. Decrypt gives
// the same bytes back.
func EncryptWhole(msg []byte, to openpgp.EntityList, signer *openpgp.Entity) ([]byte, error) {
	if len(msg) == 0 {
		return nil, errors.New("crypto: empty message")
	}
	var ct bytes.Buffer
	ct.Grow(len(msg) + 1024)
	if err := encryptTo(&ct, msg, to, signer); err != nil {
		return nil, err
	}
	return armorBytes(armorMessage, ct.Bytes()), nil
}

// encryptTo writes plaintext as a binary OpenPGP message encrypted to every
// recipient and, with a signer, signed.
func encryptTo(w io.Writer, plaintext []byte, to openpgp.EntityList, signer *openpgp.Entity) error {
	if len(to) == 0 {
		return errors.New("crypto: no recipients")
	}
	if signer != nil {
		if err := checkSigner(signer); err != nil {
			return err
		}
	}
	// An explicit Config matters: go-crypto's v2 API panics on nil for
	// AEAD-capable recipients, and it pins SHA-256 and AES-256.
	pw, err := openpgp.Encrypt(w, to, signer, &openpgp.FileHints{IsBinary: true}, newConfig())
	if err != nil {
		return fmt.Errorf("crypto: encrypt: %w", err)
	}
	if _, err := pw.Write(plaintext); err != nil {
		return fmt.Errorf("crypto: encrypt: %w", err)
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("crypto: encrypt: %w", err)
	}
	return nil
}

func checkSigner(signer *openpgp.Entity) error {
	if signer == nil || signer.PrivateKey == nil {
		return errors.New("crypto: signer has no private key")
	}
	if isLocked(signer) {
		return errors.New("crypto: signer key is locked")
	}
	return nil
}

// parseMessage splits and parses msg, refusing input that is not mail.
func parseMessage(msg []byte) (header, []byte, error) {
	if len(msg) == 0 {
		return nil, nil, errors.New("crypto: empty message")
	}
	hdr, body := splitMessage(msg)
	h, ok := parseHeader(hdr)
	if !ok {
		return nil, nil, errors.New("crypto: message has no header")
	}
	return h, body, nil
}

// protectedEntity builds the RFC 9788 cryptographic payload: the message's
// Content-* fields, with hp and protected-headers="v1" added to the
// Content-Type, then a copy of every message header field but Bcc, then,
// for encrypted mail, an HP-Outer field for each field of outer (the header
// the world sees), then the body, all in canonical CRLF form.
func protectedEntity(h header, body []byte, hp string, outer []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(body) + len(body)/32 + 2048)
	ct := h.get("Content-Type")
	if ct == "" {
		ct = "text/plain; charset=us-ascii"
	}
	ct = strings.TrimRight(ct, "; \t")
	_, params := mediaType(ct)
	if params["hp"] == "" {
		ct += "; hp=\"" + hp + "\""
	}
	if params["protected-headers"] == "" {
		ct += "; protected-headers=\"v1\""
	}
	b.WriteString("Content-Type: " + ct + "\r\n")
	for _, f := range h {
		if isContentField(f.name) && !strings.EqualFold(f.name, "Content-Type") {
			writeField(&b, f.raw)
		}
	}
	for _, f := range h {
		if isMessageField(f.name) && !strings.EqualFold(f.name, "Bcc") {
			writeField(&b, f.raw)
		}
	}
	if hp == hpCipher {
		outerFields, _ := parseHeader(outer)
		for _, f := range outerFields {
			if isMessageField(f.name) {
				b.WriteString(hpOuterField + ": ")
				writeField(&b, f.raw)
			}
		}
	}
	b.WriteString("\r\n")
	writeCRLF(&b, body)
	return b.Bytes()
}

// hpOuterField records, inside an encrypted payload, one field of the outer
// header (RFC 9788 section 2.2), so the receiver can tell which fields
// were obscured or removed in transit.
const hpOuterField = "HP-Outer"

// isMessageField reports whether a field describes the message, rather
// than its MIME structure or mailbridge's own annotations: the fields
// header protection copies.
func isMessageField(name string) bool {
	return name != "" && !isContentField(name) && !isOwnField(name) &&
		!strings.EqualFold(name, "MIME-Version") && !strings.EqualFold(name, hpOuterField)
}

// writeOuterFields writes the message-level fields of h: no Content-*,
// MIME-Version, Bcc or X-Mailbridge-* fields, and with obscure set the
// Subject becomes "..." (added when missing, as RFC 9788 suggests).
func writeOuterFields(b *bytes.Buffer, h header, obscure bool) {
	subject := false
	for _, f := range h {
		switch {
		case f.name == "", isContentField(f.name), isOwnField(f.name),
			strings.EqualFold(f.name, "MIME-Version"), strings.EqualFold(f.name, "Bcc"):
			continue
		case obscure && strings.EqualFold(f.name, "Subject"):
			if !subject {
				b.WriteString("Subject: " + obscuredSubject + "\r\n")
				subject = true
			}
			continue
		}
		writeField(b, f.raw)
	}
	if obscure && !subject {
		b.WriteString("Subject: " + obscuredSubject + "\r\n")
	}
}

// signatureMicalg names the hash of a binary signature packet for the
// multipart/signed micalg parameter (RFC 3156 §5).
func signatureMicalg(sig []byte) (string, error) {
	p, err := packet.Read(bytes.NewReader(sig))
	if err != nil {
		return "", fmt.Errorf("crypto: read own signature: %w", err)
	}
	s, ok := p.(*packet.Signature)
	if !ok {
		return "", errors.New("crypto: own signature is not a signature packet")
	}
	name := micalg(s.Hash)
	if name == "" {
		return "", fmt.Errorf("crypto: no micalg name for hash %v", s.Hash)
	}
	return name, nil
}

// decodeTransfer undoes a Content-Transfer-Encoding.
func decodeTransfer(body []byte, cte string) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		if err != nil {
			return nil, fmt.Errorf("crypto: quoted-printable body: %w", err)
		}
		return out, nil
	case "base64":
		return decodeBase64Lines(body)
	default:
		return body, nil
	}
}
