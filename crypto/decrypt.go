package crypto

import (
	"bytes"
	"errors"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// decoder carries what one Decrypt call needs.
type decoder struct {
	keys       openpgp.EntityList
	senderKeys SenderKeys
	cfg        *packet.Config
}

// reasonPanic is the failure reason when parsing panicked.
const reasonPanic = "internal error while parsing the message"

// Decrypt turns one message as stored upstream into what a mail client
// should see. It recognises PGP/MIME (RFC 3156), inline PGP (armored or
// clearsigned text/plain body), whole-message encryption (a bare armored or
// binary OpenPGP message) and multipart/signed; anything else passes
// through as plain. keys are the user's unlocked private keys; senderKeys
// looks up the keys that may sign for the From address (the protected,
// inner From when there is one). Decrypt is safe to call from many
// goroutines with the same keys; senderKeys must then be safe for
// concurrent use too.
//
// The result starts with an X-Mailbridge-Signature field holding the
// verdict; such fields arriving with the message are always removed, so a
// sender cannot forge one. Output uses CRLF line endings throughout, with
// one exception: a whole-message plaintext is returned byte for byte (minus
// any forged X-Mailbridge-* field) and gets no verdict field, because
// APPENDed messages and Sent copies must read back exactly as written; its
// verdict is in Result.Signature.
//
// When the message cannot be decrypted, Failed is set and Message is a
// multipart/mixed explanation carrying the original, with an
// X-Mailbridge-Decryption: failed field. Decrypt never returns nil and
// never panics.
func Decrypt(raw []byte, keys openpgp.EntityList, senderKeys SenderKeys) (res *Result) {
	defer func() {
		// go-crypto has panicked on crafted packets before; one bad message
		// must not take the sync worker down.
		if r := recover(); r != nil {
			res = failure(raw, FormatPlain, reasonPanic)
		}
	}()
	d := &decoder{keys: keys, senderKeys: senderKeys, cfg: newConfig()}
	return d.decrypt(raw)
}

func (d *decoder) decrypt(raw []byte) *Result {
	trimmed := bytes.TrimLeft(raw, " \t\r\n")
	switch {
	case len(trimmed) == 0:
		return failure(raw, FormatPlain, "empty message")
	case trimmed[0]&0x80 != 0:
		// A packet tag byte always has the top bit set; a header never does.
		return d.whole(raw, trimmed)
	case bytes.HasPrefix(trimmed, []byte("-----BEGIN PGP MESSAGE-----")):
		blk, err := decodeArmor(trimmed, 0)
		if err != nil {
			return failure(raw, FormatWhole, failureReason(err))
		}
		return d.whole(raw, blk.Data)
	}

	hdr, body := splitMessage(raw)
	h, ok := parseHeader(hdr)
	if !ok {
		return failure(raw, FormatPlain, "not a mail message")
	}
	t, params := mediaType(h.get("Content-Type"))
	switch t {
	case "multipart/encrypted":
		return d.pgpMIME(raw, h, body, params["boundary"])
	case "multipart/signed":
		return d.signedMIME(h, body, params["boundary"])
	case "text/plain":
		if r := d.inline(raw, h, body); r != nil {
			return r
		}
	}
	return passThrough(h, body)
}

// passThrough returns a plain message with the verdict field added and any
// forged one removed.
func passThrough(h header, body []byte) *Result {
	var out bytes.Buffer
	out.Grow(len(body) + len(body)/32 + 1024)
	writeVerdict(&out, SigUnsigned)
	writeFieldsExcept(&out, h, nil)
	out.WriteString("\r\n")
	writeCRLF(&out, body)
	return &Result{Message: out.Bytes(), Format: FormatPlain, Signature: SigUnsigned}
}

// whole handles a message that is one OpenPGP message, data in binary.
func (d *decoder) whole(raw, data []byte) *Result {
	o, err := d.open(data)
	if err != nil {
		return failure(raw, FormatWhole, failureReason(err))
	}
	hdr, _ := splitMessage(o.plain)
	h, _ := parseHeader(hdr)
	v, signer := d.check(o, addressOf(h.get("From")))
	msg := o.plain
	if hasOwnField(h) {
		var out bytes.Buffer
		out.Grow(len(msg))
		writeFieldsExcept(&out, h, nil)
		out.Write(msg[len(hdr):])
		msg = out.Bytes()
	}
	return &Result{Message: msg, Format: FormatWhole, Signature: v, Signer: signer}
}

// pgpMIME decrypts an RFC 3156 multipart/encrypted message.
func (d *decoder) pgpMIME(raw []byte, outer header, body []byte, boundary string) *Result {
	parts, err := splitMultipart(body, boundary)
	if err != nil {
		return failure(raw, FormatPGPMIME, "malformed PGP/MIME structure")
	}
	data, err := encryptedPayload(parts)
	if err != nil {
		return failure(raw, FormatPGPMIME, failureReason(err))
	}
	o, err := d.open(data)
	if err != nil {
		return failure(raw, FormatPGPMIME, failureReason(err))
	}

	// The decrypted entity; a plaintext without a header (some clients
	// encrypt bare text) counts as a text/plain body.
	innerHdr, innerBody := splitMessage(o.plain)
	inner, ok := parseHeader(innerHdr)
	if !ok {
		inner, innerBody = nil, o.plain
	}
	levels := []header{inner}
	content := inner
	v, signer := SigUnsigned, ""
	if t, params := mediaType(inner.get("Content-Type")); t == "multipart/signed" {
		signedHdr, signedBody, sv, ss := d.unwrapSigned(innerBody, params["boundary"], inner, outer)
		if signedHdr != nil {
			levels = append(levels, signedHdr)
			content, innerBody = signedHdr, signedBody
			v, signer = sv, ss
		}
	}
	pv, ps := d.check(o, fromOf(content, inner, outer))
	v, signer = combine(v, signer, pv, ps)

	var out bytes.Buffer
	out.Grow(len(o.plain) + len(o.plain)/32 + 2048)
	writeVerdict(&out, v)
	writeMerged(&out, outer, levels, content)
	out.WriteString("\r\n")
	writeCRLF(&out, innerBody)
	return &Result{Message: out.Bytes(), Format: FormatPGPMIME, Signature: v, Signer: signer}
}

// encryptedPayload finds the binary OpenPGP message in the parts of a
// multipart/encrypted body: normally the second, application/octet-stream
// part, but any part carrying an armored message will do.
func encryptedPayload(parts [][]byte) ([]byte, error) {
	order := make([][]byte, 0, len(parts))
	if len(parts) >= 2 {
		order = append(order, parts[1])
	}
	order = append(order, parts...)
	for _, p := range order {
		hdr, body := splitMessage(p)
		h, _ := parseHeader(hdr)
		if t, _ := mediaType(h.get("Content-Type")); t == "application/pgp-encrypted" {
			continue
		}
		body, err := decodeTransfer(body, h.get("Content-Transfer-Encoding"))
		if err != nil {
			continue
		}
		if start, ok := findArmorStart(body, armorMessage); ok {
			blk, err := decodeArmor(body, start)
			if err != nil {
				return nil, err
			}
			return blk.Data, nil
		}
		if b := bytes.TrimLeft(body, "\r\n"); len(b) > 0 && b[0]&0x80 != 0 {
			return b, nil
		}
	}
	return nil, errors.New("no OpenPGP message in PGP/MIME body")
}

// unwrapSigned verifies a multipart/signed body and returns its signed
// entity split into header and body. The signer's address comes from the
// signed entity's protected From, else from the enclosing headers. A nil
// header means the structure was unusable; the caller then shows the
// multipart as it is.
func (d *decoder) unwrapSigned(body []byte, boundary string, enclosing ...header) (header, []byte, Verdict, string) {
	parts, err := splitMultipart(body, boundary)
	if err != nil || len(parts) < 2 {
		return nil, nil, SigInvalid, ""
	}
	sh, sb := splitMessage(parts[0])
	h, ok := parseHeader(sh)
	if !ok {
		return nil, nil, SigInvalid, ""
	}
	from := fromOf(append([]header{h}, enclosing...)...)
	v, signer := d.verifyDetached(parts[0], signaturePart(parts[1]), from)
	return h, sb, v, signer
}

// signaturePart returns the decoded body of a multipart/signed signature part.
func signaturePart(part []byte) []byte {
	hdr, body := splitMessage(part)
	h, _ := parseHeader(hdr)
	if dec, err := decodeTransfer(body, h.get("Content-Transfer-Encoding")); err == nil {
		return dec
	}
	return body
}

// signedMIME verifies a clear multipart/signed message and returns it
// unchanged apart from the verdict field.
func (d *decoder) signedMIME(h header, body []byte, boundary string) *Result {
	v, signer := SigInvalid, ""
	if parts, err := splitMultipart(body, boundary); err == nil && len(parts) >= 2 {
		from := addressOf(h.get("From"))
		if sh, _ := splitMessage(parts[0]); sh != nil {
			if ih, ok := parseHeader(sh); ok && ih.has("From") {
				from = addressOf(ih.get("From")) // protected header wins
			}
		}
		v, signer = d.verifyDetached(parts[0], signaturePart(parts[1]), from)
	}
	var out bytes.Buffer
	out.Grow(len(body) + len(body)/32 + 1024)
	writeVerdict(&out, v)
	writeFieldsExcept(&out, h, nil)
	out.WriteString("\r\n")
	writeCRLF(&out, body)
	return &Result{Message: out.Bytes(), Format: FormatSigned, Signature: v, Signer: signer}
}

// fromOf returns the From address of the first header that has one.
func fromOf(hs ...header) string {
	for _, h := range hs {
		if h.has("From") {
			if a := addressOf(h.get("From")); a != "" {
				return a
			}
		}
	}
	return ""
}

func writeVerdict(b *bytes.Buffer, v Verdict) {
	b.WriteString(HeaderSignature + ": " + string(v) + "\r\n")
}

func hasOwnField(h header) bool {
	for _, f := range h {
		if isOwnField(f.name) {
			return true
		}
	}
	return false
}

// writeFieldsExcept writes h's fields minus X-Mailbridge-* ones and those
// skip selects.
func writeFieldsExcept(b *bytes.Buffer, h header, skip func(name string) bool) {
	for _, f := range h {
		if isOwnField(f.name) || (skip != nil && skip(f.name)) {
			continue
		}
		writeField(b, f.raw)
	}
}

// writeMerged writes the header of a decrypted PGP/MIME message: the outer
// message fields, overridden by any field the inner levels carry (RFC 9788
// protected headers, innermost last so it wins), then the Content-* fields
// of the entity whose body follows.
func writeMerged(b *bytes.Buffer, outer header, levels []header, content header) {
	protected := map[string]bool{}
	var fields []field
	for i := len(levels) - 1; i >= 0; i-- {
		for _, f := range levels[i] {
			// HP-Outer fields describe the transport header, not the message.
			if !isMessageField(f.name) {
				continue
			}
			key := strings.ToLower(f.name)
			if protected[key] {
				continue // an inner level already supplied this field
			}
			fields = append(fields, f)
		}
		// Mark after the level so a level can repeat a field (Received, ...).
		for _, f := range fields {
			protected[strings.ToLower(f.name)] = true
		}
	}
	writeFieldsExcept(b, outer, func(name string) bool {
		return isContentField(name) || protected[strings.ToLower(name)]
	})
	if !outer.has("MIME-Version") {
		b.WriteString("MIME-Version: 1.0\r\n")
	}
	for _, f := range fields {
		writeField(b, f.raw)
	}
	for _, f := range content {
		if isContentField(f.name) {
			writeField(b, f.raw)
		}
	}
}
