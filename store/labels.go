package store

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/mailbridge/mailbridge/upstream"
)

// updateBatch groups the messages of one session command that need the
// same upstream change into one OpUpdate each, in first-seen order.
type updateBatch struct {
	keys []string
	ops  map[string]*opRec
}

func (b *updateBatch) add(msg ref, add, remove []ref, set, clear upstream.Flags) {
	if len(add) == 0 && len(remove) == 0 && set == 0 && clear == 0 {
		return
	}
	key := fmt.Sprint(add, remove, set, clear)
	op, ok := b.ops[key]
	if !ok {
		if b.ops == nil {
			b.ops = make(map[string]*opRec)
		}
		op = &opRec{Kind: OpUpdate, Add: add, Remove: remove, SetFlags: set, ClearFlags: clear}
		b.ops[key] = op
		b.keys = append(b.keys, key)
	}
	op.Msgs = append(op.Msgs, msg)
}

func (b *updateBatch) queue(w *wtx) error {
	for _, k := range b.keys {
		if _, err := w.addOp(b.ops[k]); err != nil {
			return err
		}
	}
	return nil
}

// labelDelta returns the label changes from before to after as references,
// in mailbox ID order.
func (w *wtx) labelDelta(before, after map[uint64]bool) (add, remove []ref) {
	diff := func(a, b map[uint64]bool) []ref {
		var ids []uint64
		for id := range a {
			if !b[id] {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		var out []ref
		for _, id := range ids {
			if mb, ok := w.mboxes[id]; ok && mb.Role != RoleAll {
				out = append(out, mboxRef(mb))
			}
		}
		return out
	}
	return diff(after, before), diff(before, after)
}

func isTrashLike(mb *Mailbox) bool { return mb.Role == RoleTrash || mb.Role == RoleSpam }

// SetFlags changes the flags of the messages with those UIDs in a mailbox
// and returns their entries afterwards, in UID order (missing UIDs are
// skipped). Flags are per message, so every mailbox holding a changed
// message reports the change; \Deleted is per entry.
func (s *Store) SetFlags(mailboxID uint64, uids []uint32, op imap.StoreFlagsOp, flags []string) ([]Entry, error) {
	var out []Entry
	err := s.update(func(w *wtx) error {
		out = nil // from a run that was rolled back
		if _, err := w.mailbox(mailboxID); err != nil {
			return err
		}
		fs := parseFlags(flags)
		kw, err := w.keywordIDs(fs.keywords, op != imap.StoreFlagsDel)
		if err != nil {
			return err
		}
		var batch updateBatch
		for _, uid := range sortedUnique(uids) {
			k := entryKey(mailboxID, uid)
			v := w.entries.Get(k)
			if v == nil {
				continue
			}
			e, err := decodeEntry(v)
			if err != nil {
				return err
			}
			rec, err := w.getMsg(e.msgID)
			if err != nil {
				return err
			}
			oldUp, oldDel := rec.flags, e.flags&flagDeleted != 0
			newUp, newKw, newDel := oldUp, rec.keywords, oldDel
			switch op {
			case imap.StoreFlagsSet:
				newUp, newKw, newDel = fs.up, kw, fs.deleted
			case imap.StoreFlagsAdd:
				newUp, newKw, newDel = oldUp|fs.up, sortedUnique(append(slices.Clone(rec.keywords), kw...)), oldDel || fs.deleted
			case imap.StoreFlagsDel:
				newUp, newDel = oldUp&^fs.up, oldDel && !fs.deleted
				newKw = slices.DeleteFunc(slices.Clone(rec.keywords), func(id uint32) bool { return slices.Contains(kw, id) })
			}
			msgChanged := newUp != oldUp || !slices.Equal(newKw, rec.keywords)
			if newDel != oldDel {
				// Written first so that rewriteEntries below keeps it.
				ne := newEntry(e.msgID, rec, newDel)
				if err := w.entries.Put(k, ne.encode()); err != nil {
					return fmt.Errorf("store: write entry: %w", err)
				}
				if !msgChanged {
					f, err := w.flagsOf(ne)
					if err != nil {
						return err
					}
					w.changes = append(w.changes, Change{Kind: ChangeFlags, Mailbox: mailboxID, UID: uid, Flags: f})
				}
			}
			if msgChanged {
				rec.flags, rec.keywords = newUp, newKw
				if err := w.rewriteEntries(e.msgID, rec, nil); err != nil {
					return err
				}
				if err := w.putMsg(e.msgID, rec); err != nil {
					return err
				}
			}
			batch.add(msgRef(e.msgID, rec), nil, nil, newUp&^oldUp, oldUp&^newUp)
			f, err := w.flagsOf(newEntry(e.msgID, rec, newDel))
			if err != nil {
				return err
			}
			out = append(out, Entry{UID: uid, MsgID: e.msgID, Flags: f, Date: timeOf(rec.date), Size: rec.size})
		}
		return batch.queue(w)
	})
	return out, err
}

// Copy gives the messages the destination's label. A message already in
// the destination (or copied onto its own mailbox) gets a new UID there,
// with no upstream change. It returns the source and destination UIDs in
// pairs, in source UID order, for COPYUID.
func (s *Store) Copy(srcID uint64, uids []uint32, dstID uint64) (srcUIDs, dstUIDs []uint32, err error) {
	err = s.update(func(w *wtx) error {
		srcUIDs, dstUIDs, err = w.transfer(srcID, uids, dstID, false)
		return err
	})
	return srcUIDs, dstUIDs, err
}

// Move gives the messages the destination's label and takes the source's
// away. Moving into Trash or Spam removes every other label. The source
// UIDs are always gone afterwards: a message that stays in the source (All
// Mail, or a move onto the same mailbox) gets a new UID there.
func (s *Store) Move(srcID uint64, uids []uint32, dstID uint64) (srcUIDs, dstUIDs []uint32, err error) {
	err = s.update(func(w *wtx) error {
		srcUIDs, dstUIDs, err = w.transfer(srcID, uids, dstID, true)
		return err
	})
	return srcUIDs, dstUIDs, err
}

func (w *wtx) transfer(srcID uint64, uids []uint32, dstID uint64, move bool) (srcUIDs, dstUIDs []uint32, err error) {
	src, err := w.mailbox(srcID)
	if err != nil {
		return nil, nil, err
	}
	dst, err := w.mailbox(dstID)
	if err != nil {
		return nil, nil, err
	}
	if dst.Role == RoleAll {
		return nil, nil, fmt.Errorf("%w: COPY or MOVE into %s", ErrNotAllowed, AllMailName)
	}
	var batch updateBatch
	for _, uid := range sortedUnique(uids) {
		v := w.entries.Get(entryKey(src.ID, uid))
		if v == nil {
			continue
		}
		msgID := binary.BigEndian.Uint64(v)
		rec, err := w.getMsg(msgID)
		if err != nil {
			return nil, nil, err
		}
		before := w.labels(rec)
		_, wasInDst := rec.memberOf(dst.ID)
		target := map[uint64]bool{dst.ID: true}
		if !isTrashLike(dst) {
			for id := range before {
				target[id] = true
			}
			if move && src.ID != dst.ID {
				delete(target, src.ID)
			}
		}
		if err := w.setLabels(msgID, rec, target); err != nil {
			return nil, nil, err
		}
		if wasInDst {
			if _, err := w.readdEntry(msgID, rec, dst); err != nil {
				return nil, nil, err
			}
		}
		if srcUID, ok := rec.memberOf(src.ID); move && ok && srcUID == uid {
			if _, err := w.readdEntry(msgID, rec, src); err != nil {
				return nil, nil, err
			}
		}
		if err := w.putMsg(msgID, rec); err != nil {
			return nil, nil, err
		}
		add, remove := w.labelDelta(before, target)
		batch.add(msgRef(msgID, rec), add, remove, 0, 0)
		dstUID, _ := rec.memberOf(dst.ID)
		srcUIDs, dstUIDs = append(srcUIDs, uid), append(dstUIDs, dstUID)
	}
	return srcUIDs, dstUIDs, batch.queue(w)
}

// Expunge removes the messages marked \Deleted (only those in uids, unless
// uids is nil) from a mailbox and returns their UIDs in order. In Trash and
// Spam that deletes them for good; elsewhere it takes the mailbox's label
// away, and a message left without labels goes to Trash. Expunge in All
// Mail moves to Trash.
func (s *Store) Expunge(mailboxID uint64, uids []uint32) ([]uint32, error) {
	var out []uint32
	err := s.update(func(w *wtx) error {
		out = nil // from a run that was rolled back
		mb, err := w.mailbox(mailboxID)
		if err != nil {
			return err
		}
		cands, err := w.deletedEntries(mb.ID, uids)
		if err != nil {
			return err
		}
		trash := w.byRole(RoleTrash)
		var batch updateBatch
		var gone []ref
		for _, c := range cands {
			rec, err := w.getMsg(c.msgID)
			if err != nil {
				return err
			}
			if isTrashLike(mb) {
				gone = append(gone, msgRef(c.msgID, rec))
				if err := w.deleteMessage(c.msgID, rec); err != nil {
					return err
				}
				out = append(out, c.uid)
				continue
			}
			before := w.labels(rec)
			target := make(map[uint64]bool, len(before))
			if mb.Role != RoleAll {
				for id := range before {
					if id != mb.ID {
						target[id] = true
					}
				}
			}
			if len(target) == 0 {
				if trash == nil {
					if mb.Role == RoleAll {
						continue // nowhere to go: it stays
					}
				} else {
					target[trash.ID] = true
				}
			}
			if err := w.setLabels(c.msgID, rec, target); err != nil {
				return err
			}
			if err := w.putMsg(c.msgID, rec); err != nil {
				return err
			}
			add, remove := w.labelDelta(before, target)
			batch.add(msgRef(c.msgID, rec), add, remove, 0, 0)
			out = append(out, c.uid)
		}
		if len(gone) > 0 {
			if _, err := w.addOp(&opRec{Kind: OpDelete, Msgs: gone}); err != nil {
				return err
			}
		}
		return batch.queue(w)
	})
	return out, err
}

type uidMsg struct {
	uid   uint32
	msgID uint64
}

// deletedEntries lists the entries of mbox marked \Deleted, limited to uids
// unless it is nil, in UID order.
func (w *wtx) deletedEntries(mbox uint64, uids []uint32) ([]uidMsg, error) {
	var out []uidMsg
	check := func(uid uint32, v []byte) error {
		e, err := decodeEntry(v)
		if err != nil {
			return err
		}
		if e.flags&flagDeleted != 0 {
			out = append(out, uidMsg{uid: uid, msgID: e.msgID})
		}
		return nil
	}
	if uids != nil {
		for _, uid := range sortedUnique(uids) {
			if v := w.entries.Get(entryKey(mbox, uid)); v != nil {
				if err := check(uid, v); err != nil {
					return nil, err
				}
			}
		}
		return out, nil
	}
	prefix := u64key(mbox)
	c := w.entries.Cursor()
	for k, v := c.Seek(prefix); len(k) == 12 && strings.HasPrefix(string(k), string(prefix)); k, v = c.Next() {
		if err := check(binary.BigEndian.Uint32(k[8:]), v); err != nil {
			return nil, err
		}
	}
	return out, nil
}
