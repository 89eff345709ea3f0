package imapsrv

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// BINARY (RFC 3516) is a part with its content transfer encoding undone
// and nothing else changed. go-imap's extractor goes through go-message,
// which also converts text to UTF-8 from whatever charset it names, so a
// Latin-1 part came back as other octets than its header says, and a part
// in an unknown charset as nothing. These are cut from the message as
// BODY[] is, and decoded here.

// binarySection returns BINARY[part]<partial> of raw, whose structure is bs.
func binarySection(raw []byte, bs imap.BodyStructure, item *imap.FetchItemBinarySection) []byte {
	return partial(binaryPart(raw, bs, item.Part), item.Partial)
}

// binaryPart is the decoded part, or for no part the message: unless it
// is multipart, its body decoded under a header that says so, as Dovecot
// has it, so that what the client gets is still a message.
func binaryPart(raw []byte, bs imap.BodyStructure, part []int) []byte {
	if len(part) == 0 {
		sp, ok := bs.(*imap.BodyStructureSinglePart)
		if !ok || !encoded(sp.Encoding) {
			return raw
		}
		header := bodySection(raw, &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader})
		text := bodySection(raw, &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText})
		return append(binaryHeader(header), decodeTransfer(text, sp.Encoding)...)
	}
	data := bodySection(raw, &imap.FetchItemBodySection{Part: part})
	if sp, ok := findPart(bs, part).(*imap.BodyStructureSinglePart); ok && sp.MessageRFC822 == nil {
		return decodeTransfer(data, sp.Encoding)
	}
	return data
}

// encoded reports whether decodeTransfer changes data in this encoding.
func encoded(encoding string) bool {
	e := strings.ToLower(encoding)
	return e == "base64" || e == "quoted-printable"
}

// binaryHeader is header with its Content-Transfer-Encoding fields, folded
// lines and all, made one "Content-Transfer-Encoding: binary" in the place
// of the first.
func binaryHeader(header []byte) []byte {
	const field = "Content-Transfer-Encoding"
	out := make([]byte, 0, len(header))
	done, skipping := false, false
	for rest := header; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		if skipping && (line[0] == ' ' || line[0] == '\t') {
			continue // the field's continuation
		}
		name, _, ok := bytes.Cut(line, []byte(":"))
		skipping = ok && strings.EqualFold(string(bytes.TrimRight(name, " \t")), field)
		switch {
		case !skipping:
			out = append(out, line...)
		case !done:
			out = append(out, field+": binary\r\n"...)
			done = true
		}
	}
	return out
}

// decodeTransfer undoes a content transfer encoding checkDecodable lets
// through. Damaged data decodes as far as it can: a client asked for the
// octets, and these are the ones there are.
func decodeTransfer(data []byte, encoding string) []byte {
	switch strings.ToLower(encoding) {
	case "base64":
		clean := make([]byte, 0, len(data))
		for _, c := range data {
			if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' {
				clean = append(clean, c)
			}
		}
		if len(clean)%4 == 1 {
			clean = clean[:len(clean)-1] // a lone sextet holds no octet
		}
		out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
		n, _ := base64.RawStdEncoding.Decode(out, clean)
		return out[:n]
	case "quoted-printable":
		out, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(data)))
		return out
	}
	return data
}
