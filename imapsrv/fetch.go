package imapsrv

import (
	"bufio"
	"bytes"
	"errors"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"

	"github.com/mailbridge/mailbridge/store"
)

func (s *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	sel, err := s.selected()
	if err != nil {
		return err
	}
	refs := s.resolve(sel, numSet)
	if len(refs) == 0 {
		return nil
	}
	st := s.store()
	// FLAGS, UID, INTERNALDATE and RFC822.SIZE come from the entries; the
	// body is read only for items that need it.
	entries, err := st.Entries(sel.mbox.ID)
	if err != nil {
		return storeError("fetch", err)
	}
	byUID := make(map[uint32]*store.Entry, len(entries))
	for i := range entries {
		byUID[entries[i].UID] = &entries[i]
	}

	seenNow, err := s.markSeen(sel, refs, byUID, options)
	if err != nil {
		return err
	}
	needBody := options.Envelope || options.BodyStructure != nil || len(options.BodySection) > 0 ||
		len(options.BinarySection) > 0 || len(options.BinarySectionSize) > 0

	for _, r := range refs {
		e := byUID[r.uid]
		if e == nil {
			continue // expunged meanwhile; the EXPUNGE is on its way
		}
		var raw []byte
		if needBody {
			raw, err = st.Body(e.MsgID)
			if errors.Is(err, store.ErrNoMessage) {
				continue
			} else if err != nil {
				return storeError("fetch body", err)
			}
		}
		if err := s.writeMessage(w, sel, r, e, raw, options, seenNow[r.uid]); err != nil {
			return err
		}
	}
	return nil
}

// markSeen sets \Seen on the messages whose body a non-PEEK item fetches,
// through the store so that it reaches the upstream. It returns the UIDs
// it changed: their FETCH reply carries the new FLAGS (RFC 3501 6.4.5).
func (s *session) markSeen(sel *selection, refs []msgRef, byUID map[uint32]*store.Entry, options *imap.FetchOptions) (map[uint32]bool, error) {
	if sel.readOnly || !setsSeen(options) {
		return nil, nil
	}
	var uids []uint32
	for _, r := range refs {
		if e := byUID[r.uid]; e != nil && !hasFlag(e.Flags, imap.FlagSeen) {
			uids = append(uids, r.uid)
		}
	}
	if len(uids) == 0 {
		return nil, nil
	}
	s.expect(sel, uids)
	defer s.unexpect(sel, uids)
	updated, err := s.store().SetFlags(sel.mbox.ID, uids, imap.StoreFlagsAdd, []string{string(imap.FlagSeen)})
	if err != nil {
		return nil, storeError("fetch: set \\Seen", err)
	}
	changed := make(map[uint32]bool, len(uids))
	for _, u := range updated {
		if e := byUID[u.UID]; e != nil {
			e.Flags = u.Flags
			changed[u.UID] = true
		}
	}
	return changed, nil
}

func setsSeen(options *imap.FetchOptions) bool {
	for _, bs := range options.BodySection {
		if !bs.Peek {
			return true
		}
	}
	for _, bs := range options.BinarySection {
		if !bs.Peek {
			return true
		}
	}
	return false
}

func (s *session) writeMessage(w *imapserver.FetchWriter, sel *selection, r msgRef, e *store.Entry, raw []byte, options *imap.FetchOptions, flagsChanged bool) error {
	mw := w.CreateMessage(r.seq)
	if options.UID {
		mw.WriteUID(imap.UID(r.uid))
	}
	if options.Flags || flagsChanged {
		mw.WriteFlags(s.sessionFlags(sel, r.uid, e.Flags))
	}
	if options.InternalDate {
		mw.WriteInternalDate(e.Date)
	}
	if options.RFC822Size {
		mw.WriteRFC822Size(e.Size)
	}
	if options.Envelope {
		mw.WriteEnvelope(envelope(raw))
	}
	if options.BodyStructure != nil {
		mw.WriteBodyStructure(bodyStructure(raw))
	}
	for _, section := range options.BodySection {
		data := imapserver.ExtractBodySection(bytes.NewReader(raw), section)
		if err := writeLiteral(mw.WriteBodySection(section, int64(len(data))), data); err != nil {
			mw.Close()
			return err
		}
	}
	for _, section := range options.BinarySection {
		data := imapserver.ExtractBinarySection(bytes.NewReader(raw), section)
		if err := writeLiteral(mw.WriteBinarySection(section, int64(len(data))), data); err != nil {
			mw.Close()
			return err
		}
	}
	for _, section := range options.BinarySectionSize {
		n := imapserver.ExtractBinarySectionSize(bytes.NewReader(raw), section)
		mw.WriteBinarySectionSize(section, n)
	}
	return mw.Close()
}

func writeLiteral(wc interface {
	Write([]byte) (int, error)
	Close() error
}, data []byte) error {
	_, err := wc.Write(data)
	if cerr := wc.Close(); err == nil {
		err = cerr
	}
	return err
}

func envelope(raw []byte) *imap.Envelope {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return &imap.Envelope{}
	}
	return imapserver.ExtractEnvelope(h)
}

// bodyStructure parses the MIME structure. go-imap refuses to write a
// multipart without parts (and panics doing so), which a malformed
// message can produce: such a part is shown as an empty text/plain one.
func bodyStructure(raw []byte) imap.BodyStructure {
	bs := imapserver.ExtractBodyStructure(bytes.NewReader(raw))
	fixBodyStructure(bs)
	return bs
}

func fixBodyStructure(bs imap.BodyStructure) {
	switch bs := bs.(type) {
	case *imap.BodyStructureMultiPart:
		if len(bs.Children) == 0 {
			bs.Children = []imap.BodyStructure{&imap.BodyStructureSinglePart{
				Type: "text", Subtype: "plain",
				Text:     &imap.BodyStructureText{},
				Extended: &imap.BodyStructureSinglePartExt{},
			}}
		}
		for _, c := range bs.Children {
			fixBodyStructure(c)
		}
	case *imap.BodyStructureSinglePart:
		if bs.MessageRFC822 != nil {
			if bs.MessageRFC822.BodyStructure == nil {
				bs.MessageRFC822 = nil
			} else {
				fixBodyStructure(bs.MessageRFC822.BodyStructure)
			}
		}
		if bs.Type == "" {
			bs.Type, bs.Subtype = "text", "plain"
		}
	}
}
