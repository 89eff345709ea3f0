package imapsrv

import (
	"strconv"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// A flag sync, "UID FETCH 1:* (FLAGS)", is what every client sends first
// on a mailbox and again on every check, and it answers with one short
// line per message. go-imap's writer costs about a microsecond a line
// (an encoder, a write deadline and a flush each), most of the command
// in a mailbox of 100,000; so these lines are formatted here and written
// under the front in blocks. go-imap's writer is idle meanwhile: it has
// flushed every line it began, and it writes again only when called.

// rawBlock is how much of a flag sync is written at once.
const rawBlock = 32 << 10

// flagsOnly reports whether a FETCH asks for nothing but FLAGS (and UID).
func flagsOnly(o *imap.FetchOptions) bool {
	return o.Flags && !o.InternalDate && !o.RFC822Size && !o.Envelope && o.BodyStructure == nil &&
		len(o.BodySection) == 0 && len(o.BinarySection) == 0 && len(o.BinarySectionSize) == 0 &&
		!o.ModSeq && o.ChangedSince == 0
}

// fetchFlags writes the FLAGS (and UID) of refs.
func (s *session) fetchFlags(fc *frontConn, w *imapserver.FetchWriter, refs []msgRef, uid bool) error {
	buf := make([]byte, 0, rawBlock+512)
	var flags []imap.Flag
	for i := range refs {
		r := &refs[i]
		if r.msgID == 0 {
			continue // not listed yet; a later FETCH sees it
		}
		flags = appendFlags(flags[:0], r.flags, r.recent)
		if !atomFlags(flags) {
			// Keywords from the upstream that are not atoms: go-imap
			// quotes what it can, so it writes this one.
			if err := fc.writeLines(buf); err != nil {
				return err
			}
			buf = buf[:0]
			mw := w.CreateMessage(r.seq)
			if uid {
				mw.WriteUID(imap.UID(r.uid))
			}
			mw.WriteFlags(flags)
			if err := mw.Close(); err != nil {
				return err
			}
			continue
		}
		buf = append(buf, "* "...)
		buf = strconv.AppendUint(buf, uint64(r.seq), 10)
		buf = append(buf, " FETCH ("...)
		if uid {
			buf = append(buf, "UID "...)
			buf = strconv.AppendUint(buf, uint64(r.uid), 10)
			buf = append(buf, ' ')
		}
		buf = append(buf, "FLAGS ("...)
		for j, f := range flags {
			if j > 0 {
				buf = append(buf, ' ')
			}
			buf = append(buf, f...)
		}
		buf = append(buf, "))\r\n"...)
		if len(buf) >= rawBlock {
			if err := fc.writeLines(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	return fc.writeLines(buf)
}

// atomFlags reports whether every flag is an atom, or a backslash and an
// atom, as FLAGS writes them.
func atomFlags(flags []imap.Flag) bool {
	for _, f := range flags {
		s := string(f)
		if len(s) > 1 && s[0] == '\\' {
			s = s[1:]
		}
		if s == "" {
			return false
		}
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 || !isAtomChar(s[i]) {
				return false
			}
		}
	}
	return true
}
