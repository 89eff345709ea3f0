package imapsrv

import (
	"bytes"
	"regexp"
)

// go-imap's parser takes some commands that IMAP's grammar (RFC 9051
// section 9) does not, and answers them as if they meant something: an
// empty FETCH item list, HEADER.FIELDS with no field, MIME with no part
// number, an empty search key list. The front refuses them; it sees the
// command's first line only, which is where clients put these.

var (
	emptyFetch     = regexp.MustCompile(`(?i)^\S+ (?:UID )?FETCH \S+ \(\s*\)\s*$`)
	emptyFields    = regexp.MustCompile(`(?i)HEADER\.FIELDS(?:\.NOT)? \(\s*\)`)
	mimeWithout    = regexp.MustCompile(`(?i)\[MIME\]`)
	emptyKeys      = regexp.MustCompile(`(?i)(RETURN\s*)?\(\s*\)`)
	smallerNothing = regexp.MustCompile(`(?i)(^|[ (])SMALLER 0+\b`)
)

// badSyntax returns why the first line of a FETCH or SEARCH is no command
// IMAP's grammar allows, or "".
func badSyntax(name string, line []byte) string {
	text := blankQuoted(trimEOL(line))
	switch subCommand(name, text) {
	case "FETCH":
		switch {
		case emptyFetch.Match(text):
			return "FETCH needs at least one item"
		case emptyFields.Match(text):
			return "HEADER.FIELDS needs at least one field name"
		case mimeWithout.Match(text):
			return "MIME needs a part number"
		}
	case "SEARCH":
		for _, m := range emptyKeys.FindAllSubmatchIndex(text, -1) {
			if m[2] < 0 { // RETURN () asks for ALL (RFC 4731)
				return "A search key list needs at least one key"
			}
		}
	}
	return ""
}

// subCommand is the command a UID command line names, or name.
func subCommand(name string, text []byte) string {
	if name == "UID" {
		if f := bytes.Fields(text); len(f) > 2 {
			return string(bytes.ToUpper(f[2]))
		}
	}
	return name
}

// searchLine is a SEARCH line as go-imap is to read it: go-imap's SMALLER
// 0 is no SMALLER at all, which matches every message, where no message
// is smaller than 0 octets; NOT ALL matches none.
func searchLine(line []byte) []byte {
	text := blankQuoted(trimEOL(line))
	locs := smallerNothing.FindAllSubmatchIndex(text, -1)
	if locs == nil {
		return line
	}
	out := make([]byte, 0, len(line))
	last := 0
	for _, m := range locs {
		out = append(out, line[last:m[3]]...) // up to the key
		out = append(out, "NOT ALL"...)
		last = m[1] // the character after the number
	}
	return append(out, line[last:]...)
}

// blankQuoted is text with the inside of its quoted strings replaced,
// byte for byte, so that patterns match only the command's syntax.
func blankQuoted(text []byte) []byte {
	out := bytes.Clone(text)
	in, esc := false, false
	for i, c := range out {
		switch {
		case esc:
			esc = false
			out[i] = 'x'
		case in && c == '\\':
			esc = true
			out[i] = 'x'
		case c == '"':
			in = !in
		case in:
			out[i] = 'x'
		}
	}
	return out
}
