package crypto

import (
	"bytes"
	stdcrypto "crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"strings"
)

// field is one header field exactly as it appeared, folded lines and line
// endings included, so that rewriting a header never alters the fields it
// keeps.
type field struct {
	name string
	raw  []byte
}

// value returns the unfolded field value.
func (f field) value() string {
	i := bytes.IndexByte(f.raw, ':')
	if i < 0 {
		return ""
	}
	v := f.raw[i+1:]
	if bytes.IndexByte(v, '\n') < 0 {
		return string(bytes.TrimSpace(v))
	}
	var sb strings.Builder
	for _, c := range v {
		if c != '\r' && c != '\n' {
			sb.WriteByte(c)
		}
	}
	return strings.TrimSpace(sb.String())
}

// header is a parsed header section in its original order.
type header []field

// splitMessage cuts an RFC 822 message (or MIME entity) into its header
// section and body. The blank separator line belongs to neither. Without a
// blank line the whole input is the header.
func splitMessage(msg []byte) (hdr, body []byte) {
	off := 0
	for off < len(msg) {
		i := bytes.IndexByte(msg[off:], '\n')
		if i < 0 {
			return msg, nil
		}
		line := msg[off : off+i]
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return msg[:off], msg[off+i+1:]
		}
		off += i + 1
	}
	return msg, nil
}

// parseHeader splits a header section into fields. It reports false when
// the first line is not a header field, which tells mail from other data.
func parseHeader(hdr []byte) (header, bool) {
	var h header
	off := 0
	for off < len(hdr) {
		next := len(hdr)
		if i := bytes.IndexByte(hdr[off:], '\n'); i >= 0 {
			next = off + i + 1
		}
		line := hdr[off:next]
		if (line[0] == ' ' || line[0] == '\t') && len(h) > 0 {
			last := &h[len(h)-1]
			last.raw = hdr[off-len(last.raw) : next]
		} else {
			colon := bytes.IndexByte(line, ':')
			name := ""
			if colon > 0 {
				name = string(bytes.TrimRight(line[:colon], " \t"))
			}
			if name == "" || strings.ContainsAny(name, " \t") {
				if len(h) == 0 {
					return nil, false
				}
				name = "" // kept as is, never matched
			}
			h = append(h, field{name: name, raw: line})
		}
		off = next
	}
	return h, len(h) > 0
}

// get returns the value of the first field called name.
func (h header) get(name string) string {
	for _, f := range h {
		if strings.EqualFold(f.name, name) {
			return f.value()
		}
	}
	return ""
}

// has reports whether a field called name is present.
func (h header) has(name string) bool {
	for _, f := range h {
		if strings.EqualFold(f.name, name) {
			return true
		}
	}
	return false
}

// isContentField reports whether a field describes the MIME entity rather
// than the message (RFC 2045 Content-* fields).
func isContentField(name string) bool {
	return len(name) > 8 && strings.EqualFold(name[:8], "content-")
}

// isOwnField reports fields mailbridge writes itself; incoming copies are
// always dropped so a sender cannot spoof a verdict.
func isOwnField(name string) bool {
	const prefix = "x-mailbridge-"
	return len(name) > len(prefix) && strings.EqualFold(name[:len(prefix)], prefix)
}

// writeField appends a field with CRLF line endings.
func writeField(b *bytes.Buffer, raw []byte) {
	writeCRLF(b, raw)
	if len(raw) == 0 || raw[len(raw)-1] != '\n' {
		b.WriteString("\r\n")
	}
}

// writeCRLF appends src to b turning every bare LF into CRLF.
func writeCRLF(b *bytes.Buffer, src []byte) {
	b.Grow(len(src) + len(src)/32)
	for len(src) > 0 {
		i := bytes.IndexByte(src, '\n')
		if i < 0 {
			b.Write(src)
			return
		}
		if i > 0 && src[i-1] == '\r' {
			b.Write(src[:i+1])
		} else {
			b.Write(src[:i])
			b.WriteString("\r\n")
		}
		src = src[i+1:]
	}
}

// toCRLF returns src with CRLF line endings, src itself when it has no
// bare LF.
func toCRLF(src []byte) []byte {
	if !hasBareLF(src) {
		return src
	}
	var b bytes.Buffer
	writeCRLF(&b, src)
	return b.Bytes()
}

func hasBareLF(src []byte) bool {
	for off := 0; ; {
		i := bytes.IndexByte(src[off:], '\n')
		if i < 0 {
			return false
		}
		if off+i == 0 || src[off+i-1] != '\r' {
			return true
		}
		off += i + 1
	}
}

// mediaType parses a Content-Type value, lowercasing the type. An absent or
// broken value reads as text/plain (RFC 2045 §5.2).
func mediaType(v string) (string, map[string]string) {
	if v == "" {
		return "text/plain", map[string]string{}
	}
	t, params, err := mime.ParseMediaType(v)
	if t == "" || (err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter)) {
		return "text/plain", map[string]string{}
	}
	if params == nil {
		params = map[string]string{}
	}
	return t, params
}

// splitMultipart returns the body parts of a multipart body (RFC 2046
// §5.1.1) as sub-slices of body. A part excludes the line break before the
// next delimiter, which belongs to the delimiter: that is exactly the octets
// a multipart/signed signature covers.
func splitMultipart(body []byte, boundary string) ([][]byte, error) {
	if boundary == "" {
		return nil, errors.New("multipart without boundary")
	}
	delim := []byte("--" + boundary)
	var parts [][]byte
	partStart := -1
	off := 0
	for {
		i := bytes.Index(body[off:], delim)
		if i < 0 {
			return nil, errors.New("multipart: missing closing delimiter")
		}
		i += off
		off = i + len(delim)
		if i > 0 && body[i-1] != '\n' {
			continue
		}
		rest := body[off:]
		closing := bytes.HasPrefix(rest, []byte("--"))
		line, next := nextLine(body, off)
		if closing {
			line = line[2:]
		}
		if len(bytes.TrimSpace(line)) != 0 {
			continue // a longer boundary that merely starts like ours
		}
		if partStart >= 0 {
			end := i
			if end > partStart && body[end-1] == '\n' {
				end--
				if end > partStart && body[end-1] == '\r' {
					end--
				}
			}
			parts = append(parts, body[partStart:end])
		}
		if closing {
			return parts, nil
		}
		partStart = next
		off = next
	}
}

// newBoundary returns a random MIME boundary; 128 random bits cannot collide
// with content.
func newBoundary() string {
	var r [16]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never fails (Go 1.24+)
	return "mb-" + hex.EncodeToString(r[:])
}

// addressOf extracts the first mailbox address of a From-like field value.
func addressOf(v string) string {
	if v == "" {
		return ""
	}
	if list, err := mail.ParseAddressList(v); err == nil && len(list) > 0 {
		return list[0].Address
	}
	if i := strings.LastIndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return strings.TrimSpace(v[i+1 : i+j])
		}
	}
	if strings.Contains(v, "@") && !strings.ContainsAny(v, " \t,") {
		return v
	}
	return ""
}

// micalg returns the RFC 3156 micalg name of a hash, "" if it has none.
func micalg(h stdcrypto.Hash) string {
	switch h {
	case stdcrypto.SHA256:
		return "pgp-sha256"
	case stdcrypto.SHA384:
		return "pgp-sha384"
	case stdcrypto.SHA512:
		return "pgp-sha512"
	case stdcrypto.SHA224:
		return "pgp-sha224"
	case stdcrypto.SHA1:
		return "pgp-sha1"
	case stdcrypto.SHA3_256:
		return "pgp-sha3-256"
	case stdcrypto.SHA3_512:
		return "pgp-sha3-512"
	}
	return ""
}

// decodeBase64Lines decodes a base64 body, ignoring line breaks and other
// whitespace, in one call.
func decodeBase64Lines(body []byte) ([]byte, error) {
	clean := make([]byte, 0, len(body))
	for _, c := range body {
		if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
			clean = append(clean, c)
		}
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
	n, err := base64.StdEncoding.Decode(out, clean)
	if err != nil {
		return nil, fmt.Errorf("crypto: base64 body: %w", err)
	}
	return out[:n], nil
}
