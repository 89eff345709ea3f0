package crypto

import (
	"bytes"
	"fmt"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// AttachPublicKey returns msg with key's public key attached, so that a
// recipient without a key can start writing encrypted mail back. The
// message becomes a multipart/mixed whose first part is the original MIME
// entity (its Content-* fields and body, unchanged but for CRLF line
// endings) and whose second part is the armored key as application/pgp-keys.
// Every other header field stays at the top, as written.
func AttachPublicKey(msg []byte, key *openpgp.Entity) ([]byte, error) {
	h, body, err := parseMessage(msg)
	if err != nil {
		return nil, err
	}
	armored, err := ArmorPublicKey(key)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("OpenPGP_0x%016X.asc", key.PrimaryKey.KeyId)

	boundary := newBoundary()
	var out bytes.Buffer
	out.Grow(len(msg) + len(armored) + 1024)
	for _, f := range h {
		if isContentField(f.name) || isOwnField(f.name) || f.name == "" {
			continue
		}
		writeField(&out, f.raw)
	}
	if !h.has("MIME-Version") {
		out.WriteString("MIME-Version: 1.0\r\n")
	}
	out.WriteString("Content-Type: multipart/mixed; boundary=\"" + boundary + "\"\r\n\r\n")
	out.WriteString("--" + boundary + "\r\n")
	if !h.has("Content-Type") {
		out.WriteString("Content-Type: text/plain; charset=us-ascii\r\n")
	}
	for _, f := range h {
		if isContentField(f.name) {
			writeField(&out, f.raw)
		}
	}
	out.WriteString("\r\n")
	writeCRLF(&out, body)
	// The CRLF before a boundary belongs to the boundary (RFC 2046 5.1.1),
	// so this one keeps the body's own last line ending intact.
	out.WriteString("\r\n--" + boundary + "\r\n")
	out.WriteString("Content-Type: application/pgp-keys; name=\"" + name + "\"\r\n")
	out.WriteString("Content-Disposition: attachment; filename=\"" + name + "\"\r\n")
	out.WriteString("Content-Description: OpenPGP public key\r\n\r\n")
	out.Write(toCRLF(armored))
	out.WriteString("\r\n--" + boundary + "--\r\n")
	return out.Bytes(), nil
}
