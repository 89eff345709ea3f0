package imapsrv

import (
	"slices"
	"sort"

	"github.com/emersion/go-imap/v2"

	"github.com/mailbridge/mailbridge/store"
)

func (s *session) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	name, err := normName(name)
	if err != nil {
		return nil, err
	}
	st := s.store()
	m, err := st.MailboxByName(name)
	if err != nil {
		return nil, storeError("select", err)
	}
	a := s.acct
	v, err := a.acquireView(m.ID)
	if err != nil {
		return nil, storeError("select", err)
	}

	sel := &selection{
		sess:         s,
		mbox:         m,
		view:         v,
		readOnly:     options.ReadOnly,
		pendingFlags: make(map[uint32][]imap.Flag),
	}
	data := &imap.SelectData{UIDValidity: m.UIDValidity}

	a.mu.Lock()
	sel.tracker = v.tracker.NewSession()
	v.selections[sel] = struct{}{}
	sel.recent = a.claimRecentLocked(v, sel.readOnly)
	data.NumMessages = uint32(len(v.uids))
	data.NumRecent = uint32(len(sel.recent))
	data.Flags = v.flagList()
	data.UIDNext = imap.UID(max(m.UIDNext, v.uidNext, 1))
	// Only for the obsolete [UNSEEN n] of IMAP4rev1.
	for i := range v.msgs {
		if !hasFlag(v.msgs[i].flags, imap.FlagSeen) {
			data.FirstUnseenSeqNum = uint32(i) + 1
			break
		}
	}
	a.mu.Unlock()

	if !sel.readOnly {
		// Keywords in use, and \* for any new one (RFC 3501 7.1).
		data.PermanentFlags = append(append([]imap.Flag{}, data.Flags...), imap.FlagWildcard)
	}
	sel.recentReported = len(sel.recent)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.unselectLocked()
	s.sel = sel
	return data, nil
}

// msgRef is a message of the selected mailbox a command is about, as the
// view had it when the command resolved its set.
type msgRef struct {
	seq    uint32 // as the client knows it
	uid    uint32
	recent bool // \Recent for this session when the set was resolved
	viewEntry
}

// resolve returns the messages of numSet the client can see, in order.
// "*" is the last message the client knows of; "$" the saved SEARCH result.
// A sequence number past the last one the client knows of, "*" in an
// empty mailbox included, is errSeqPastEnd (RFC 9051 section 9,
// seq-number); a UID is never wrong. gone reports sequence numbers of
// messages expunged meanwhile, which refs leaves out.
// It costs O(k log n) for k messages out of n: the ranges are located by
// binary search (UIDs) or by sequence number, never by a scan of the
// mailbox, so a one-message FETCH in a mailbox of 100,000 stays cheap.
func (s *session) resolve(sel *selection, numSet imap.NumSet) (refs []msgRef, gone bool, err error) {
	if imap.IsSearchRes(numSet) {
		numSet = append(imap.UIDSet(nil), sel.searchRes...)
	}
	a := s.acct
	a.fillView(sel.view)
	a.mu.Lock()
	defer a.mu.Unlock()
	v := sel.view
	maxSeq, maxUID := lastKnown(sel)
	var idx []int // positions in v.uids
	sorted := true
	add := func(i int) {
		if n := len(idx); n > 0 && i <= idx[n-1] {
			sorted = false
		}
		idx = append(idx, i)
	}
	switch set := numSet.(type) {
	case imap.SeqSet:
		// The client may still count messages expunged meanwhile.
		known := maxSeq + sel.unreported
		for _, r := range set {
			if max(r.Start, r.Stop) > known || known == 0 {
				return nil, false, errSeqPastEnd
			}
			start, stop := r.Start, r.Stop
			// "*" is the client's last message, which may be one
			// expunged meanwhile: never an earlier one.
			staticRange(&start, &stop, known)
			// 0 < start <= stop <= known, a count of messages: no overflow.
			for seq := start; seq <= stop; seq++ {
				if i := sel.tracker.DecodeSeqNum(seq); i != 0 && int(i) <= len(v.uids) {
					add(int(i) - 1)
				} else {
					gone = true // expunged, and the client not told yet
				}
			}
		}
	case imap.UIDSet:
		for _, r := range set {
			start, stop := uint32(r.Start), uint32(r.Stop)
			staticRange(&start, &stop, maxUID)
			lo, _ := v.index(start)
			for i := lo; i < len(v.uids) && v.uids[i] <= stop; i++ {
				add(i)
			}
		}
	}
	if !sorted {
		slices.Sort(idx)
		idx = slices.Compact(idx)
	}
	refs = make([]msgRef, 0, len(idx))
	for _, i := range idx {
		seq := sel.tracker.EncodeSeqNum(uint32(i) + 1)
		if seq == 0 {
			continue // the client has not been told about it yet
		}
		uid := v.uids[i]
		_, recent := sel.recent[uid]
		refs = append(refs, msgRef{seq: seq, uid: uid, recent: recent, viewEntry: v.msgs[i]})
	}
	return refs, gone, nil
}

// lastKnown returns the sequence number and UID of the last message the
// client knows of; the caller holds the account's lock.
func lastKnown(sel *selection) (seq, uid uint32) {
	v := sel.view
	for i := len(v.uids) - 1; i >= 0; i-- {
		if seq := sel.tracker.EncodeSeqNum(uint32(i) + 1); seq != 0 {
			return seq, v.uids[i]
		}
	}
	return 0, 0
}

// knownSeqs calls fn, in order, for each of the ascending uids that the
// client knows of, with its sequence number: a search's hits, which are
// few, without resolving the whole mailbox.
func (s *session) knownSeqs(sel *selection, uids []uint32, fn func(uid, seq uint32)) {
	a := s.acct
	a.fillView(sel.view)
	a.mu.Lock()
	defer a.mu.Unlock()
	_, maxUID := lastKnown(sel)
	v := sel.view.uids
	i := 0 // v[:i] are below the next uid
	for _, uid := range uids {
		if uid > maxUID {
			return
		}
		if i < len(v) && v[i] < uid {
			// Hits are often next to each other: look one ahead
			// before searching the rest.
			if i++; i < len(v) && v[i] < uid {
				i += sort.Search(len(v)-i, func(j int) bool { return v[i+j] >= uid })
			}
		}
		if i < len(v) && v[i] == uid {
			if seq := sel.tracker.EncodeSeqNum(uint32(i) + 1); seq != 0 {
				fn(uid, seq)
			}
		}
	}
}

// staticRange replaces "*" (0) by max; a range is unordered (RFC 3501 9).
func staticRange(start, stop *uint32, max uint32) {
	if *start == 0 {
		*start = max
	}
	if *stop == 0 {
		*stop = max
	}
	if *start > *stop {
		*start, *stop = *stop, *start
	}
}

func uidsOf(refs []msgRef) []uint32 {
	uids := make([]uint32, len(refs))
	for i, r := range refs {
		uids[i] = r.uid
	}
	return uids
}

// selected returns the selected mailbox; go-imap checks the state first,
// so a nil here is a bug guarded against rather than expected.
func (s *session) selected() (*selection, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sel == nil {
		return nil, errNoSelect
	}
	return s.sel, nil
}

// mailboxFor looks up the target of COPY, MOVE or APPEND.
func (s *session) mailboxFor(op, name string) (store.Mailbox, error) {
	name, err := normName(name)
	if err != nil {
		return store.Mailbox{}, err
	}
	m, err := s.store().MailboxByName(name)
	if err != nil {
		return store.Mailbox{}, destError(op, err)
	}
	return m, nil
}
