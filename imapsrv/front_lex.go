package imapsrv

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
)

// What the front needs to read of IMAP's command syntax: where a line ends
// in a literal, the tag and name of a command, and the arguments of the
// few commands it answers itself.

// literalMark is the literal announced at the end of a command line:
// "{n}" (the client waits for "+"), "{n+}" (it does not), "~{n}" for
// literal8.
type literalMark struct {
	ok      bool
	size    int64 // saturates at maxInt64 for absurd sizes
	nonSync bool
}

// lineMark finds the literal announced at the end of line (which ends in
// LF) and returns it with the length of the text before it. A "{" inside
// a quoted string announces nothing, as go-imap's decoder sees it.
func lineMark(line []byte) (literalMark, int) {
	text := trimEOL(line)
	n := len(text)
	if n < 3 || text[n-1] != '}' {
		return literalMark{}, n
	}
	open := strings.LastIndexByte(string(text), '{')
	if open < 0 {
		return literalMark{}, n
	}
	digits := text[open+1 : n-1]
	var m literalMark
	if len(digits) > 0 && digits[len(digits)-1] == '+' {
		m.nonSync = true
		digits = digits[:len(digits)-1]
	}
	if len(digits) == 0 {
		return literalMark{}, n
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return literalMark{}, n
		}
		if m.size > (1<<63-1-9)/10 {
			m.size = 1<<63 - 1
			continue
		}
		m.size = m.size*10 + int64(c-'0')
	}
	if inQuote(text[:open]) {
		return literalMark{}, n
	}
	m.ok = true
	if open > 0 && text[open-1] == '~' {
		open--
	}
	return m, open
}

// inQuote reports whether b ends inside a quoted string.
func inQuote(b []byte) bool {
	quoted := false
	for i := 0; i < len(b); i++ {
		switch {
		case quoted && b[i] == '\\':
			i++
		case b[i] == '"':
			quoted = !quoted
		}
	}
	return quoted
}

// trimEOL drops the CRLF (or lone LF, which go-imap accepts too).
func trimEOL(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
	}
	return line
}

// isAtomChar is go-imap's idea of an atom character, so that the front
// reads tags and command names as go-imap does.
func isAtomChar(c byte) bool {
	switch c {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return !unicode.IsControl(rune(c))
}

// commandName returns the tag and upper-cased name a command line starts
// with; ok is false if go-imap could not read them either.
func commandName(line []byte) (tag, name string, ok bool) {
	i := 0
	for i < len(line) && isAtomChar(line[i]) {
		i++
	}
	if i == 0 || i == len(line) || line[i] != ' ' {
		return "", "", false
	}
	tag = string(line[:i])
	j := i + 1
	for j < len(line) && isAtomChar(line[j]) {
		j++
	}
	if j == i+1 {
		return "", "", false
	}
	return tag, strings.ToUpper(string(line[i+1 : j])), true
}

// token is one argument of a command the front answers.
type token struct {
	kind tokenKind
	s    string // the atom or string
}

type tokenKind int

const (
	tokAtom   tokenKind = iota // NIL, numbers, unquoted mailbox names
	tokString                  // quoted string or literal
	tokOpen                    // (
	tokClose                   // )
)

var errSyntax = errors.New("syntax error")

// lex appends the tokens of the text of a line (no CRLF, no literal
// marker) to toks.
func lex(b []byte, toks []token) ([]token, error) {
	for i := 0; i < len(b); {
		switch c := b[i]; {
		case c == ' ':
			i++
		case c == '(':
			toks = append(toks, token{kind: tokOpen})
			i++
		case c == ')':
			toks = append(toks, token{kind: tokClose})
			i++
		case c == '"':
			var sb strings.Builder
			for i++; ; i++ {
				if i >= len(b) {
					return nil, errSyntax
				}
				if b[i] == '\\' && i+1 < len(b) {
					i++
				} else if b[i] == '"' {
					break
				}
				sb.WriteByte(b[i])
			}
			toks = append(toks, token{kind: tokString, s: sb.String()})
			i++
		default:
			j := i
			// "\" for flags such as \Seen.
			for j < len(b) && (isAtomChar(b[j]) || b[j] == ']' || b[j] == '\\') {
				j++
			}
			if j == i {
				return nil, errSyntax
			}
			toks = append(toks, token{kind: tokAtom, s: string(b[i:j])})
			i = j
		}
	}
	return toks, nil
}

// astring is the value of an atom or string token.
func (t token) astring() (string, bool) {
	return t.s, t.kind == tokAtom || t.kind == tokString
}

// quote renders s as an IMAP string: quoted where it can be, a literal
// where it holds line breaks.
func quote(s string) string {
	if strings.ContainsAny(s, "\r\n\x00") {
		return "{" + strconv.Itoa(len(s)) + "}\r\n" + s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// decodeMailbox turns a mailbox name as clients send it into the name
// the store knows, the way go-imap's decoder does for other commands:
// INBOX in any case, modified UTF-7 (RFC 3501 section 5.1.3), raw UTF-8.
func decodeMailbox(name string) (string, error) {
	if strings.EqualFold(name, "INBOX") {
		return "INBOX", nil
	}
	var sb strings.Builder
	for i := 0; i < len(name); i++ {
		if name[i] != '&' {
			sb.WriteByte(name[i])
			continue
		}
		end := strings.IndexByte(name[i+1:], '-')
		if end < 0 {
			return "", errSyntax
		}
		b64 := name[i+1 : i+1+end]
		i += end + 1
		if b64 == "" {
			sb.WriteByte('&')
			continue
		}
		raw, err := base64.RawStdEncoding.DecodeString(strings.ReplaceAll(b64, ",", "/"))
		if err != nil || len(raw)%2 != 0 {
			return "", errSyntax
		}
		units := make([]uint16, len(raw)/2)
		for k := range units {
			units[k] = uint16(raw[2*k])<<8 | uint16(raw[2*k+1])
		}
		sb.WriteString(string(utf16.Decode(units)))
	}
	return sb.String(), nil
}
