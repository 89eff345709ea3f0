package store

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/textproto"
)

// maxDepth bounds MIME nesting, so a hostile message cannot recurse
// without end.
const maxDepth = 32

// maxParts bounds the parts of one message, and so its BODYSTRUCTURE:
// four bytes of boundary per part would otherwise let a 64 MiB message
// describe itself in gigabytes. Parts past it are left out.
const maxParts = 10000

// maxText bounds the decoded text kept for search per message.
const maxText = 1 << 20

// splitHeader returns the header block (including the blank line that
// ends it) and the body. A message without a blank line is all header.
func splitHeader(raw []byte) (header, body []byte) {
	// Whichever blank line comes first ends the header; a bare one is
	// looked for only before the CRLF one, not through the whole body.
	crlf := bytes.Index(raw, []byte("\r\n\r\n"))
	end := len(raw)
	if crlf >= 0 {
		end = crlf + 1
	}
	if j := bytes.Index(raw[:end], []byte("\n\n")); j >= 0 {
		return raw[:j+2], raw[j+2:]
	}
	if crlf >= 0 {
		return raw[:crlf+4], raw[crlf+4:]
	}
	if bytes.HasPrefix(raw, []byte("\r\n")) {
		return raw[:2], raw[2:]
	}
	return raw, nil
}

func readHeader(block []byte) textproto.Header {
	// A reader no bigger than the block: the default 4 KiB buffer was
	// most of what parsing a short header allocated.
	size := min(len(block), 4096)
	h, err := textproto.ReadHeader(bufio.NewReaderSize(bytes.NewReader(block), size))
	if err != nil {
		// A damaged header still yields the fields before the damage.
		return h
	}
	return h
}

// walker builds the body structure and collects the decoded text of the
// text parts for search in one pass.
//
// A walker with seek set looks for that folded string instead (see
// seek.go): text then holds only the tail a match could still start in,
// and the walk stops at the first match.
type walker struct {
	text  []byte // folded, as search compares it
	n     int    // bytes of text before folding, which maxText bounds
	parts int    // parts seen so far, which maxParts bounds

	seek  []byte
	found bool
	dec   []byte // a seeking walk's decoding buffer, reused piece by piece
}

func (w *walker) part(h textproto.Header, body []byte, depth int, defaultType string) imap.BodyStructure {
	w.parts++
	mediaType, params := contentType(h, defaultType)
	typ, sub, _ := strings.Cut(mediaType, "/")
	ext := struct {
		disp *imap.BodyStructureDisposition
		lang []string
		loc  string
	}{disposition(h), language(h), h.Get("Content-Location")}

	if typ == "multipart" && depth < maxDepth {
		bs := &imap.BodyStructureMultiPart{Subtype: sub}
		childDefault := "text/plain"
		if sub == "digest" {
			childDefault = "message/rfc822"
		}
		for _, p := range multipartParts(body, params["boundary"]) {
			if w.parts >= maxParts || w.found {
				break
			}
			ph, pb := splitHeader(p)
			bs.Children = append(bs.Children, w.part(readHeader(ph), pb, depth+1, childDefault))
		}
		if len(bs.Children) == 0 {
			// RFC 3501 needs at least one part: show an empty text part.
			bs.Children = []imap.BodyStructure{&imap.BodyStructureSinglePart{
				Type: "text", Subtype: "plain", Params: map[string]string{"charset": "us-ascii"},
				Encoding: "7bit", Text: &imap.BodyStructureText{},
			}}
		}
		bs.Extended = &imap.BodyStructureMultiPartExt{Params: params, Disposition: ext.disp, Language: ext.lang, Location: ext.loc}
		return bs
	}
	if typ == "multipart" { // too deep: show it as opaque data
		typ, sub = "application", "octet-stream"
	}

	enc := strings.TrimSpace(h.Get("Content-Transfer-Encoding"))
	if enc == "" {
		enc = "7bit"
	}
	bs := &imap.BodyStructureSinglePart{
		Type:        typ,
		Subtype:     sub,
		Params:      params,
		ID:          h.Get("Content-Id"),
		Description: h.Get("Content-Description"),
		Encoding:    enc,
		Size:        uint32(min(len(body), 1<<32-1)),
		Extended:    &imap.BodyStructureSinglePartExt{Disposition: ext.disp, Language: ext.lang, Location: ext.loc},
	}
	lines := int64(bytes.Count(body, []byte("\n")))
	switch {
	case typ == "text":
		bs.Text = &imap.BodyStructureText{NumLines: lines}
		if ext.disp == nil || !strings.EqualFold(ext.disp.Value, "attachment") {
			w.addText(body, enc, params["charset"], sub == "html")
		}
	case mediaType == "message/rfc822" || mediaType == "message/global":
		inner := decodeTransfer(body, enc)
		ih, ib := splitHeader(inner)
		hdr := readHeader(ih)
		bs.MessageRFC822 = &imap.BodyStructureMessageRFC822{
			Envelope:      envelope(hdr),
			BodyStructure: w.part(hdr, ib, depth+1, "text/plain"),
			NumLines:      lines,
		}
	}
	return bs
}

// addText appends the decoded text of a part, HTML without its markup.
func (w *walker) addText(body []byte, enc, cs string, html bool) {
	if w.n >= maxText || w.found {
		return
	}
	if w.seek != nil && !html && plainCharset(cs) && !strings.EqualFold(enc, "base64") {
		w.seekPieces(body, strings.EqualFold(enc, "quoted-printable"))
		return
	}
	raw := decodeTransfer(body, enc)
	if cs != "" && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "us-ascii") {
		if r, err := charset.Reader(cs, bytes.NewReader(raw)); err == nil {
			if dec, err := io.ReadAll(io.LimitReader(r, maxText)); err == nil {
				raw = dec
			}
		}
	}
	if html {
		raw = stripHTML(raw)
	}
	if w.n+len(raw) > maxText {
		raw = raw[:maxText-w.n]
	}
	w.n += len(raw) + 1
	w.emit(raw)
	w.emit(newline)
}

var newline = []byte{'\n'}

// plainCharset reports whether text in charset cs is searched as it is.
func plainCharset(cs string) bool {
	return cs == "" || strings.EqualFold(cs, "utf-8") || strings.EqualFold(cs, "us-ascii")
}

func decodeTransfer(body []byte, enc string) []byte {
	var r io.Reader
	switch strings.ToLower(enc) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &base64Cleaner{b: body})
	case "quoted-printable":
		return decodeQP(body)
	default:
		return body
	}
	out, _ := io.ReadAll(io.LimitReader(r, maxText)) // keep what decoded before an error
	return out
}

// decodeQP decodes quoted-printable leniently (RFC 2045 6.7): soft line
// breaks go, =XX becomes its byte, anything malformed is kept as it is.
// It is several times faster than mime/quotedprintable's reader, which
// matters because search rebuilds candidates' text on the fly.
func decodeQP(b []byte) []byte { return appendQP(make([]byte, 0, len(b)), b) }

// appendQP appends what decodeQP returns to out.
func appendQP(out, b []byte) []byte {
	limit := len(out) + maxText
	for i := 0; i < len(b) && len(out) < limit; i++ {
		c := b[i]
		if c != '=' {
			out = append(out, c)
			continue
		}
		switch {
		case i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n':
			i += 2
		case i+1 < len(b) && b[i+1] == '\n':
			i++
		case i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]):
			out = append(out, unhex(b[i+1])<<4|unhex(b[i+2]))
			i += 2
		default:
			out = append(out, c)
		}
	}
	return out
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// base64Cleaner drops line breaks and other bytes outside the base64
// alphabet, which encoding/base64 would reject.
type base64Cleaner struct{ b []byte }

func (c *base64Cleaner) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && len(c.b) > 0 {
		ch := c.b[0]
		c.b = c.b[1:]
		if ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '+' || ch == '/' || ch == '=' {
			p[n] = ch
			n++
		}
	}
	if n == 0 && len(c.b) == 0 {
		return 0, io.EOF
	}
	return n, nil
}

func contentType(h textproto.Header, def string) (string, map[string]string) {
	v := h.Get("Content-Type")
	if v == "" {
		v = def
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil || !strings.Contains(mt, "/") {
		// RFC 2045: an unreadable type is text/plain; charset=us-ascii.
		if err != nil && strings.Contains(mt, "/") {
			return strings.ToLower(mt), params
		}
		mt, params = "text/plain", map[string]string{"charset": "us-ascii"}
	}
	if mt == "text/plain" && len(params) == 0 {
		params = map[string]string{"charset": "us-ascii"}
	}
	return mt, params
}

func disposition(h textproto.Header) *imap.BodyStructureDisposition {
	v := h.Get("Content-Disposition")
	if v == "" {
		return nil
	}
	d, params, err := mime.ParseMediaType(v)
	if err != nil && d == "" {
		return nil
	}
	return &imap.BodyStructureDisposition{Value: d, Params: params}
}

func language(h textproto.Header) []string {
	v := h.Get("Content-Language")
	if v == "" {
		return nil
	}
	var out []string
	for _, l := range strings.Split(v, ",") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// multipartParts splits a multipart body at its boundary, raw parts with
// their headers. It is lenient: a missing close delimiter ends the last
// part at the end of the body.
func multipartParts(body []byte, boundary string) [][]byte {
	if boundary == "" {
		return nil
	}
	delim := []byte("--" + boundary)
	var parts [][]byte
	start := -1
	for pos := 0; pos <= len(body); {
		lineEnd := bytes.IndexByte(body[pos:], '\n')
		var line []byte
		next := len(body) + 1
		if lineEnd < 0 {
			line = body[pos:]
		} else {
			line = body[pos : pos+lineEnd]
			next = pos + lineEnd + 1
		}
		trimmed := bytes.TrimRight(line, " \t\r")
		rest, isDelim := bytes.CutPrefix(trimmed, delim)
		// "--b10" is no delimiter of boundary "b1" (RFC 2046 5.1.1): a
		// parser that ended a part there would list the parts after it
		// again, doubling with every level of such nesting.
		if isDelim && (len(rest) == 0 || bytes.Equal(rest, []byte("--"))) {
			if start >= 0 {
				end := pos
				// The CRLF before the delimiter belongs to it.
				if end > start && body[end-1] == '\n' {
					end--
					if end > start && body[end-1] == '\r' {
						end--
					}
				}
				parts = append(parts, body[start:end])
			}
			if len(rest) > 0 {
				return parts
			}
			start = min(next, len(body))
		}
		pos = next
	}
	if start >= 0 && start < len(body) {
		parts = append(parts, body[start:])
	}
	return parts
}

// blockTag reports whether a tag (its text between < and >) breaks the
// text flow, so that words on either side stay apart; inline tags such as
// <b> do not, so "<b>wel</b>come" stays one word.
func blockTag(tag string) bool {
	tag = strings.TrimPrefix(tag, "/")
	end := strings.IndexAny(tag, " \t\r\n/")
	if end >= 0 {
		tag = tag[:end]
	}
	switch strings.ToLower(tag) {
	case "a", "b", "i", "u", "em", "strong", "span", "font", "small", "big", "sub", "sup", "code", "s", "strike", "mark", "abbr":
		return false
	}
	return true
}

// stripHTML returns the text of an HTML document: tags, comments, scripts
// and styles removed, entities decoded.
func stripHTML(b []byte) []byte {
	var out bytes.Buffer
	s := string(b)
	for len(s) > 0 {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			out.WriteString(htmlUnescape(s))
			break
		}
		out.WriteString(htmlUnescape(s[:i]))
		s = s[i:]
		switch {
		case strings.HasPrefix(s, "<!--"):
			if j := strings.Index(s, "-->"); j >= 0 {
				s = s[j+3:]
			} else {
				s = ""
			}
			continue
		case hasPrefixFold(s, "<script"), hasPrefixFold(s, "<style"):
			name := "</script"
			if hasPrefixFold(s, "<style") {
				name = "</style"
			}
			if j := indexFold(s, name); j >= 0 {
				s = s[j:]
			} else {
				s = ""
				continue
			}
		}
		if j := strings.IndexByte(s, '>'); j >= 0 {
			if blockTag(s[1:j]) {
				out.WriteByte(' ')
			}
			s = s[j+1:]
		} else {
			s = ""
		}
	}
	return out.Bytes()
}
