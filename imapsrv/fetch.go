package imapsrv

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailbridge/mailbridge/store"
)

// chunkSize is how many messages FETCH reads from the store at a time:
// the parsed metadata of a chunk is read in one transaction and written
// out before the next, so FETCH 1:* holds neither one transaction open
// while the client reads nor the whole result in memory.
const chunkSize = 256

func (s *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	sel, err := s.selected()
	if err != nil {
		return err
	}
	// FLAGS, UID, INTERNALDATE and RFC822.SIZE come from the view,
	// ENVELOPE, BODYSTRUCTURE and header sections from the metadata the
	// store parsed once; the body is read only for items that need it.
	refs, gone, err := s.resolve(sel, numSet)
	if err != nil {
		return err
	}
	if err := s.fetchRefs(w, sel, refs, options); err != nil || !gone {
		return err
	}
	return errSomeExpunged
}

func (s *session) fetchRefs(w *imapserver.FetchWriter, sel *selection, refs []msgRef, options *imap.FetchOptions) error {
	if len(refs) == 0 {
		return nil
	}
	if setsSeen(options) && len(options.BinarySection) > 0 {
		// A BINARY that will be refused must not mark anything \Seen.
		if err := s.checkBinary(refs, options); err != nil {
			return err
		}
	}
	seenNow, err := s.markSeen(sel, refs, options)
	if err != nil {
		return err
	}
	if fc, ok := s.conn.NetConn().(*frontConn); ok && flagsOnly(options) {
		return s.fetchFlags(fc, w, refs, options.UID)
	}
	needParsed, needBody := fetchNeeds(options)
	st := s.store()
	var flagBuf []imap.Flag // go-imap writes FLAGS at once: one buffer serves every line
	for c := range s.fetchChunks(refs, needParsed) {
		if c.err != nil {
			return storeError("fetch metadata", c.err)
		}
		for i := range c.refs {
			r := &c.refs[i]
			if r.msgID == 0 {
				continue // not listed yet; a later FETCH sees it
			}
			m := fetchMsg{ref: r, flagsChanged: seenNow[r.uid], flagBuf: flagBuf[:0]}
			if needParsed {
				if m.parsed = c.parsed[r.msgID]; m.parsed == nil {
					continue // expunged meanwhile; the EXPUNGE is on its way
				}
			}
			if needBody {
				m.raw, err = st.Body(r.msgID)
				if errors.Is(err, store.ErrNoMessage) {
					continue
				} else if err != nil {
					return storeError("fetch body", err)
				}
			}
			if err := s.writeMessage(w, sel, &m, options); err != nil {
				return err
			}
			flagBuf = m.flagBuf
		}
	}
	return nil
}

// fetchChunk is the messages of a FETCH read from the store together.
type fetchChunk struct {
	refs   []msgRef
	parsed map[uint64]*store.Parsed // if the FETCH needs it
	err    error
}

// fetchChunks cuts refs into chunks with their stored metadata. Reading
// and decoding that is a third of an ENVELOPE fetch, and writing the
// rest: where there is more than one chunk, the next is read on another
// goroutine while the last is written.
func (s *session) fetchChunks(refs []msgRef, needParsed bool) iter.Seq[fetchChunk] {
	// The store, not the session: the session may close meanwhile.
	st := s.store()
	load := func(refs []msgRef) (c fetchChunk) {
		c.refs = refs
		if !needParsed {
			return c
		}
		defer func() {
			// On the second goroutine nothing else would recover it.
			if v := recover(); v != nil {
				c.err = fmt.Errorf("fetch: reading metadata panicked: %v", v)
			}
		}()
		c.parsed = make(map[uint64]*store.Parsed, len(refs))
		ids := make([]uint64, 0, len(refs))
		for _, r := range refs {
			ids = append(ids, r.msgID)
		}
		c.err = st.ParsedMany(ids, func(id uint64, p *store.Parsed) error {
			c.parsed[id] = p
			return nil
		})
		return c
	}
	return func(yield func(fetchChunk) bool) {
		if !needParsed || len(refs) <= chunkSize {
			for chunk := range slices.Chunk(refs, chunkSize) {
				if !yield(load(chunk)) {
					return
				}
			}
			return
		}
		next := make(chan fetchChunk, 1)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		defer wg.Wait() // no read outlives the FETCH
		defer close(stop)
		wg.Go(func() {
			defer close(next)
			for chunk := range slices.Chunk(refs, chunkSize) {
				select {
				case <-stop:
					return
				default:
				}
				select {
				case next <- load(chunk):
				case <-stop:
					return
				}
			}
		})
		for c := range next {
			if !yield(c) || c.err != nil {
				return
			}
		}
	}
}

// fetchMsg is one message of a FETCH with what was read for it.
type fetchMsg struct {
	ref          *msgRef
	parsed       *store.Parsed // if needParsed
	raw          []byte        // if needBody
	flagsChanged bool
	flagBuf      []imap.Flag // scratch for the FLAGS item, reused across messages
}

// fetchNeeds says whether a FETCH needs the stored metadata and whether
// it needs the message itself.
func fetchNeeds(options *imap.FetchOptions) (parsed, body bool) {
	parsed = options.Envelope || options.BodyStructure != nil
	for _, bs := range options.BodySection {
		if headerOnly(bs) {
			parsed = true
		} else {
			body = true
		}
	}
	if len(options.BinarySection) > 0 || len(options.BinarySectionSize) > 0 {
		// The body structure tells whether the part can be decoded.
		parsed, body = true, true
	}
	return parsed, body
}

// headerOnly reports whether a section is the message's header, which the
// stored header block answers.
func headerOnly(bs *imap.FetchItemBodySection) bool {
	if len(bs.Part) > 0 {
		return false
	}
	switch bs.Specifier {
	case imap.PartSpecifierHeader:
		return true
	}
	return len(bs.HeaderFields) > 0 || len(bs.HeaderFieldsNot) > 0
}

// markSeen sets \Seen on the messages whose body a non-PEEK item fetches,
// through the store so that it reaches the upstream. It returns the UIDs
// it changed, whose FETCH reply carries the new FLAGS (RFC 3501 6.4.5),
// and updates their flags in refs.
func (s *session) markSeen(sel *selection, refs []msgRef, options *imap.FetchOptions) (map[uint32]bool, error) {
	if sel.readOnly || !setsSeen(options) {
		return nil, nil
	}
	var uids []uint32
	for _, r := range refs {
		if !hasFlag(r.flags, imap.FlagSeen) {
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
	flags := make(map[uint32][]string, len(updated))
	for _, u := range updated {
		flags[u.UID] = u.Flags
	}
	changed := make(map[uint32]bool, len(updated))
	for i := range refs {
		if f, ok := flags[refs[i].uid]; ok {
			refs[i].flags = f
			changed[refs[i].uid] = true
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

func (s *session) writeMessage(w *imapserver.FetchWriter, sel *selection, m *fetchMsg, options *imap.FetchOptions) error {
	r := m.ref
	for _, section := range options.BinarySection {
		if err := checkDecodable(m.parsed.BodyStructure, section.Part); err != nil {
			return err
		}
	}
	for _, section := range options.BinarySectionSize {
		if err := checkDecodable(m.parsed.BodyStructure, section.Part); err != nil {
			return err
		}
	}
	mw := w.CreateMessage(r.seq)
	if options.UID {
		mw.WriteUID(imap.UID(r.uid))
	}
	if options.Flags || m.flagsChanged {
		m.flagBuf = appendFlags(m.flagBuf[:0], r.flags, r.recent)
		mw.WriteFlags(m.flagBuf)
	}
	if options.InternalDate {
		mw.WriteInternalDate(r.date)
	}
	if options.RFC822Size {
		mw.WriteRFC822Size(r.size)
	}
	if options.Envelope {
		env := m.parsed.Envelope
		if env == nil {
			env = &imap.Envelope{}
		}
		mw.WriteEnvelope(env)
	}
	if options.BodyStructure != nil {
		mw.WriteBodyStructure(safeBodyStructure(m.parsed.BodyStructure))
	}
	for _, section := range options.BodySection {
		var data []byte
		if headerOnly(section) {
			data = extractSection(m.parsed.Header, section)
		} else {
			data = bodySection(m.raw, section)
		}
		if err := writeLiteral(mw.WriteBodySection(section, int64(len(data))), data); err != nil {
			mw.Close()
			return err
		}
	}
	for _, section := range options.BinarySection {
		data := binarySection(m.raw, m.parsed.BodyStructure, section)
		if err := writeLiteral(mw.WriteBinarySection(section, int64(len(data))), data); err != nil {
			mw.Close()
			return err
		}
	}
	for _, section := range options.BinarySectionSize {
		n := len(binaryPart(m.raw, m.parsed.BodyStructure, section.Part))
		mw.WriteBinarySectionSize(section, uint32(min(n, 1<<32-1)))
	}
	return mw.Close()
}

// appendFlags is withRecent into a caller's buffer: FETCH 1:* (FLAGS)
// writes one line per message, and a fresh slice per line was a
// measurable share of its allocations.
func appendFlags(dst []imap.Flag, flags []string, recent bool) []imap.Flag {
	for _, f := range flags {
		dst = append(dst, imap.Flag(f))
	}
	if recent {
		dst = append(dst, flagRecent)
	}
	return dst
}

// bodySection returns a BODY[...] item. The whole message (BODY[] and
// RFC822), the most common large fetch, is sliced from raw, not copied.
func bodySection(raw []byte, section *imap.FetchItemBodySection) []byte {
	if section.Specifier != imap.PartSpecifierNone || len(section.Part) > 0 || len(section.HeaderFields) > 0 || len(section.HeaderFieldsNot) > 0 {
		return extractSection(raw, section)
	}
	return partial(raw, section.Partial)
}

// extractSection is go-imap's extractor, which ends every header it
// returns with a blank line. A message that has no body and no blank line
// has none in any header fetch either (RFC 3501 section 6.4.5), and
// RFC822.SIZE and BODY[] count none.
func extractSection(raw []byte, section *imap.FetchItemBodySection) []byte {
	header := section.Specifier == imap.PartSpecifierHeader || section.Specifier == imap.PartSpecifierMIME ||
		len(section.HeaderFields) > 0 || len(section.HeaderFieldsNot) > 0
	if !header || hasBlankLine(raw) {
		return imapserver.ExtractBodySection(bytes.NewReader(raw), section)
	}
	whole := *section
	whole.Partial = nil
	data := imapserver.ExtractBodySection(bytes.NewReader(raw), &whole)
	if bytes.HasSuffix(data, []byte("\r\n")) && (len(data) == 2 || bytes.HasSuffix(data, []byte("\r\n\r\n"))) {
		data = data[:len(data)-2]
	}
	return partial(data, section.Partial)
}

// partial cuts a <offset.size> partial out of data.
func partial(data []byte, p *imap.SectionPartial) []byte {
	if p == nil {
		return data
	}
	if p.Offset >= int64(len(data)) {
		return nil
	}
	data = data[p.Offset:]
	if p.Size < int64(len(data)) {
		data = data[:p.Size]
	}
	return data
}

// hasBlankLine reports whether a message has a line ending its header.
func hasBlankLine(raw []byte) bool {
	return bytes.HasPrefix(raw, []byte("\r\n")) || bytes.HasPrefix(raw, []byte("\n")) ||
		bytes.Contains(raw, []byte("\n\r\n")) || bytes.Contains(raw, []byte("\n\n"))
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

// safeBodyStructure guards go-imap's writer, which panics on a multipart
// without parts and on a missing extension block or envelope, against
// whatever the cache holds.
func safeBodyStructure(bs imap.BodyStructure) imap.BodyStructure {
	switch bs := bs.(type) {
	case *imap.BodyStructureMultiPart:
		if len(bs.Children) == 0 {
			bs.Children = []imap.BodyStructure{emptyTextPart()}
		}
		for i, c := range bs.Children {
			bs.Children[i] = safeBodyStructure(c)
		}
		if bs.Extended == nil {
			bs.Extended = &imap.BodyStructureMultiPartExt{}
		}
		return bs
	case *imap.BodyStructureSinglePart:
		if bs.Type == "" {
			bs.Type, bs.Subtype = "text", "plain"
		}
		if m := bs.MessageRFC822; m != nil {
			if m.BodyStructure == nil {
				bs.MessageRFC822 = nil
			} else {
				m.BodyStructure = safeBodyStructure(m.BodyStructure)
				if m.Envelope == nil {
					m.Envelope = &imap.Envelope{}
				}
			}
		}
		if bs.Extended == nil {
			bs.Extended = &imap.BodyStructureSinglePartExt{}
		}
		return bs
	}
	return emptyTextPart()
}

func emptyTextPart() *imap.BodyStructureSinglePart {
	return &imap.BodyStructureSinglePart{
		Type: "text", Subtype: "plain",
		Text:     &imap.BodyStructureText{},
		Extended: &imap.BodyStructureSinglePartExt{},
	}
}

// checkBinary is checkDecodable for every message and section of a FETCH.
func (s *session) checkBinary(refs []msgRef, options *imap.FetchOptions) error {
	ids := make([]uint64, 0, len(refs))
	for _, r := range refs {
		if r.msgID != 0 {
			ids = append(ids, r.msgID)
		}
	}
	return s.store().ParsedMany(ids, func(_ uint64, p *store.Parsed) error {
		for _, section := range options.BinarySection {
			if err := checkDecodable(p.BodyStructure, section.Part); err != nil {
				return err
			}
		}
		return nil
	})
}

// checkDecodable refuses BINARY for a part whose content transfer
// encoding the server cannot undo, as RFC 3516 4.3 asks, rather than
// answer with an empty literal.
func checkDecodable(bs imap.BodyStructure, part []int) error {
	target, _ := findPart(bs, part).(*imap.BodyStructureSinglePart)
	if target == nil {
		return nil
	}
	switch strings.ToLower(target.Encoding) {
	case "", "7bit", "8bit", "binary", "base64", "quoted-printable":
		return nil
	}
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnknownCTE,
		Text: fmt.Sprintf("Cannot decode content transfer encoding %q; fetch BODY[] instead", target.Encoding)}
}

// findPart returns the part a section's part numbers name (RFC 9051
// 6.4.5), nil if there is none. go-imap's Walk does not enter attached
// messages, whose parts continue the numbering: 2.1 is the body of the
// message attached as part 2, or the first part of that body.
func findPart(bs imap.BodyStructure, part []int) imap.BodyStructure {
	for _, n := range part {
		switch b := bs.(type) {
		case *imap.BodyStructureMultiPart:
			if n < 1 || n > len(b.Children) {
				return nil
			}
			bs = b.Children[n-1]
		case *imap.BodyStructureSinglePart:
			inner := b.MessageRFC822
			switch {
			case inner != nil && inner.BodyStructure != nil:
				if mp, ok := inner.BodyStructure.(*imap.BodyStructureMultiPart); ok {
					if n < 1 || n > len(mp.Children) {
						return nil
					}
					bs = mp.Children[n-1]
				} else if n == 1 {
					bs = inner.BodyStructure
				} else {
					return nil
				}
			case n != 1:
				return nil // a part that is not multipart is its own part 1
			}
		default:
			return nil
		}
	}
	return bs
}
