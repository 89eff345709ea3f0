package imapsrv

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"

	"github.com/mailbridge/mailbridge/store"
)

// The commands that change the selected mailbox or add to one. None of
// them writes EXISTS/EXPUNGE/FETCH for its own changes where the store's
// change stream does: the change reaches every session's tracker, this one
// included, and go-imap polls it before the tagged OK.

func (s *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, _ *imap.StoreOptions) error {
	if err := checkFlags(flags.Flags); err != nil {
		return err
	}
	sel, err := s.selected()
	if err != nil {
		return err
	}
	if sel.readOnly {
		return errReadOnly
	}
	refs, gone, err := s.resolve(sel, numSet)
	if err != nil {
		return err
	}
	if err := s.storeRefs(w, sel, refs, flags); err != nil || !gone {
		return err
	}
	return errSomeExpunged
}

func (s *session) storeRefs(w *imapserver.FetchWriter, sel *selection, refs []msgRef, flags *imap.StoreFlags) error {
	if len(refs) == 0 {
		return nil
	}
	want := storableFlags(flags.Flags)
	uids := uidsOf(refs)

	if flags.Silent {
		s.expect(sel, uids)
		defer s.unexpect(sel, uids)
	}
	if _, err := s.store().SetFlags(sel.mbox.ID, uids, flags.Op, want); err != nil {
		return storeError("store", err)
	}
	if flags.Silent {
		return nil
	}
	// Messages whose flags do not change produce no store change, but
	// STORE still answers with their flags.
	for _, r := range refs {
		if !sameFlags(r.flags, applyFlags(r.flags, flags.Op, want)) {
			continue // the tracker reports it
		}
		if err := s.writeFlags(w, sel, r, r.flags); err != nil {
			return err
		}
	}
	return nil
}

// writeFlags writes "* n FETCH (UID u FLAGS (...))" with this session's
// \Recent.
func (s *session) writeFlags(w *imapserver.FetchWriter, sel *selection, r msgRef, flags []string) error {
	mw := w.CreateMessage(r.seq)
	mw.WriteUID(imap.UID(r.uid))
	mw.WriteFlags(s.sessionFlags(sel, r.uid, flags))
	return mw.Close()
}

// sessionFlags adds \Recent to a message's stored flags where it applies.
func (s *session) sessionFlags(sel *selection, uid uint32, flags []string) []imap.Flag {
	s.acct.mu.Lock()
	_, recent := sel.recent[uid]
	s.acct.mu.Unlock()
	return withRecent(flags, recent)
}

// withRecent converts stored flags for a FETCH reply, adding \Recent if
// the message is recent for the session.
func withRecent(flags []string, recent bool) []imap.Flag {
	l := make([]imap.Flag, len(flags), len(flags)+1)
	for i, f := range flags {
		l[i] = imap.Flag(f)
	}
	if recent {
		l = append(l, flagRecent)
	}
	return l
}

// expect marks flag changes to uids as this session's own: the store's
// change stream then does not echo them back to it.
func (s *session) expect(sel *selection, uids []uint32) {
	s.acct.mu.Lock()
	defer s.acct.mu.Unlock()
	for _, uid := range uids {
		sel.view.expect[uid] = sel
	}
}

func (s *session) unexpect(sel *selection, uids []uint32) {
	s.acct.mu.Lock()
	defer s.acct.mu.Unlock()
	for _, uid := range uids {
		if sel.view.expect[uid] == sel {
			delete(sel.view.expect, uid)
		}
	}
}

// settableFlags are the system flags a client may set.
var settableFlags = []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft}

// checkFlags refuses the flags of a STORE or APPEND that are neither a
// keyword nor a system flag a client may set: \Foo, or the \* of
// PERMANENTFLAGS. The store would drop them without a word, and
// "STORE 1 FLAGS (\Foo)" would then clear every flag. \Recent passes, to
// be dropped by storableFlags: a client that writes back the flags it
// fetched should not fail for it.
func checkFlags(flags []imap.Flag) error {
	for _, f := range flags {
		if !strings.HasPrefix(string(f), `\`) || flagIndex(settableFlags, f) >= 0 || strings.EqualFold(string(f), string(flagRecent)) {
			continue
		}
		return &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug, Text: fmt.Sprintf("%s is not a flag a client can set", f)}
	}
	return nil
}

// storableFlags drops \Recent, which clients cannot set (RFC 3501 2.3.2).
func storableFlags(flags []imap.Flag) []string {
	l := make([]string, 0, len(flags))
	for _, f := range flags {
		if strings.EqualFold(string(f), string(flagRecent)) {
			continue
		}
		l = append(l, string(f))
	}
	return l
}

func applyFlags(old []string, op imap.StoreFlagsOp, flags []string) []string {
	switch op {
	case imap.StoreFlagsSet:
		return flags
	case imap.StoreFlagsAdd:
		return append(append([]string{}, old...), flags...)
	default:
		var l []string
		for _, f := range old {
			if !hasFlag(flags, imap.Flag(f)) {
				l = append(l, f)
			}
		}
		return l
	}
}

func sameFlags(a, b []string) bool {
	for _, f := range a {
		if !hasFlag(b, imap.Flag(f)) {
			return false
		}
	}
	for _, f := range b {
		if !hasFlag(a, imap.Flag(f)) {
			return false
		}
	}
	return true
}

func (s *session) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	sel, err := s.selected()
	if err != nil {
		return err
	}
	if sel.readOnly {
		if *w == (imapserver.ExpungeWriter{}) {
			return nil // CLOSE of an EXAMINEd mailbox expunges nothing
		}
		return errReadOnly
	}
	var list []uint32
	if uids != nil {
		refs, _, err := s.resolve(sel, *uids)
		if err != nil || len(refs) == 0 {
			return err
		}
		list = uidsOf(refs)
	}
	_, err = s.store().Expunge(sel.mbox.ID, list)
	return storeError("expunge", err)
}

func (s *session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	sel, err := s.selected()
	if err != nil {
		return nil, err
	}
	refs, gone, err := s.resolve(sel, numSet)
	if err != nil {
		return nil, err
	}
	if gone {
		return nil, errExpungedMeanwhile // nothing copied (RFC 2180 4.4.1)
	}
	dst, err := s.mailboxFor("copy", dest)
	if err != nil {
		return nil, err
	}
	if dst.ID == sel.mbox.ID && sel.readOnly {
		// A message is in a mailbox once: a copy onto its own mailbox
		// gives it a new UID there, which takes the old one away.
		return nil, errReadOnly
	}
	if len(refs) == 0 {
		return nil, nil
	}
	src, dstUIDs, err := s.store().Copy(sel.mbox.ID, uidsOf(refs), dst.ID)
	if err != nil {
		return nil, destError("copy", err)
	}
	if len(src) == 0 {
		return nil, errExpungedMeanwhile
	}
	return copyData(dst.UIDValidity, src, dstUIDs), nil
}

func (s *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	sel, err := s.selected()
	if err != nil {
		return err
	}
	if sel.readOnly {
		return errReadOnly
	}
	refs, gone, err := s.resolve(sel, numSet)
	if err != nil {
		return err
	}
	if gone {
		return errExpungedMeanwhile
	}
	dst, err := s.mailboxFor("move", dest)
	if err != nil || len(refs) == 0 {
		return err
	}
	src, dstUIDs, err := s.store().Move(sel.mbox.ID, uidsOf(refs), dst.ID)
	if err != nil {
		return destError("move", err)
	}
	if len(src) == 0 {
		return errExpungedMeanwhile
	}
	// The EXPUNGEs follow from the tracker when go-imap polls.
	return w.WriteCopyData(copyData(dst.UIDValidity, src, dstUIDs))
}

// bigMessage is the size from which APPEND hands the memory it used back
// to the system at once.
const bigMessage = 16 << 20

// errExpungedMeanwhile answers a COPY or MOVE whose messages another
// session expunged after this one last heard of them (RFC 5530).
var errExpungedMeanwhile = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCode("EXPUNGEISSUED"),
	Text: "The messages were expunged meanwhile"}

// errSomeExpunged ends a FETCH or STORE that left out messages another
// session expunged and this one was not told of yet (RFC 2180 section
// 4.1.2): the client learns why, and the EXPUNGEs follow its next command.
var errSomeExpunged = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCode("EXPUNGEISSUED"),
	Text: "Some of the messages were expunged meanwhile"}

// copyData is COPYUID for src, which must not be empty: an empty set
// cannot be encoded.
func copyData(validity uint32, src, dst []uint32) *imap.CopyData {
	data := &imap.CopyData{UIDValidity: validity}
	for _, uid := range src {
		data.SourceUIDs.AddNum(imap.UID(uid))
	}
	for _, uid := range dst {
		data.DestUIDs.AddNum(imap.UID(uid))
	}
	return data
}

func (s *session) Append(mailbox string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	if err := checkFlags(options.Flags); err != nil {
		return nil, err
	}
	m, err := s.mailboxFor("append", mailbox)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	sel := s.sel
	s.mu.Unlock()
	if sel != nil && sel.readOnly && sel.mbox.ID == m.ID {
		return nil, errReadOnly
	}
	// go-imap refused literals over AppendLimit, so Size is bounded.
	// Reading exactly Size bytes also keeps a literal cut off by a
	// dropped connection from being stored as a shorter message.
	raw := make([]byte, r.Size())
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, fmt.Errorf("append: literal of %d bytes cut off: %w", r.Size(), err)
	}
	if fc, ok := s.conn.NetConn().(*frontConn); ok {
		if junk, err := fc.appendTail(); err != nil {
			return nil, err
		} else if junk {
			return nil, &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug, Text: "Nothing may follow the message (no MULTIAPPEND)"}
		}
	}
	if len(raw) == 0 {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Empty message"}
	}
	if m.Role == store.RoleSent {
		if uid, ok := s.alreadySent(m, raw); ok {
			return &imap.AppendData{UID: imap.UID(uid), UIDValidity: m.UIDValidity}, nil
		}
	}
	date := options.Time
	if date.IsZero() {
		date = time.Now()
	}
	uid, validity, err := s.store().Append(m.ID, raw, storableFlags(options.Flags), date)
	if err != nil {
		return nil, destError("append", err)
	}
	if len(raw) >= bigMessage {
		// An idle daemon collects garbage rarely, and it would hold on
		// to a few times the message's size for minutes.
		go debug.FreeOSMemory()
	}
	return &imap.AppendData{UID: imap.UID(uid), UIDValidity: validity}, nil
}

// alreadySent finds the copy of a message that is already in Sent: a
// client saves what it has just sent over SMTP, and the upstream keeps
// its own copy of every message it sends, which the syncer brings in.
// Storing the client's copy too would show the message twice. The
// Message-ID identifies it; its UID answers the APPEND.
func (s *session) alreadySent(m store.Mailbox, raw []byte) (uint32, bool) {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return 0, false
	}
	id := strings.TrimSpace(h.Get("Message-Id"))
	if !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, ">") || len(id) < 5 {
		return 0, false
	}
	if err := s.store().IndexAppended(); err != nil {
		return 0, false
	}
	uids, err := s.store().Search(m.ID, &imap.SearchCriteria{
		Header: []imap.SearchCriteriaHeaderField{{Key: "Message-Id", Value: id}},
	})
	if err != nil || len(uids) == 0 {
		return 0, false
	}
	s.srv.logger.Debug("imap append: message already in Sent", "uid", uids[len(uids)-1])
	return uids[len(uids)-1], true
}
