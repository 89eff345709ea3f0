package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// wtx is one write transaction. It keeps every mailbox record in memory
// (there are few) and writes the changed ones once at the end, so a batch of
// a thousand messages re-seals each mailbox record once, not a thousand times.
type wtx struct {
	s  *Store
	tx *bolt.Tx

	mboxes    map[uint64]*Mailbox
	dirty     map[uint64]bool
	mbChanged bool // a mailbox was created, renamed or deleted

	kwNames map[uint32]string // loaded on first use
	kwIDs   map[string]uint32 // lower-cased name -> ID

	changes  []Change
	opsAdded bool

	// Index terms queued by putAnalysis, written by flush, and the
	// analyses their words are read from.
	post     map[uint64]uint32 // term -> index into lists
	lists    []termList
	analyses []*Analysis
	newWords []string // words added to the vocabulary, for the cache

	// Appended messages whose analysis waits for the next index batch
	// (deferIndex); queued once the transaction is committed.
	deferred map[uint64]*Analysis

	// Sealed values of this transaction (sealValue).
	slab      []byte
	slabsUsed [][]byte

	meta, mailboxes, messages, msgUp, bodies, entries *bolt.Bucket
	keywords, outbox, opIDs, refs, pending            *bolt.Bucket
	parsed, postings, vocab, gone                     *bolt.Bucket
}

func (s *Store) newWtx(tx *bolt.Tx) (*wtx, error) {
	w := &wtx{s: s, tx: tx, mboxes: make(map[uint64]*Mailbox), dirty: make(map[uint64]bool)}
	w.loadBuckets()
	if w.mailboxes == nil {
		return w, nil // before migration 1
	}
	ms, ok := s.committed.get()
	if !ok {
		var err error
		if ms, err = loadMailboxes(tx, s.seal); err != nil {
			return nil, err
		}
	}
	for i := range ms {
		w.mboxes[ms[i].ID] = &ms[i]
	}
	return w, nil
}

func (w *wtx) loadBuckets() {
	b := func(name string) *bolt.Bucket { return w.tx.Bucket([]byte(name)) }
	w.meta, w.mailboxes, w.messages, w.msgUp = b(bktMeta), b(bktMailboxes), b(bktMessages), b(bktMsgUp)
	w.bodies, w.entries, w.keywords, w.outbox = b(bktBodies), b(bktEntries), b(bktKeywords), b(bktOutbox)
	w.opIDs, w.refs, w.pending = b(bktOpIDs), b(bktRefs), b(bktPending)
	w.parsed, w.postings, w.vocab, w.gone = b(bktParsed), b(bktPostings), b(bktVocab), b(bktGone)
}

// loadMailboxes reads and unseals every mailbox record, in ID order.
func loadMailboxes(tx *bolt.Tx, seal *sealer) ([]Mailbox, error) {
	var out []Mailbox
	err := tx.Bucket([]byte(bktMailboxes)).ForEach(func(k, v []byte) error {
		plain, err := seal.open(bktMailboxes, k, v)
		if err != nil {
			return err
		}
		var mb Mailbox
		if err := json.Unmarshal(plain, &mb); err != nil {
			return fmt.Errorf("%w: mailbox: %w", errCorrupt, err)
		}
		out = append(out, mb)
		return nil
	})
	return out, err
}

// flush writes the mailbox records changed in this transaction and the
// index terms it queued.
func (w *wtx) flush() error {
	if len(w.post) > 0 {
		if err := w.flushIndex(); err != nil {
			return err
		}
	}
	for id := range w.dirty {
		mb, ok := w.mboxes[id]
		if !ok {
			continue
		}
		plain, err := json.Marshal(mb)
		if err != nil {
			return fmt.Errorf("store: encode mailbox: %w", err)
		}
		k := u64key(id)
		if err := w.mailboxes.Put(k, w.s.seal.seal(bktMailboxes, k, plain)); err != nil {
			return fmt.Errorf("store: write mailbox: %w", err)
		}
	}
	if w.mbChanged {
		w.changes = append(w.changes, Change{Kind: ChangeMailboxes})
	}
	return nil
}

func (w *wtx) mailbox(id uint64) (*Mailbox, error) {
	if mb, ok := w.mboxes[id]; ok {
		return mb, nil
	}
	return nil, fmt.Errorf("%w: id %d", ErrNoMailbox, id)
}

func (w *wtx) byRole(r Role) *Mailbox {
	for _, mb := range w.mboxes {
		if mb.Role == r {
			return mb
		}
	}
	return nil
}

func (w *wtx) byUpstream(up string) *Mailbox {
	for _, mb := range w.mboxes {
		if mb.UpstreamID == up {
			return mb
		}
	}
	return nil
}

func (w *wtx) byName(name string) *Mailbox {
	for _, mb := range w.mboxes {
		if sameName(mb.Name, name) {
			return mb
		}
	}
	return nil
}

// sameName compares IMAP mailbox names: exact, except INBOX which is
// case-insensitive (RFC 3501).
func sameName(a, b string) bool {
	if strings.EqualFold(a, "INBOX") {
		return strings.EqualFold(b, "INBOX")
	}
	return a == b
}

func (w *wtx) newMailbox(name string, role Role, up string, subscribed bool) (*Mailbox, error) {
	id, err := w.mailboxes.NextSequence()
	if err != nil {
		return nil, fmt.Errorf("store: mailbox id: %w", err)
	}
	v, err := w.nextUIDValidity()
	if err != nil {
		return nil, err
	}
	// A name still subscribed from a mailbox deleted before is this one's.
	orphan, err := w.setOrphan(name, false)
	if err != nil {
		return nil, err
	}
	mb := &Mailbox{ID: id, UpstreamID: up, Name: name, Role: role, UIDValidity: v, UIDNext: 1, Subscribed: subscribed || orphan}
	w.mboxes[id] = mb
	w.dirty[id] = true
	w.mbChanged = true
	return mb, nil
}

// nextUIDValidity takes the clock in seconds, but never a value already
// handed out, so mailboxes created in the same second still differ.
func (w *wtx) nextUIDValidity() (uint32, error) {
	var last uint32
	if b := w.meta.Get(keyUIDValidity); len(b) == 4 {
		last = binary.BigEndian.Uint32(b)
	}
	last = max(last, w.s.uidFloor)
	v := uint32(time.Now().Unix())
	if v <= last {
		v = last + 1
	}
	if err := w.meta.Put(keyUIDValidity, binary.BigEndian.AppendUint32(nil, v)); err != nil {
		return 0, fmt.Errorf("store: write uidvalidity: %w", err)
	}
	return v, nil
}

// dropMailbox removes a mailbox and its entries; its messages keep their
// other labels.
func (w *wtx) dropMailbox(mb *Mailbox) error {
	msgs, err := w.entryMessages(mb.ID)
	if err != nil {
		return err
	}
	for _, id := range msgs {
		rec, err := w.getMsg(id)
		if err != nil {
			return err
		}
		target := w.labels(rec)
		delete(target, mb.ID)
		if err := w.setLabels(id, rec, target); err != nil {
			return err
		}
		if err := w.putMsg(id, rec); err != nil {
			return err
		}
	}
	if err := w.mailboxes.Delete(u64key(mb.ID)); err != nil {
		return fmt.Errorf("store: delete mailbox: %w", err)
	}
	delete(w.mboxes, mb.ID)
	delete(w.dirty, mb.ID)
	w.mbChanged = true
	return nil
}

// entryMessages lists the message IDs of a mailbox in UID order.
func (w *wtx) entryMessages(mbox uint64) ([]uint64, error) {
	var ids []uint64
	prefix := u64key(mbox)
	c := w.entries.Cursor()
	for k, v := c.Seek(prefix); len(k) == 12 && string(k[:8]) == string(prefix); k, v = c.Next() {
		if len(v) < 8 {
			return nil, fmt.Errorf("%w: entry", errCorrupt)
		}
		ids = append(ids, binary.BigEndian.Uint64(v))
	}
	return ids, nil
}
