package imapsrv

import (
	"strings"
)

// ID (RFC 2971): clients say who they are and learn who the server is.
// It is valid in every state; the front answers it, as go-imap would end
// an unauthenticated connection on a command it does not know.

// serverID is what the server tells about itself: its name only, as a
// version would help attackers more than clients.
const serverID = `* ID ("name" "mailbridge")` + "\r\n"

// RFC 2971's limits on what a client sends.
const (
	maxIDPairs = 30
	maxIDField = 30
	maxIDValue = 1024
)

func (f *frontConn) handleID(tag string, line []byte, mark literalMark) error {
	toks, ok, err := f.readArgs(tag, line, mark)
	if !ok {
		return err
	}
	fields, ok := parseID(toks)
	if !ok {
		return f.replyStatus(tag, "BAD", "CLIENTBUG", "Syntax error: expected ID NIL or ID (\"field\" \"value\" ...)")
	}
	if sess := f.session(); sess != nil && len(fields) > 0 {
		sess.srv.logger.Debug("imap client id", "remote", sess.remoteHost(), "id", strings.Join(fields, " "))
	}
	return f.reply(serverID + tag + " OK ID completed\r\n")
}

// parseID checks ID's argument, NIL or a list of field and value pairs
// within RFC 2971's limits, and returns the pairs as "field=value".
func parseID(toks []token) ([]string, bool) {
	if len(toks) == 1 && toks[0].kind == tokAtom && strings.EqualFold(toks[0].s, "NIL") {
		return nil, true
	}
	if len(toks) < 2 || toks[0].kind != tokOpen || toks[len(toks)-1].kind != tokClose {
		return nil, false
	}
	pairs := toks[1 : len(toks)-1]
	if len(pairs)%2 != 0 || len(pairs)/2 > maxIDPairs {
		return nil, false
	}
	var fields []string
	for i := 0; i < len(pairs); i += 2 {
		field, value := pairs[i], pairs[i+1]
		if field.kind != tokString || len(field.s) > maxIDField {
			return nil, false
		}
		switch {
		case value.kind == tokString && len(value.s) <= maxIDValue:
			fields = append(fields, field.s+"="+value.s)
		case value.kind == tokAtom && strings.EqualFold(value.s, "NIL"):
		default:
			return nil, false
		}
	}
	return fields, true
}
