package imapsrv

import (
	"errors"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailbridge/mailbridge/store"
)

// Search answers from the store's index (store.Search): imapsrv only
// rewrites what belongs to the session into UID sets first — sequence
// numbers, "*", "$" (SEARCHRES) and \Recent (NEW, OLD, RECENT) — and maps
// the result back onto the messages the client knows.
func (s *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	sel, err := s.selected()
	if err != nil {
		return nil, err
	}
	s.acct.fillView(sel.view)
	s.acct.mu.Lock()
	recent := make([]uint32, 0, len(sel.recent))
	for uid := range sel.recent {
		recent = append(recent, uid)
	}
	maxSeq, maxUID := lastKnown(sel)
	s.acct.mu.Unlock()
	slices.Sort(recent)

	ctx := &searchContext{saved: sel.searchRes, recent: uidSetOf(recent), maxSeq: maxSeq, maxUID: maxUID,
		all: func() []msgRef {
			refs, _, _ := s.resolve(sel, imap.UIDSet{{Start: 1, Stop: 0}}) // UIDs are never wrong
			return refs
		}}
	ctx.rewrite(criteria)

	// APPEND indexes in batches: the search must see the last ones.
	if err := s.store().IndexAppended(); err != nil {
		return nil, storeError("search", err)
	}
	uids, err := s.store().Search(sel.mbox.ID, criteria)
	if errors.Is(err, store.ErrSearchUnsupported) {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Unsupported search criterion"}
	} else if err != nil {
		return nil, storeError("search", err)
	}

	data := &imap.SearchData{}
	var seqs imap.SeqSet
	var hits []uint32
	// Keep the hits the client knows of.
	s.knownSeqs(sel, uids, func(uid, seq uint32) {
		hits = append(hits, uid)
		seqs.AddNum(seq)
		num := seq
		if kind == imapserver.NumKindUID {
			num = uid
		}
		if data.Min == 0 || num < data.Min {
			data.Min = num
		}
		data.Max = max(data.Max, num)
		data.Count++
	})
	uidSet := uidSetOf(hits)
	if kind == imapserver.NumKindUID {
		data.All = uidSet
	} else {
		data.All = seqs
	}
	if options.ReturnSave {
		sel.searchRes = savedResult(hits, uidSet, options)
	}
	return data, nil
}

// savedResult is what SAVE keeps of a search's hits (RFC 5182 section
// 2.1): with MIN or MAX and neither ALL nor COUNT, only the messages
// those return; else all of them.
func savedResult(hits []uint32, all imap.UIDSet, options *imap.SearchOptions) imap.UIDSet {
	if options.ReturnAll || options.ReturnCount || !options.ReturnMin && !options.ReturnMax || len(hits) == 0 {
		return all
	}
	var saved imap.UIDSet
	if options.ReturnMin {
		saved.AddNum(imap.UID(hits[0]))
	}
	if options.ReturnMax {
		saved.AddNum(imap.UID(hits[len(hits)-1]))
	}
	return saved
}

// searchContext is what rewriting a command's criteria needs to know of
// the session.
type searchContext struct {
	all            func() []msgRef // the messages the client knows, in order
	refs           []msgRef        // all's, once a sequence set needs them
	saved          imap.UIDSet
	recent         imap.UIDSet
	maxSeq, maxUID uint32
}

// rewrite turns c into criteria about UIDs only, in place.
func (x *searchContext) rewrite(c *imap.SearchCriteria) {
	for _, set := range c.SeqNum {
		set = append(imap.SeqSet(nil), set...)
		for j := range set {
			staticRange(&set[j].Start, &set[j].Stop, x.maxSeq)
		}
		if x.refs == nil {
			x.refs = x.all()
		}
		var uids []uint32
		for _, r := range x.refs {
			if set.Contains(r.seq) {
				uids = append(uids, r.uid)
			}
		}
		c.UID = append(c.UID, uidSetOf(uids))
	}
	c.SeqNum = nil
	for i, set := range c.UID {
		if imap.IsSearchRes(set) {
			c.UID[i] = append(imap.UIDSet{}, x.saved...)
			continue
		}
		set = append(imap.UIDSet(nil), set...)
		for j := range set {
			staticRange((*uint32)(&set[j].Start), (*uint32)(&set[j].Stop), x.maxUID)
		}
		c.UID[i] = set
	}
	// \Recent is the session's: RECENT and NEW ask for it, OLD for its
	// absence.
	if i := flagIndex(c.Flag, flagRecent); i >= 0 {
		c.Flag = slices.Delete(c.Flag, i, i+1)
		c.UID = append(c.UID, x.recent)
	}
	if i := flagIndex(c.NotFlag, flagRecent); i >= 0 {
		c.NotFlag = slices.Delete(c.NotFlag, i, i+1)
		c.Not = append(c.Not, imap.SearchCriteria{UID: []imap.UIDSet{x.recent}})
	}
	for i := range c.Not {
		x.rewrite(&c.Not[i])
	}
	for i := range c.Or {
		x.rewrite(&c.Or[i][0])
		x.rewrite(&c.Or[i][1])
	}
}

func flagIndex(flags []imap.Flag, f imap.Flag) int {
	return slices.IndexFunc(flags, func(x imap.Flag) bool { return strings.EqualFold(string(x), string(f)) })
}

// uidSetOf returns the ascending uids as a set of ranges. An empty set
// matches nothing.
func uidSetOf(uids []uint32) imap.UIDSet {
	set := imap.UIDSet{}
	for _, uid := range uids {
		if n := len(set); n > 0 && uint32(set[n-1].Stop)+1 == uid {
			set[n-1].Stop = imap.UID(uid)
			continue
		}
		set = append(set, imap.UIDRange{Start: imap.UID(uid), Stop: imap.UID(uid)})
	}
	return set
}
