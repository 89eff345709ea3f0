package imapsrv

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/mailbridge/mailbridge/store"
)

// maxSearchText bounds how much decoded text of one message BODY/TEXT
// look at, so a huge attachment cannot make SEARCH eat memory.
const maxSearchText = 4 << 20

func (s *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	sel, err := s.selected()
	if err != nil {
		return nil, err
	}
	refs := s.resolve(sel, imap.SeqSet{{Start: 1, Stop: 0}})
	entries, err := s.store().Entries(sel.mbox.ID)
	if err != nil {
		return nil, storeError("search", err)
	}
	byUID := make(map[uint32]*store.Entry, len(entries))
	for i := range entries {
		byUID[entries[i].UID] = &entries[i]
	}
	var maxSeq, maxUID uint32
	if n := len(refs); n > 0 {
		maxSeq, maxUID = refs[n-1].seq, refs[n-1].uid
	}
	staticCriteria(criteria, sel.searchRes, maxSeq, maxUID)

	s.acct.mu.Lock()
	recent := make(map[uint32]bool, len(sel.recent))
	for uid := range sel.recent {
		recent[uid] = true
	}
	s.acct.mu.Unlock()

	data := &imap.SearchData{}
	var seqs imap.SeqSet
	var uids imap.UIDSet
	for _, r := range refs {
		e := byUID[r.uid]
		if e == nil {
			continue
		}
		m := &searchMsg{s: s, ref: r, e: e, recent: recent[r.uid]}
		if !m.match(criteria) {
			continue
		}
		num := r.seq
		if kind == imapserver.NumKindUID {
			num = r.uid
		}
		seqs.AddNum(r.seq)
		uids.AddNum(imap.UID(r.uid))
		if data.Min == 0 || num < data.Min {
			data.Min = num
		}
		data.Max = max(data.Max, num)
		data.Count++
	}
	if kind == imapserver.NumKindUID {
		data.All = uids
	} else {
		data.All = seqs
	}
	if options.ReturnSave {
		sel.searchRes = uids
	}
	return data, nil
}

// staticCriteria resolves "*" and "$" in every sequence set of c.
func staticCriteria(c *imap.SearchCriteria, saved imap.UIDSet, maxSeq, maxUID uint32) {
	for i, set := range c.SeqNum {
		set = append(imap.SeqSet(nil), set...)
		for j := range set {
			staticRange(&set[j].Start, &set[j].Stop, maxSeq)
		}
		c.SeqNum[i] = set
	}
	for i, set := range c.UID {
		if imap.IsSearchRes(set) {
			c.UID[i] = append(imap.UIDSet{}, saved...)
			continue
		}
		set = append(imap.UIDSet(nil), set...)
		for j := range set {
			staticRange((*uint32)(&set[j].Start), (*uint32)(&set[j].Stop), maxUID)
		}
		c.UID[i] = set
	}
	for i := range c.Not {
		staticCriteria(&c.Not[i], saved, maxSeq, maxUID)
	}
	for i := range c.Or {
		staticCriteria(&c.Or[i][0], saved, maxSeq, maxUID)
		staticCriteria(&c.Or[i][1], saved, maxSeq, maxUID)
	}
}

// searchMsg is one message being matched; it reads and parses the body
// only if a criterion needs it, and at most once.
type searchMsg struct {
	s      *session
	ref    msgRef
	e      *store.Entry
	recent bool

	loaded bool
	header textproto.Header
	body   string // decoded text parts, lower case
	hdrTxt string // decoded header, lower case
}

func (m *searchMsg) match(c *imap.SearchCriteria) bool {
	for _, set := range c.SeqNum {
		if !set.Contains(m.ref.seq) {
			return false
		}
	}
	for _, set := range c.UID {
		if !set.Contains(imap.UID(m.ref.uid)) {
			return false
		}
	}
	if !matchDate(m.e.Date, c.Since, c.Before) {
		return false
	}
	for _, f := range c.Flag {
		if !m.hasFlag(f) {
			return false
		}
	}
	for _, f := range c.NotFlag {
		if m.hasFlag(f) {
			return false
		}
	}
	if c.Larger > 0 && m.e.Size <= c.Larger {
		return false
	}
	if c.Smaller > 0 && m.e.Size >= c.Smaller {
		return false
	}
	if len(c.Header) > 0 || len(c.Body) > 0 || len(c.Text) > 0 || !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		if !m.load() || !m.matchContent(c) {
			return false
		}
	}
	for i := range c.Not {
		if m.match(&c.Not[i]) {
			return false
		}
	}
	for i := range c.Or {
		if !m.match(&c.Or[i][0]) && !m.match(&c.Or[i][1]) {
			return false
		}
	}
	return true
}

func (m *searchMsg) hasFlag(f imap.Flag) bool {
	if strings.EqualFold(string(f), string(flagRecent)) {
		return m.recent
	}
	return hasFlag(m.e.Flags, f)
}

func (m *searchMsg) matchContent(c *imap.SearchCriteria) bool {
	for _, hf := range c.Header {
		if !matchHeader(m.header, hf) {
			return false
		}
	}
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		h := mail.Header{Header: message.Header{Header: m.header}}
		t, err := h.Date()
		if err != nil || !matchDate(t, c.SentSince, c.SentBefore) {
			return false
		}
	}
	for _, b := range c.Body {
		if !strings.Contains(m.body, strings.ToLower(b)) {
			return false
		}
	}
	for _, t := range c.Text {
		t = strings.ToLower(t)
		if !strings.Contains(m.hdrTxt, t) && !strings.Contains(m.body, t) {
			return false
		}
	}
	return true
}

// matchHeader is a case-insensitive substring match on the decoded field;
// an empty value matches any message that has the field (RFC 3501 6.4.4).
func matchHeader(h textproto.Header, hf imap.SearchCriteriaHeaderField) bool {
	want := strings.ToLower(hf.Value)
	for f := h.FieldsByKey(hf.Key); f.Next(); {
		if want == "" || strings.Contains(strings.ToLower(decodeHeader(f.Value())), want) {
			return true
		}
	}
	return false
}

var wordDecoder = &mime.WordDecoder{}

func decodeHeader(v string) string {
	if d, err := wordDecoder.DecodeHeader(v); err == nil {
		return d
	}
	return v
}

// matchDate compares dates only, ignoring time and zone (RFC 3501 6.4.4).
func matchDate(t, since, before time.Time) bool {
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if !since.IsZero() && d.Before(since) {
		return false
	}
	if !before.IsZero() && !d.Before(before) {
		return false
	}
	return true
}

// load reads and parses the message; false if it is gone.
func (m *searchMsg) load() bool {
	if m.loaded {
		return true
	}
	raw, err := m.s.store().Body(m.e.MsgID)
	if err != nil {
		return false
	}
	m.loaded = true
	m.header, _ = textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	var sb strings.Builder
	for f := m.header.Fields(); f.Next(); {
		sb.WriteString(f.Key())
		sb.WriteString(": ")
		sb.WriteString(decodeHeader(f.Value()))
		sb.WriteByte('\n')
	}
	m.hdrTxt = strings.ToLower(sb.String())
	sb.Reset()
	if e, err := message.Read(bytes.NewReader(raw)); e != nil && (err == nil || message.IsUnknownCharset(err) || message.IsUnknownEncoding(err)) {
		collectText(e, &sb)
	}
	m.body = strings.ToLower(sb.String())
	return true
}

// collectText appends the decoded text parts of e to sb.
func collectText(e *message.Entity, sb *strings.Builder) {
	if mr := e.MultipartReader(); mr != nil {
		for {
			p, err := mr.NextPart()
			if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
				return
			}
			if p != nil {
				collectText(p, sb)
			}
		}
	}
	t, _, _ := e.Header.ContentType()
	if t != "" && !strings.HasPrefix(t, "text/") {
		return
	}
	left := maxSearchText - sb.Len()
	if left <= 0 {
		return
	}
	b, _ := io.ReadAll(io.LimitReader(e.Body, int64(left)))
	sb.Write(b)
	sb.WriteByte('\n')
}
