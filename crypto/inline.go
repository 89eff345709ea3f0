package crypto

import (
	"bytes"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
)

// inline handles a text/plain message whose body holds armored PGP
// MESSAGE or clearsigned blocks ("inline PGP"). Each block is replaced by
// its plaintext; text around the blocks is kept. It returns nil when the
// body holds no such block.
func (d *decoder) inline(raw []byte, h header, body []byte) *Result {
	text, err := decodeTransfer(body, h.get("Content-Transfer-Encoding"))
	if err != nil {
		return nil
	}
	start, ok := nextInlineBlock(text, 0)
	if !ok {
		return nil
	}
	from := addressOf(h.get("From"))
	v, signer := SigUnsigned, ""
	var plain bytes.Buffer
	plain.Grow(len(text))
	prev := 0
	for ok {
		plain.Write(text[prev:start])
		if bytes.HasPrefix(text[start:], []byte("-----BEGIN "+armorSigned+"-----")) {
			blk, rest := clearsign.Decode(text[start:])
			if blk == nil {
				return failure(raw, FormatInline, "damaged clearsigned text")
			}
			bv, bs := SigInvalid, ""
			if sigData, err := io.ReadAll(blk.ArmoredSignature.Body); err == nil {
				if sigs, err := signaturePackets(sigData); err == nil {
					bv, bs = d.verify(blk.Bytes, sigs, from)
				}
			}
			v, signer = combine(v, signer, bv, bs)
			plain.Write(blk.Plaintext)
			prev = len(text) - len(rest)
		} else {
			blk, err := decodeArmor(text, start)
			if err != nil {
				return failure(raw, FormatInline, failureReason(err))
			}
			o, err := d.open(blk.Data)
			if err != nil {
				return failure(raw, FormatInline, failureReason(err))
			}
			bv, bs := d.check(o, from)
			v, signer = combine(v, signer, bv, bs)
			plain.Write(o.plain)
			prev = blk.End
		}
		start, ok = nextInlineBlock(text, prev)
	}
	plain.Write(text[prev:])

	var out bytes.Buffer
	out.Grow(plain.Len() + plain.Len()/32 + 1024)
	writeVerdict(&out, v)
	writeFieldsExcept(&out, h, func(name string) bool {
		return strings.EqualFold(name, "Content-Transfer-Encoding")
	})
	body = plain.Bytes()
	if cte := transferEncodingFor(body); cte == "base64" {
		out.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
		writeBase64Lines(&out, body)
	} else {
		out.WriteString("Content-Transfer-Encoding: " + cte + "\r\n\r\n")
		writeCRLF(&out, body)
	}
	return &Result{Message: out.Bytes(), Format: FormatInline, Signature: v, Signer: signer}
}

// nextInlineBlock finds the next encrypted or clearsigned armor block at or
// after off.
func nextInlineBlock(text []byte, off int) (int, bool) {
	m, okM := findArmorStart(text[off:], armorMessage)
	s, okS := findArmorStart(text[off:], armorSigned)
	switch {
	case okM && (!okS || m < s):
		return off + m, true
	case okS:
		return off + s, true
	}
	return 0, false
}

// transferEncodingFor picks the lightest Content-Transfer-Encoding that
// carries body intact: 7bit for ASCII, 8bit for other text, base64 when it
// holds NULs or over-long lines.
func transferEncodingFor(body []byte) string {
	ascii := true
	lineLen := 0
	for _, c := range body {
		switch {
		case c == 0:
			return "base64"
		case c == '\n':
			lineLen = 0
			continue
		case c >= 0x80:
			ascii = false
		}
		lineLen++
		if lineLen > 998 {
			return "base64"
		}
	}
	if ascii {
		return "7bit"
	}
	return "8bit"
}
