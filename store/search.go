package store

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/mailbridge/mailbridge/upstream"
)

// ErrSearchUnsupported is returned by Search for criteria the cache cannot
// answer: sequence numbers (imapsrv resolves them into UIDs first) and
// MODSEQ (no CONDSTORE).
var ErrSearchUnsupported = errors.New("store: search criterion not supported")

// Search returns, in UID order, the UIDs of the mailbox's messages that
// match c. Flags, dates and sizes come from the mailbox's clear entries;
// header and text keys use the search index to find candidates and
// confirm them against the sealed, decoded and case-folded text, so
// results have IMAP's case-insensitive substring semantics without
// decrypting or parsing every message. Sequence numbers and session
// flags (\Recent) must be resolved into UID sets by the caller.
func (s *Store) Search(mailboxID uint64, c *imap.SearchCriteria) ([]uint32, error) {
	if c == nil {
		c = &imap.SearchCriteria{}
	}
	if err := checkCriteria(c); err != nil {
		return nil, err
	}
	// Appends whose index terms are still queued must be found too.
	if err := s.IndexAppended(); err != nil {
		return nil, err
	}
	var (
		ents []uidEntry
		ev   *evaluator
		out  []uint32
	)
	err := s.view(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte(bktMailboxes)).Get(u64key(mailboxID)) == nil {
			return fmt.Errorf("%w: id %d", ErrNoMailbox, mailboxID)
		}
		ev = &evaluator{s: s, tx: tx, keys: map[textKey]*keyIndex{}}
		if err := ev.prepare(c); err != nil {
			return err
		}
		var err error
		if ents, ev.maxUID, err = loadEntries(tx, mailboxID, ev.required(c)); err != nil {
			return err
		}
		unsure := ev.unsure()
		ev.seekOne = len(unsure) == 1 && (unsure[0].where == "text" || unsure[0].where == "body")
		if len(unsure) == 0 || len(ents) < parallelMin {
			out, err = ev.filter(c, ents)
			ev = nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if ev != nil {
		// Candidates the index could not settle are confirmed against
		// their text, which costs tens of microseconds each: on all cores.
		return s.filterParallel(ev, c, ents)
	}
	return out, nil
}

func checkCriteria(c *imap.SearchCriteria) error {
	if len(c.SeqNum) > 0 {
		return fmt.Errorf("%w: sequence numbers", ErrSearchUnsupported)
	}
	if c.ModSeq != nil {
		return fmt.Errorf("%w: MODSEQ", ErrSearchUnsupported)
	}
	for i := range c.Not {
		if err := checkCriteria(&c.Not[i]); err != nil {
			return err
		}
	}
	for i := range c.Or {
		for j := range c.Or[i] {
			if err := checkCriteria(&c.Or[i][j]); err != nil {
				return err
			}
		}
	}
	return nil
}

type uidEntry struct {
	uid uint32
	e   entryRec
}

// loadEntries returns the mailbox's entries whose message is in every
// set of keep (all of them if keep is empty), and the mailbox's largest
// UID, which "*" stands for. Leaving out what the index already rules out
// keeps a narrow search of a large mailbox from decoding and holding
// every entry.
func loadEntries(tx *bolt.Tx, mailboxID uint64, keep []*bitset) ([]uidEntry, uint32, error) {
	if ids := fewCandidates(keep); ids != nil {
		return candidateEntries(tx, mailboxID, ids)
	}
	return walkEntries(tx, mailboxID, keep)
}

// walkEntries is loadEntries by a walk of all the mailbox's entries.
func walkEntries(tx *bolt.Tx, mailboxID uint64, keep []*bitset) ([]uidEntry, uint32, error) {
	prefix := u64key(mailboxID)
	var (
		out    []uidEntry
		maxUID uint32
	)
	c := tx.Bucket([]byte(bktEntries)).Cursor()
outer:
	for k, v := c.Seek(prefix); len(k) == 12 && string(k[:8]) == string(prefix); k, v = c.Next() {
		uid := binary.BigEndian.Uint32(k[8:])
		maxUID = uid
		if len(keep) > 0 && len(v) >= 8 {
			id := binary.BigEndian.Uint64(v) // an entry starts with its message ID
			for _, set := range keep {
				if !set.has(id) {
					continue outer
				}
			}
		}
		e, err := decodeEntry(v)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, uidEntry{uid: uid, e: e})
	}
	return out, maxUID, nil
}

// maxCandidates is how many messages the index may leave for a search to
// look them up one by one, through their records, instead of walking
// the mailbox's entries: a lookup costs a few times a step of the walk,
// and a walk of 100,000 entries took 30 ms.
const maxCandidates = 2048

// fewCandidates returns, in order, the messages in every set of keep, if
// there are no more than maxCandidates; nil otherwise.
func fewCandidates(keep []*bitset) []uint64 {
	if len(keep) == 0 {
		return nil
	}
	var ids []uint64
	for i, w := range keep[0].w {
		for _, o := range keep[1:] {
			if i < len(o.w) {
				w &= o.w[i]
			} else {
				w = 0
			}
		}
		for ; w != 0; w &= w - 1 {
			if len(ids) == maxCandidates {
				return nil
			}
			ids = append(ids, uint64(i)*64+uint64(bits.TrailingZeros64(w)))
		}
	}
	if ids == nil {
		ids = []uint64{} // none: no walk needed either
	}
	return ids
}

// candidateEntries returns the entries of the mailbox's messages among
// ids, in UID order, and the mailbox's largest UID.
func candidateEntries(tx *bolt.Tx, mailboxID uint64, ids []uint64) ([]uidEntry, uint32, error) {
	msgs, entries := tx.Bucket([]byte(bktMessages)), tx.Bucket([]byte(bktEntries))
	var out []uidEntry
	for _, id := range ids {
		v := msgs.Get(u64key(id))
		if v == nil {
			continue // deleted; the index keeps stale IDs
		}
		rec, err := decodeMsg(v)
		if err != nil {
			return nil, 0, err
		}
		uid, ok := rec.memberOf(mailboxID)
		if !ok {
			continue
		}
		ev := entries.Get(entryKey(mailboxID, uid))
		if ev == nil {
			continue
		}
		e, err := decodeEntry(ev)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, uidEntry{uid: uid, e: e})
	}
	slices.SortFunc(out, func(a, b uidEntry) int { return cmp.Compare(a.uid, b.uid) })
	var maxUID uint32
	c := entries.Cursor()
	prefix := u64key(mailboxID)
	last := entryKey(mailboxID, 1<<32-1)
	k, _ := c.Seek(last)
	switch {
	case k == nil:
		k, _ = c.Last()
	case string(k) != string(last):
		k, _ = c.Prev()
	}
	if len(k) == 12 && string(k[:8]) == string(prefix) {
		maxUID = binary.BigEndian.Uint32(k[8:])
	}
	return out, maxUID, nil
}

// required returns the index sets every match of c is in: those of its
// own string keys (not under NOT or OR), each of which must match.
func (ev *evaluator) required(c *imap.SearchCriteria) []*bitset {
	var sets []*bitset
	add := func(k textKey) {
		if ki := ev.keys[k]; ki != nil && ki.set != nil {
			sets = append(sets, ki.set)
		}
	}
	for _, h := range c.Header {
		add(textKey{where: strings.ToLower(h.Key), q: fold(h.Value)})
	}
	for _, b := range c.Body {
		add(textKey{where: "body", q: fold(b)})
	}
	for _, t := range c.Text {
		add(textKey{where: "text", q: fold(t)})
	}
	return sets
}

// textKey is one string search: in which part of the message, and what.
type textKey struct {
	where string // "text", "body", or a lower-case header field name
	q     string // folded
}

type keyIndex struct {
	set  *bitset // nil: the index cannot narrow this key down
	sure bool
}

type evaluator struct {
	s      *Store
	tx     *bolt.Tx
	keys   map[textKey]*keyIndex
	kw     map[string]uint32 // lower-cased keyword -> ID, loaded on need
	maxUID uint32
	// seekOne: the one key the index leaves unsure is a body or text key,
	// which sk confirms without building candidates' whole documents.
	seekOne bool
	sk      seeker
}

// candidate is one message being evaluated; its document and parsed form
// are unsealed at most once, and only if a key needs them.
type candidate struct {
	entry  *uidEntry
	doc    *searchDoc
	fields []docField // the header alone, from parsed: cheaper than doc
	parsed *Parsed
}

func (ev *evaluator) prepare(c *imap.SearchCriteria) error {
	add := func(k textKey, classes ...byte) error {
		if _, ok := ev.keys[k]; ok {
			return nil
		}
		ki := &keyIndex{}
		if k.q != "" {
			set, sure, err := ev.s.candidates(ev.tx, k.q, classes)
			if err != nil {
				return err
			}
			ki.set = set
			// A per-field class holds the words of exactly the text the
			// key is matched against, as the body and text classes do.
			ki.sure = sure && (k.where == "text" || k.where == "body" || fieldClass(k.where) != 0)
		}
		ev.keys[k] = ki
		return nil
	}
	for _, h := range c.Header {
		k := textKey{where: strings.ToLower(h.Key), q: fold(h.Value)}
		class := fieldClass(k.where)
		if class == 0 {
			class = classHeader
		}
		if err := add(k, class); err != nil {
			return err
		}
	}
	for _, b := range c.Body {
		if err := add(textKey{where: "body", q: fold(b)}, classBody); err != nil {
			return err
		}
	}
	for _, t := range c.Text {
		if err := add(textKey{where: "text", q: fold(t)}, classHeader, classBody); err != nil {
			return err
		}
	}
	for i := range c.Not {
		if err := ev.prepare(&c.Not[i]); err != nil {
			return err
		}
	}
	for i := range c.Or {
		for j := range c.Or[i] {
			if err := ev.prepare(&c.Or[i][j]); err != nil {
				return err
			}
		}
	}
	return nil
}

// match evaluates c for one message, cheap keys first.
func (ev *evaluator) match(c *imap.SearchCriteria, m *candidate) (bool, error) {
	e := m.entry
	for _, set := range c.UID {
		if !ev.uidIn(set, e.uid) {
			return false, nil
		}
	}
	date := timeOf(e.e.date)
	if !c.Since.IsZero() && dayOf(date).Before(dayOf(c.Since)) {
		return false, nil
	}
	if !c.Before.IsZero() && !dayOf(date).Before(dayOf(c.Before)) {
		return false, nil
	}
	if c.Larger > 0 && e.e.size <= c.Larger {
		return false, nil
	}
	if c.Smaller > 0 && e.e.size >= c.Smaller {
		return false, nil
	}
	for _, f := range c.Flag {
		has, err := ev.hasFlag(e.e, f)
		if err != nil || !has {
			return false, err
		}
	}
	for _, f := range c.NotFlag {
		has, err := ev.hasFlag(e.e, f)
		if err != nil || has {
			return false, err
		}
	}
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		sent, err := ev.sentDate(m)
		if err != nil {
			return false, err
		}
		if !c.SentSince.IsZero() && sent.Before(dayOf(c.SentSince)) {
			return false, nil
		}
		if !c.SentBefore.IsZero() && !sent.Before(dayOf(c.SentBefore)) {
			return false, nil
		}
	}
	for _, h := range c.Header {
		if ok, err := ev.text(m, textKey{where: strings.ToLower(h.Key), q: fold(h.Value)}); err != nil || !ok {
			return false, err
		}
	}
	for _, b := range c.Body {
		if ok, err := ev.text(m, textKey{where: "body", q: fold(b)}); err != nil || !ok {
			return false, err
		}
	}
	for _, t := range c.Text {
		if ok, err := ev.text(m, textKey{where: "text", q: fold(t)}); err != nil || !ok {
			return false, err
		}
	}
	for i := range c.Not {
		ok, err := ev.match(&c.Not[i], m)
		if err != nil || ok {
			return false, err
		}
	}
	for i := range c.Or {
		a, err := ev.match(&c.Or[i][0], m)
		if err != nil {
			return false, err
		}
		if !a {
			b, err := ev.match(&c.Or[i][1], m)
			if err != nil || !b {
				return false, err
			}
		}
	}
	return true, nil
}

// uidIn reports whether uid is in set, where "*" (0) is the mailbox's
// largest UID.
func (ev *evaluator) uidIn(set imap.UIDSet, uid uint32) bool {
	for _, r := range set {
		start, stop := uint32(r.Start), uint32(r.Stop)
		if start == 0 {
			start = ev.maxUID
		}
		if stop == 0 {
			stop = ev.maxUID
		}
		if start > stop {
			start, stop = stop, start
		}
		if uid >= start && uid <= stop {
			return true
		}
	}
	return false
}

// dayOf is the calendar date of t in its own zone, as a UTC midnight, so
// that dates compare "disregarding time and timezone" (RFC 3501).
func dayOf(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func (ev *evaluator) hasFlag(e entryRec, f imap.Flag) (bool, error) {
	for _, sf := range systemFlags {
		if strings.EqualFold(string(f), sf.name) {
			return upstream.Flags(e.flags).Has(sf.bit), nil
		}
	}
	if strings.EqualFold(string(f), `\Deleted`) {
		return e.flags&flagDeleted != 0, nil
	}
	if strings.HasPrefix(string(f), `\`) {
		return false, nil // \Recent is the session's; imapsrv resolves it
	}
	if ev.kw == nil {
		names, err := loadKeywords(ev.tx, ev.s.seal)
		if err != nil {
			return false, err
		}
		ev.kw = make(map[string]uint32, len(names))
		for id, n := range names {
			ev.kw[strings.ToLower(n)] = id
		}
	}
	id, ok := ev.kw[strings.ToLower(string(f))]
	if !ok {
		return false, nil
	}
	for _, k := range e.keywords {
		if k == id {
			return true, nil
		}
	}
	return false, nil
}

func (ev *evaluator) sentDate(m *candidate) (time.Time, error) {
	if m.parsed == nil {
		p, err := ev.s.parsedTx(ev.tx, m.entry.e.msgID)
		if err != nil {
			return time.Time{}, err
		}
		m.parsed = p
	}
	if d := m.parsed.Envelope.Date; !d.IsZero() {
		return dayOf(d), nil
	}
	return dayOf(timeOf(m.entry.e.date)), nil
}

// text answers one string key: from the index when it is sure, else by
// reading the message's search document.
func (ev *evaluator) text(m *candidate, k textKey) (bool, error) {
	ki := ev.keys[k]
	id := m.entry.e.msgID
	if ki != nil && ki.set != nil {
		if !ki.set.has(id) {
			return false, nil
		}
		if ki.sure {
			return true, nil
		}
	}
	if ev.seekOne && m.doc == nil && (k.where == "text" || k.where == "body") {
		return ev.sk.contains(ev.s, ev.tx, id, k.where, k.q)
	}
	if k.where == "text" && m.doc == nil {
		// The body is needed if the header does not match: build the
		// whole document at once rather than the header first.
		d, err := ev.s.searchDocTx(ev.tx, id)
		if err != nil {
			return false, err
		}
		m.doc = d
	}
	if k.where != "body" {
		fields, err := ev.headerOf(m)
		if err != nil {
			return false, err
		}
		for _, f := range fields {
			if k.where == "text" && fieldContains(f, k.q) ||
				f.name == k.where && strings.Contains(f.value, k.q) {
				return true, nil
			}
		}
		if k.where != "text" {
			return false, nil
		}
	}
	if m.doc == nil {
		d, err := ev.s.searchDocTx(ev.tx, id)
		if err != nil {
			return false, err
		}
		m.doc = d
	}
	return strings.Contains(m.doc.body, k.q), nil
}

// headerOf returns the candidate's header fields, from its parsed form
// (a small record) rather than its whole body.
func (ev *evaluator) headerOf(m *candidate) ([]docField, error) {
	switch {
	case m.doc != nil:
		return m.doc.fields, nil
	case m.fields != nil:
		return m.fields, nil
	}
	var hb []byte
	if m.parsed != nil {
		hb = m.parsed.Header
	} else {
		var err error
		if hb, err = ev.s.headerTx(ev.tx, m.entry.e.msgID); err != nil {
			return nil, err
		}
	}
	m.fields = headerFields(readHeader(hb))
	if m.fields == nil {
		m.fields = []docField{}
	}
	return m.fields, nil
}
