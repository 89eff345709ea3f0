package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Entries lists a mailbox in UID order: one cursor scan over small clear
// records; keyword names are unsealed only if some entry has keywords.
// Entries with the same flags and no keywords share one Flags slice:
// callers must treat Flags as read-only.
func (s *Store) Entries(mailboxID uint64) ([]Entry, error) {
	var out []Entry
	err := s.view(func(tx *bolt.Tx) error {
		prefix := u64key(mailboxID)
		sealed := tx.Bucket([]byte(bktMailboxes)).Get(prefix)
		if sealed == nil {
			return fmt.Errorf("%w: id %d", ErrNoMailbox, mailboxID)
		}
		plain, err := s.seal.open(bktMailboxes, prefix, sealed)
		if err != nil {
			return err
		}
		var mb Mailbox
		if err := json.Unmarshal(plain, &mb); err != nil {
			return fmt.Errorf("%w: mailbox: %w", errCorrupt, err)
		}
		out = make([]Entry, 0, mb.Messages)
		var names map[uint32]string
		// A mailbox has a handful of distinct flag sets: render each once.
		shared := make(map[uint16][]string)
		c := tx.Bucket([]byte(bktEntries)).Cursor()
		for k, v := c.Seek(prefix); len(k) == 12 && string(k[:8]) == string(prefix); k, v = c.Next() {
			e, err := decodeEntry(v)
			if err != nil {
				return err
			}
			uid := binary.BigEndian.Uint32(k[8:])
			if len(e.keywords) == 0 {
				flags, ok := shared[e.flags]
				if !ok {
					flags = imapFlags(e.flags, nil, nil)
					shared[e.flags] = flags
				}
				out = append(out, Entry{UID: uid, MsgID: e.msgID, Flags: flags, Date: timeOf(e.date), Size: e.size})
				continue
			}
			if names == nil {
				if names, err = loadKeywords(tx, s.seal); err != nil {
					return err
				}
			}
			out = append(out, e.toEntry(uid, names))
		}
		return nil
	})
	return out, err
}

// Body returns a message's plain RFC 822 bytes.
func (s *Store) Body(msgID uint64) ([]byte, error) {
	var body []byte
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		body, err = s.bodyTx(tx, msgID) // a fresh slice, valid after the txn
		return err
	})
	return body, err
}

// Append stores a message a client appended and queues its import. The
// message has no upstream ID until the import is done (CompleteOp or its
// echo binds it). It returns the message's UID and the mailbox's
// UIDVALIDITY for APPENDUID.
func (s *Store) Append(mailboxID uint64, raw []byte, flags []string, date time.Time) (uid, uidValidity uint32, err error) {
	a := s.Analyze(raw) // outside the write lock
	err = s.update(func(w *wtx) error {
		mb, err := w.mailbox(mailboxID)
		if err != nil {
			return err
		}
		if mb.Role == RoleAll {
			return fmt.Errorf("%w: APPEND into %s", ErrNotAllowed, AllMailName)
		}
		fs := parseFlags(flags)
		kw, err := w.keywordIDs(fs.keywords, true)
		if err != nil {
			return err
		}
		if date.IsZero() {
			date = time.Now()
		}
		id, err := w.messages.NextSequence()
		if err != nil {
			return fmt.Errorf("store: message id: %w", err)
		}
		rec := &msgRec{flags: fs.up, date: date.Unix(), size: int64(len(raw)), keywords: kw}
		k := u64key(id)
		if err := w.bodies.Put(k, w.s.seal.seal(bktBodies, k, raw)); err != nil {
			return fmt.Errorf("store: write body: %w", err)
		}
		if err := w.deferIndex(id, a); err != nil {
			return err
		}
		if uid, err = w.addEntry(id, rec, mb, fs.deleted); err != nil {
			return err
		}
		if err := w.setLabels(id, rec, map[uint64]bool{mb.ID: true}); err != nil {
			return err
		}
		if err := w.putMsg(id, rec); err != nil {
			return err
		}
		uidValidity = mb.UIDValidity
		// The import reads the body when it is pushed: stored once.
		_, err = w.addOp(&opRec{Kind: OpImport, Msg: id, Mailboxes: []ref{mboxRef(mb)}, Flags: fs.up, Date: date})
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	return uid, uidValidity, nil
}
