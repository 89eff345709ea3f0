package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mailbridge/mailbridge/upstream"
)

// systemMailbox names the upstream system labels as IMAP shows them.
func systemMailbox(id string) (string, Role, bool) {
	switch id {
	case upstream.Inbox:
		return "INBOX", RoleInbox, true
	case upstream.Drafts:
		return "Drafts", RoleDrafts, true
	case upstream.Sent:
		return "Sent", RoleSent, true
	case upstream.Archive:
		return "Archive", RoleArchive, true
	case upstream.Spam:
		return "Spam", RoleSpam, true
	case upstream.Trash:
		return "Trash", RoleTrash, true
	}
	return "", RoleNone, false
}

// Apply stores one batch of upstream changes in one write transaction and
// then notifies watchers. Mailboxes are applied first, so messages in the
// same batch can carry new labels. An upstream update to a message that
// still has queued ops leaves its local labels and flags alone: the queued
// ops win, and their echo brings both sides together.
func (s *Store) Apply(c Changes) error {
	s.log.Debug("applying changes", "mailboxes", len(c.Mailboxes), "deletedMailboxes", len(c.DeletedMailboxes),
		"messages", len(c.Messages), "updated", len(c.Updated), "deleted", len(c.Deleted), "echoes", len(c.OpIDs))
	return s.update(func(w *wtx) error {
		// System labels first, so that a user label called "Inbox" can
		// never take the name INBOX from the real one. User labels twice:
		// a label renamed onto a name another frees later in the batch
		// (a swap, a rename undone) gets it on the second pass instead
		// of keeping a " (2)" name.
		for _, system := range []bool{true, false, false} {
			for i, m := range c.Mailboxes {
				var opID string
				if i < len(c.MailboxOpIDs) {
					opID = c.MailboxOpIDs[i]
				}
				if (m.Kind == upstream.KindSystem) == system {
					if err := w.applyMailbox(m, opID); err != nil {
						return err
					}
				}
			}
		}
		for _, id := range c.DeletedMailboxes {
			if mb := w.byUpstream(id); mb != nil && mb.Role != RoleAll {
				if err := w.dropMailbox(mb); err != nil {
					return err
				}
			}
		}
		if err := w.applyEchoes(c); err != nil {
			return err
		}
		for i := range c.Messages {
			in := &c.Messages[i]
			if !validID(in.Meta.ID) {
				w.s.log.Warn("skipping message with an invalid upstream ID", "len", len(in.Meta.ID))
				continue
			}
			if id, ok := w.msgByUpstream(in.Meta.ID); ok {
				if err := w.applyMeta(id, in.Meta); err != nil {
					return err
				}
				continue
			}
			if w.gone.Get([]byte(in.Meta.ID)) != nil {
				continue // deleted here, the delete not pushed yet
			}
			if in.OpID != "" && in.Body == nil {
				// The echo of an import that was dropped between the
				// syncer's IsOwnImport and now: without a body there is
				// nothing to show; a full resync fetches it.
				w.s.log.Warn("skipping echo of an unknown import", "upstreamID", in.Meta.ID)
				continue
			}
			if err := w.newMessage(in); err != nil {
				return err
			}
		}
		for _, meta := range c.Updated {
			if id, ok := w.msgByUpstream(meta.ID); ok {
				if err := w.applyMeta(id, meta); err != nil {
					return err
				}
			}
		}
		for _, up := range c.Deleted {
			id, ok := w.msgByUpstream(up)
			if !ok {
				continue
			}
			rec, err := w.getMsg(id)
			if err != nil {
				return err
			}
			if err := w.deleteMessage(id, rec); err != nil {
				return err
			}
		}
		if c.Cursor != nil {
			if err := w.meta.Put(keyCursor, []byte(*c.Cursor)); err != nil {
				return fmt.Errorf("store: write cursor: %w", err)
			}
		}
		return nil
	})
}

// validID bounds upstream IDs: they are bbolt keys and records keep their
// length in 16 bits.
func validID(id string) bool { return id != "" && len(id) <= 1024 }

// applyMailbox takes an upstream label's name, unless a rename of it
// is queued here: the queued rename wins, as queued ops do for messages.
// The echo of this cache's own create or rename (opID) is taken only if
// it is the mailbox's last (NameOp): an earlier one is stale, and taking
// it would show an old name until the next echo. The last one matters
// when a rename made elsewhere came in before it. A create's echo binds
// its mailbox, should it come before the pusher records the create.
func (w *wtx) applyMailbox(m upstream.Mailbox, opID string) error {
	if !validID(m.ID) {
		w.s.log.Warn("skipping mailbox with an invalid upstream ID", "len", len(m.ID))
		return nil
	}
	name, role := m.Name, RoleNone
	if m.Kind == upstream.KindSystem {
		if n, r, ok := systemMailbox(m.ID); ok {
			name, role = n, r
		}
	}
	if name == "" {
		name = m.ID
	}
	seq, own := w.s.ownSeq(opID)
	mb := w.byUpstream(m.ID)
	if mb == nil && own {
		created, err := w.createdBy(seq, opID)
		if err != nil || created == nil || created.UpstreamID != "" {
			return err // a mailbox deleted here since: its delete follows
		}
		if err := w.bindMailbox(created.ID, m.ID); err != nil {
			return err
		}
		mb = created
	}
	if mb != nil {
		if mb.Role == RoleNone && role == RoleNone && mb.Name != name {
			if own {
				if seq != mb.NameOp {
					return nil
				}
			} else if renaming, err := w.renameQueued(mb); renaming || err != nil {
				return err
			}
			mb.Name = w.uniqueName(name, mb.ID)
			w.dirty[mb.ID] = true
			w.mbChanged = true
		}
		return nil
	}
	// A mailbox CREATEd here (or the Trash a client made before the first
	// sync) is the same label: bind it rather than showing it twice.
	if mb := w.byName(name); mb != nil && mb.UpstreamID == "" && mb.Role != RoleAll {
		if role != RoleNone {
			mb.Role, mb.Name = role, name
			w.dirty[mb.ID] = true
			w.mbChanged = true
		}
		return w.bindMailbox(mb.ID, m.ID)
	}
	_, err := w.newMailbox(w.uniqueName(name, 0), role, m.ID, true)
	return err
}

// createdBy returns the mailbox the queued create op seq (ID opID) made,
// if any.
func (w *wtx) createdBy(seq uint64, opID string) (*Mailbox, error) {
	op, err := w.getOp(seq)
	if err != nil || op == nil || op.OpID != opID || op.Kind != OpCreateMailbox {
		return nil, err
	}
	return w.mboxes[op.Mailbox.L], nil
}

// renameQueued reports whether the last rename of mb made here is still
// queued: renames of one mailbox go up in order, so an earlier one is
// done when the last is.
func (w *wtx) renameQueued(mb *Mailbox) (bool, error) {
	if mb.NameOp == 0 {
		return false, nil
	}
	op, err := w.getOp(mb.NameOp)
	return op != nil && op.Kind == OpRenameMailbox, err
}

// uniqueName returns name, or name with a number if another mailbox than
// self already has it (two upstream labels may differ only where IMAP
// cannot show it, such as "inbox").
func (w *wtx) uniqueName(name string, self uint64) string {
	cand := name
	for i := 2; ; i++ {
		mb := w.byName(cand)
		if mb == nil || mb.ID == self {
			return cand
		}
		cand = fmt.Sprintf("%s (%d)", name, i)
	}
}

// applyEchoes takes the ops whose events came back out of the outbox. An
// import is bound to the message of its echo, so the message is not added
// a second time.
func (w *wtx) applyEchoes(c Changes) error {
	byOp := make(map[string]*Incoming)
	ids := append([]string(nil), c.OpIDs...)
	for i := range c.Messages {
		if op := c.Messages[i].OpID; op != "" {
			byOp[op] = &c.Messages[i]
			ids = append(ids, op)
		}
	}
	for _, opID := range ids {
		seq, ok := w.s.opSeq(w.opIDs, opID)
		if !ok {
			continue
		}
		op, err := w.getOp(seq)
		if err != nil || op == nil || op.OpID != opID {
			if err != nil {
				return err
			}
			continue
		}
		switch op.Kind {
		case OpImport:
			in := byOp[opID]
			if in == nil {
				continue // without its message the echo cannot bind
			}
			if !validID(in.Meta.ID) {
				continue
			}
			if err := w.bindMessage(op.Msg, in.Meta.ID); err != nil {
				return err
			}
		case OpCreateMailbox:
			if _, st := (resolver{refs: w.refs}).resolve(refMailbox, ref{L: op.Mailbox.L}); st != refReady {
				continue
			}
		}
		if err := w.removeOp(seq, op); err != nil {
			return err
		}
	}
	return nil
}

// targetLabels maps upstream label IDs to local mailboxes, ignoring labels
// the cache does not know.
func (w *wtx) targetLabels(ids []string) map[uint64]bool {
	t := make(map[uint64]bool, len(ids))
	for _, id := range ids {
		if mb := w.byUpstream(id); mb != nil && mb.Role != RoleAll {
			t[mb.ID] = true
		}
	}
	return t
}

func (w *wtx) newMessage(in *Incoming) error {
	id, err := w.messages.NextSequence()
	if err != nil {
		return fmt.Errorf("store: message id: %w", err)
	}
	date := in.Meta.Date
	if date.IsZero() {
		date = time.Now()
	}
	rec := &msgRec{upstreamID: in.Meta.ID, flags: in.Meta.Flags, date: date.Unix(), size: int64(len(in.Body))}
	k := u64key(id)
	if err := w.bodies.Put(k, w.sealValue(bktBodies, k, in.Body)); err != nil {
		return fmt.Errorf("store: write body: %w", err)
	}
	a := in.Analysis
	if a == nil {
		a = w.s.Analyze(in.Body)
	}
	if err := w.putAnalysis(id, a); err != nil {
		return err
	}
	if err := w.msgUp.Put([]byte(in.Meta.ID), k); err != nil {
		return fmt.Errorf("store: write message index: %w", err)
	}
	if err := w.setLabels(id, rec, w.targetLabels(in.Meta.MailboxIDs)); err != nil {
		return err
	}
	return w.putMsg(id, rec)
}

// applyMeta brings a cached message's labels and flags to the upstream's.
func (w *wtx) applyMeta(id uint64, meta upstream.MessageMeta) error {
	if w.pendingCount(id) > 0 {
		return nil
	}
	rec, err := w.getMsg(id)
	if err != nil {
		return err
	}
	flagsChanged := rec.flags != meta.Flags
	rec.flags = meta.Flags
	before := make(map[uint64]bool, len(rec.members))
	for _, m := range rec.members {
		before[m.mbox] = true
	}
	if err := w.setLabels(id, rec, w.targetLabels(meta.MailboxIDs)); err != nil {
		return err
	}
	if flagsChanged {
		// New entries already carry the new flags.
		if err := w.rewriteEntries(id, rec, before); err != nil {
			return err
		}
	}
	return w.putMsg(id, rec)
}

// HasMessage reports whether the upstream message is cached.
func (s *Store) HasMessage(upstreamID string) (bool, error) {
	var ok bool
	err := s.view(func(tx *bolt.Tx) error {
		ok = tx.Bucket([]byte(bktMsgUp)).Get([]byte(upstreamID)) != nil
		return nil
	})
	return ok, err
}

// MessageIDs returns every cached upstream message ID, for the diff of a
// full resync. Messages appended here and not yet imported have none.
func (s *Store) MessageIDs() ([]string, error) {
	var ids []string
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bktMsgUp)).ForEach(func(k, _ []byte) error {
			ids = append(ids, string(k))
			return nil
		})
	})
	return ids, err
}

// Cursor returns the stored event cursor, "" before the initial sync
// finished.
func (s *Store) Cursor() (string, error) {
	var cur string
	err := s.view(func(tx *bolt.Tx) error {
		cur = string(tx.Bucket([]byte(bktMeta)).Get(keyCursor))
		return nil
	})
	return cur, err
}

// MessageIDRange returns the cached upstream message IDs greater than
// after and at most upTo ("" for no upper bound), in byte order. A full
// resync lists the upstream in pages of ascending IDs and diffs each page
// against this range, so it never holds every ID of a large mailbox.
func (s *Store) MessageIDRange(after, upTo string) ([]string, error) {
	var ids []string
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte(bktMsgUp)).Cursor()
		k, _ := c.Seek([]byte(after))
		if k != nil && string(k) == after {
			k, _ = c.Next()
		}
		for ; k != nil && (upTo == "" || string(k) <= upTo); k, _ = c.Next() {
			ids = append(ids, string(k))
		}
		return nil
	})
	return ids, err
}

// UpstreamID returns the upstream ID of a cached message, "" while an
// appended message waits for its import.
func (s *Store) UpstreamID(msgID uint64) (string, error) {
	var id string
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket([]byte(bktMessages)).Get(u64key(msgID))
		if v == nil {
			return fmt.Errorf("%w: id %d", ErrNoMessage, msgID)
		}
		rec, err := decodeMsg(v)
		if err != nil {
			return err
		}
		id = rec.upstreamID
		return nil
	})
	return id, err
}
