package crypto

import (
	"bytes"
	"encoding/base64"
	"strings"
)

// failure builds the Result for a message that could not be decrypted: a
// multipart/mixed message whose first part says why and whose second part
// is the original, unchanged, so nothing is ever lost.
func failure(raw []byte, format Format, reason string) *Result {
	hdr, _ := splitMessage(raw)
	h, isMail := parseHeader(hdr)
	if format == FormatWhole || bytes.IndexByte(raw, 0) >= 0 {
		isMail = false
	}
	boundary := newBoundary()
	var out bytes.Buffer
	out.Grow(len(raw)*4/3 + 2048)
	writeVerdict(&out, SigUnsigned)
	out.WriteString(HeaderDecryption + ": failed\r\n")
	if isMail {
		writeFieldsExcept(&out, h, func(name string) bool {
			return name == "" || isContentField(name) || strings.EqualFold(name, "MIME-Version")
		})
	}
	if !isMail || !h.has("Subject") {
		out.WriteString("Subject: Message that mailbridge could not decrypt\r\n")
	}
	out.WriteString("MIME-Version: 1.0\r\n")
	out.WriteString("Content-Type: multipart/mixed; boundary=\"" + boundary + "\"\r\n\r\n")
	out.WriteString("--" + boundary + "\r\n")
	out.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	out.WriteString("This message could not be decrypted by mailbridge: " + reason + ".\r\n")
	out.WriteString("The original message is attached unchanged.\r\n")
	out.WriteString("\r\n--" + boundary + "\r\n")
	if isMail {
		out.WriteString("Content-Type: message/rfc822\r\n")
		out.WriteString("Content-Disposition: attachment; filename=\"original.eml\"\r\n\r\n")
		writeCRLF(&out, raw)
	} else {
		out.WriteString("Content-Type: application/octet-stream; name=\"original.pgp\"\r\n")
		out.WriteString("Content-Transfer-Encoding: base64\r\n")
		out.WriteString("Content-Disposition: attachment; filename=\"original.pgp\"\r\n\r\n")
		writeBase64Lines(&out, raw)
	}
	out.WriteString("\r\n--" + boundary + "--\r\n")
	return &Result{Message: out.Bytes(), Format: format, Signature: SigUnsigned, Failed: true, Reason: reason}
}

// writeBase64Lines appends data base64-encoded in 76-character lines.
func writeBase64Lines(b *bytes.Buffer, data []byte) {
	enc := make([]byte, base64.StdEncoding.EncodedLen(len(data)))
	base64.StdEncoding.Encode(enc, data)
	for len(enc) > 0 {
		n := min(76, len(enc))
		b.Write(enc[:n])
		b.WriteString("\r\n")
		enc = enc[n:]
	}
}
