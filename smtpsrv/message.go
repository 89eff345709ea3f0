package smtpsrv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"

	"github.com/emersion/go-message"
	"github.com/emersion/go-smtp"
)

// maxMIMEDepth bounds multipart nesting; real mail rarely goes past 5.
const maxMIMEDepth = 32

// errMalformed marks a message that cannot be parsed as MIME.
var errMalformed = errors.New("malformed message")

// checkMessage parses raw as a MIME message, walking every multipart
// boundary so a broken structure is refused here rather than mangled by
// encryption, and returns the top-level header. Unknown charsets and
// transfer encodings are fine: bodies are passed on, not decoded.
func checkMessage(raw []byte) (message.Header, error) {
	ent, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return message.Header{}, malformed("the header is malformed (a line that is not a header field?)")
	}
	hdr := ent.Header
	if hdr.Len() == 0 {
		return hdr, malformed("it has no header")
	}
	err = ent.Walk(func(path []int, part *message.Entity, err error) error {
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			return err
		}
		if len(path) > maxMIMEDepth {
			return malformed(fmt.Sprintf("multipart parts are nested deeper than %d levels", maxMIMEDepth))
		}
		if part.MultipartReader() != nil {
			if _, params, _ := part.Header.ContentType(); params["boundary"] == "" {
				return malformed("a multipart part has no boundary")
			}
		}
		return nil
	})
	var rej *rejection
	if errors.As(err, &rej) {
		return hdr, err
	}
	if err != nil {
		return hdr, malformed("the MIME structure is broken (a multipart body without its closing boundary, or a part with a malformed header)")
	}
	return hdr, nil
}

// malformed refuses a message that does not parse. The parser's own error
// text is left out on purpose: it quotes lines of the message, and the
// reply text is also logged, which must never hold message content.
func malformed(why string) error {
	return reject(554, smtp.EnhancedCode{5, 6, 0}, errMalformed, "Malformed message: %s", why)
}

// checkFrom refuses a message whose From (or Sender) header names an
// address that is not the account's, so a client cannot send as someone
// else even when its envelope sender is right.
func checkFrom(hdr message.Header, addrs []string) error {
	froms := hdr.Values("From")
	if len(froms) != 1 {
		return reject(550, smtp.EnhancedCode{5, 6, 0}, nil,
			"The message must have exactly one From header")
	}
	list, err := parseAddressList(froms[0])
	if err != nil || len(list) == 0 {
		return reject(550, smtp.EnhancedCode{5, 6, 0}, nil,
			"The From header cannot be parsed")
	}
	if s := hdr.Get("Sender"); s != "" {
		sender, err := parseAddressList(s)
		if err != nil {
			return reject(550, smtp.EnhancedCode{5, 6, 0}, nil, "The Sender header cannot be parsed")
		}
		list = append(list, sender...)
	}
	for _, a := range list {
		if !hasAddress(addrs, a.Address) {
			return reject(550, smtp.EnhancedCode{5, 7, 1}, nil,
				"From address <%s> is not an address of this account; send from one of your own addresses", a.Address)
		}
	}
	return nil
}

// parseAddressList parses an address header. Display names in charsets the
// standard library lacks are kept undecoded: only the addresses matter.
func parseAddressList(v string) ([]*mail.Address, error) {
	p := mail.AddressParser{WordDecoder: &mime.WordDecoder{
		CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil },
	}}
	return p.ParseList(v)
}

// stripBcc returns raw without its Bcc and Resent-Bcc header fields,
// leaving every other byte exactly as the client wrote it. Recipients must
// not learn who else got a blind copy.
func stripBcc(raw []byte) []byte {
	out := make([]byte, 0, len(raw))
	rest := raw
	dropping := false
	for len(rest) > 0 {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		if isBlankLine(line) {
			// End of the header: the body is copied untouched.
			out = append(out, line...)
			out = append(out, rest...)
			break
		}
		if line[0] != ' ' && line[0] != '\t' {
			dropping = isBccField(line)
		}
		if !dropping {
			out = append(out, line...)
		}
	}
	return out
}

func isBlankLine(line []byte) bool {
	return len(bytes.TrimRight(line, "\r\n")) == 0
}

func isBccField(line []byte) bool {
	name, _, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return false
	}
	name = bytes.TrimRight(name, " \t")
	return bytes.EqualFold(name, []byte("Bcc")) || bytes.EqualFold(name, []byte("Resent-Bcc"))
}
