package store

import (
	"fmt"
	"mime"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/textproto"
)

// wordDecoder decodes RFC 2047 encoded words in any charset go-message
// knows. It holds no state, so one value serves every goroutine.
var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// decodeHeader decodes encoded words; a value that does not decode is
// kept as it is, so search still sees something.
func decodeHeader(v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	if d, err := wordDecoder.DecodeHeader(v); err == nil {
		return d
	}
	return v
}

// envelope builds an IMAP ENVELOPE from a header. Subject and display
// names keep their RFC 2047 form, as RFC 3501 wants and clients expect;
// address groups are kept as group start and end markers.
func envelope(h textproto.Header) *imap.Envelope {
	env := &imap.Envelope{
		Subject:   unfold(h.Get("Subject")),
		From:      addressList(h.Get("From")),
		Sender:    addressList(h.Get("Sender")),
		ReplyTo:   addressList(h.Get("Reply-To")),
		To:        addressList(h.Get("To")),
		Cc:        addressList(h.Get("Cc")),
		Bcc:       addressList(h.Get("Bcc")),
		InReplyTo: msgIDList(h.Get("In-Reply-To")),
		MessageID: strings.Trim(strings.TrimSpace(unfold(h.Get("Message-Id"))), "<>"),
	}
	if d := h.Get("Date"); d != "" {
		if t, err := parseDate(unfold(d)); err == nil {
			env.Date = t
		}
	}
	// RFC 3501: Sender and Reply-To default to From.
	if len(env.Sender) == 0 {
		env.Sender = env.From
	}
	if len(env.ReplyTo) == 0 {
		env.ReplyTo = env.From
	}
	return env
}

// commonDate is the first layout mail.ParseDate tries that has a day of
// the week, and the form nearly every mailer writes.
const commonDate = "Mon, 2 Jan 2006 15:04:05 -0700"

// parseDate is mail.ParseDate with a fast path: mail.ParseDate tries 24
// layouts without a day of the week first, each failing with an error
// value, before it reaches the common form. When the whole value parses as
// commonDate, mail.ParseDate would return that same time: the value starts
// with a day name, so every earlier layout fails, its zone is the first
// '+' or '-' and ends the value, so nothing is trimmed, and commonDate is
// the next layout. Anything else goes to mail.ParseDate, so the accepted
// inputs are unchanged.
func parseDate(v string) (time.Time, error) {
	if len(v) > 0 && v[0] >= 'A' && v[0] <= 'Z' && strings.IndexByte(v, '(') < 0 {
		if t, err := time.Parse(commonDate, v); err == nil {
			return t, nil
		}
	}
	t, err := mail.ParseDate(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("store: parse date: %w", err)
	}
	return t, nil
}

// unfold joins a folded header value onto one line.
func unfold(v string) string {
	if !strings.ContainsAny(v, "\r\n") {
		return v
	}
	v = strings.ReplaceAll(v, "\r\n", "")
	return strings.ReplaceAll(v, "\n", "")
}

// msgIDList returns the message IDs of In-Reply-To without angle brackets.
func msgIDList(v string) []string {
	var out []string
	for {
		start := strings.IndexByte(v, '<')
		if start < 0 {
			return out
		}
		end := strings.IndexByte(v[start:], '>')
		if end < 0 {
			return out
		}
		if id := strings.TrimSpace(v[start+1 : start+end]); id != "" {
			out = append(out, id)
		}
		v = v[start+end+1:]
	}
}

// addressList parses an address list header, groups included (go-imap's
// own extractor flattens them). Addresses that do not parse are skipped.
func addressList(v string) []imap.Address {
	v = strings.TrimSpace(unfold(v))
	if v == "" {
		return nil
	}
	var out []imap.Address
	for _, seg := range splitGroups(v) {
		if seg.group {
			out = append(out, imap.Address{Mailbox: encodeWord(strings.TrimSpace(decodeHeader(seg.name)))})
		}
		out = append(out, plainAddresses(seg.list)...)
		if seg.group {
			out = append(out, imap.Address{})
		}
	}
	return out
}

func plainAddresses(list string) []imap.Address {
	if strings.TrimSpace(list) == "" {
		return nil
	}
	p := mail.AddressParser{WordDecoder: wordDecoder}
	addrs, err := p.ParseList(list)
	if err != nil {
		// One bad address must not hide the good ones.
		addrs = addrs[:0]
		for _, part := range splitTop(list, ',') {
			if a := parseAddress(&p, part); a != nil {
				addrs = append(addrs, a)
			}
		}
	}
	out := make([]imap.Address, 0, len(addrs))
	for _, a := range addrs {
		box, host, _ := strings.Cut(a.Address, "@")
		out = append(out, imap.Address{Name: encodeWord(a.Name), Mailbox: box, Host: host})
	}
	return out
}

// parseAddress parses one address, with the comments net/mail cannot
// take out of its way: RFC 5322 allows CFWS before and around every
// token, net/mail only a comment at the end (which, with no display
// name, names the address, as Dovecot and most clients take it).
func parseAddress(p *mail.AddressParser, s string) *mail.Address {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	if a, err := p.Parse(s); err == nil {
		return a
	}
	// A comment is white space, but net/mail takes none inside an
	// address ("a (c)@b"): as a last resort it goes altogether.
	for _, try := range []struct {
		keepLast bool
		with     string
	}{{true, " "}, {false, " "}, {false, ""}} {
		if a, err := p.Parse(dropComments(s, try.keepLast, try.with)); err == nil {
			return a
		}
	}
	return nil
}

// dropComments replaces the comments of s that are outside quoted
// strings with with, but for the last one if keepLast and nothing but
// space follows it.
func dropComments(s string, keepLast bool, with string) string {
	var b strings.Builder
	depth, quoted, escaped, start := 0, false, false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case c == '\\':
			escaped = true
		case depth == 0 && quoted:
			quoted = c != '"'
		case depth == 0 && c == '"':
			quoted = true
		case c == '(':
			if depth == 0 {
				b.WriteString(s[start:i])
				start = i
			}
			depth++
		case c == ')' && depth > 0:
			depth--
			if depth == 0 {
				if keepLast && strings.TrimSpace(s[i+1:]) == "" {
					b.WriteString(s[start : i+1])
				} else {
					b.WriteString(with)
				}
				start = i + 1
			}
		}
	}
	if depth == 0 {
		b.WriteString(s[start:])
	}
	return b.String()
}

// encodeWord gives a decoded display name its RFC 2047 form again when it
// is not plain ASCII.
func encodeWord(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return mime.QEncoding.Encode("utf-8", s)
		}
	}
	return s
}

type addrSegment struct {
	group bool
	name  string
	list  string
}

// splitGroups cuts an address list into plain runs and groups
// ("name: a, b;"), looking only at top-level ':' and ';' (outside quotes,
// comments and angle brackets).
func splitGroups(v string) []addrSegment {
	var out []addrSegment
	var depth, angle int
	quoted, escaped := false, false
	segStart, groupStart := 0, -1
	groupName := ""
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case escaped:
			escaped = false
			continue
		case c == '\\':
			escaped = true
			continue
		case quoted:
			quoted = c != '"'
			continue
		case c == '"':
			quoted = true
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		case c == '<':
			angle++
		case c == '>' && angle > 0:
			angle--
		case angle > 0:
		case c == ':' && groupStart < 0:
			// The group name runs from the last top-level comma.
			nameStart := segStart
			if j := lastTop(v[segStart:i], ','); j >= 0 {
				nameStart = segStart + j + 1
			}
			if nameStart > segStart {
				out = append(out, addrSegment{list: v[segStart : nameStart-1]})
			}
			groupName = v[nameStart:i]
			groupStart = i + 1
		case c == ';' && groupStart >= 0:
			out = append(out, addrSegment{group: true, name: groupName, list: v[groupStart:i]})
			groupStart = -1
			segStart = i + 1
			// Skip the comma after a group.
			for segStart < len(v) && (v[segStart] == ' ' || v[segStart] == ',' || v[segStart] == '\t') {
				segStart++
			}
			i = segStart - 1
		}
	}
	switch {
	case groupStart >= 0: // unterminated group: take what follows
		out = append(out, addrSegment{group: true, name: groupName, list: v[groupStart:]})
	case segStart < len(v):
		out = append(out, addrSegment{list: v[segStart:]})
	}
	return out
}

// lastTop returns the index of the last sep outside quotes, or -1.
func lastTop(v string, sep byte) int {
	parts := splitTopIdx(v, sep)
	if len(parts) == 0 {
		return -1
	}
	return parts[len(parts)-1]
}

// splitTop splits v at every sep outside quotes, comments and brackets.
func splitTop(v string, sep byte) []string {
	var out []string
	start := 0
	for _, i := range splitTopIdx(v, sep) {
		out = append(out, v[start:i])
		start = i + 1
	}
	return append(out, v[start:])
}

func splitTopIdx(v string, sep byte) []int {
	var idx []int
	var depth, angle int
	quoted, escaped := false, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case escaped:
			escaped = false
		case c == '\\':
			escaped = true
		case quoted:
			quoted = c != '"'
		case c == '"':
			quoted = true
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		case c == '<':
			angle++
		case c == '>' && angle > 0:
			angle--
		case angle == 0 && c == sep:
			idx = append(idx, i)
		}
	}
	return idx
}
