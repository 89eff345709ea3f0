package store

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// Message records and their mailbox entries, inside a write transaction.

func (w *wtx) getMsg(id uint64) (*msgRec, error) {
	v := w.messages.Get(u64key(id))
	if v == nil {
		return nil, fmt.Errorf("%w: id %d", ErrNoMessage, id)
	}
	return decodeMsg(v)
}

func (w *wtx) putMsg(id uint64, rec *msgRec) error {
	if err := w.messages.Put(u64key(id), rec.encode()); err != nil {
		return fmt.Errorf("store: write message: %w", err)
	}
	return nil
}

func (w *wtx) msgByUpstream(up string) (uint64, bool) {
	v := w.msgUp.Get([]byte(up))
	if len(v) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(v), true
}

// labels returns the mailboxes holding the message, All Mail excepted.
func (w *wtx) labels(rec *msgRec) map[uint64]bool {
	all := w.byRole(RoleAll)
	out := make(map[uint64]bool, len(rec.members))
	for _, m := range rec.members {
		if all == nil || m.mbox != all.ID {
			out[m.mbox] = true
		}
	}
	return out
}

// flagsOf renders a message's flags for a change notification.
func (w *wtx) flagsOf(e entryRec) ([]string, error) {
	var names map[uint32]string
	if len(e.keywords) > 0 {
		if err := w.loadKeywords(); err != nil {
			return nil, err
		}
		names = w.kwNames
	}
	return imapFlags(e.flags, e.keywords, names), nil
}

// addEntry gives the message the next UID in mb. The caller writes rec.
func (w *wtx) addEntry(msgID uint64, rec *msgRec, mb *Mailbox, deleted bool) (uint32, error) {
	uid := mb.UIDNext
	if uid == 0 {
		return 0, fmt.Errorf("store: mailbox %d ran out of UIDs", mb.ID)
	}
	e := newEntry(msgID, rec, deleted)
	if err := w.entries.Put(entryKey(mb.ID, uid), e.encode()); err != nil {
		return 0, fmt.Errorf("store: write entry: %w", err)
	}
	mb.UIDNext++
	mb.Messages++
	w.dirty[mb.ID] = true
	rec.members = append(rec.members, member{mbox: mb.ID, uid: uid})
	flags, err := w.flagsOf(e)
	if err != nil {
		return 0, err
	}
	w.changes = append(w.changes, Change{Kind: ChangeAdded, Mailbox: mb.ID, UID: uid, Flags: flags,
		MsgID: msgID, Date: timeOf(rec.date), Size: rec.size})
	return uid, nil
}

// removeEntry takes the message out of mbox. The caller writes rec.
func (w *wtx) removeEntry(rec *msgRec, mbox uint64) error {
	i := slices.IndexFunc(rec.members, func(m member) bool { return m.mbox == mbox })
	if i < 0 {
		return nil
	}
	uid := rec.members[i].uid
	rec.members = slices.Delete(rec.members, i, i+1)
	if err := w.entries.Delete(entryKey(mbox, uid)); err != nil {
		return fmt.Errorf("store: delete entry: %w", err)
	}
	if mb, ok := w.mboxes[mbox]; ok && mb.Messages > 0 {
		mb.Messages--
		w.dirty[mbox] = true
	}
	w.changes = append(w.changes, Change{Kind: ChangeExpunged, Mailbox: mbox, UID: uid})
	return nil
}

// readdEntry gives the message a new UID in a mailbox it is already in,
// as COPY or MOVE onto itself must.
func (w *wtx) readdEntry(msgID uint64, rec *msgRec, mb *Mailbox) (uint32, error) {
	if err := w.removeEntry(rec, mb.ID); err != nil {
		return 0, err
	}
	return w.addEntry(msgID, rec, mb, false)
}

// setLabels makes the message's mailboxes exactly target (plus All Mail
// unless it is in Spam or Trash). The caller writes rec.
func (w *wtx) setLabels(msgID uint64, rec *msgRec, target map[uint64]bool) error {
	all := w.byRole(RoleAll)
	wantAll := all != nil
	for id := range target {
		if mb, ok := w.mboxes[id]; ok && (mb.Role == RoleSpam || mb.Role == RoleTrash) {
			wantAll = false
		}
	}
	for _, m := range slices.Clone(rec.members) {
		isAll := all != nil && m.mbox == all.ID
		if (isAll && !wantAll) || (!isAll && !target[m.mbox]) {
			if err := w.removeEntry(rec, m.mbox); err != nil {
				return err
			}
		}
	}
	add := make([]uint64, 0, len(target)+1)
	for id := range target {
		add = append(add, id)
	}
	if wantAll {
		add = append(add, all.ID)
	}
	slices.Sort(add)
	for _, id := range add {
		if _, ok := rec.memberOf(id); ok {
			continue
		}
		mb, ok := w.mboxes[id]
		if !ok {
			continue
		}
		if _, err := w.addEntry(msgID, rec, mb, false); err != nil {
			return err
		}
	}
	return nil
}

// rewriteEntries copies the message's flags and keywords into its entries
// (those in only, or all if only is nil), keeping each entry's own \Deleted.
func (w *wtx) rewriteEntries(msgID uint64, rec *msgRec, only map[uint64]bool) error {
	for _, m := range rec.members {
		if only != nil && !only[m.mbox] {
			continue
		}
		k := entryKey(m.mbox, m.uid)
		old, err := decodeEntry(w.entries.Get(k))
		if err != nil {
			return err
		}
		e := newEntry(msgID, rec, old.flags&flagDeleted != 0)
		if err := w.entries.Put(k, e.encode()); err != nil {
			return fmt.Errorf("store: write entry: %w", err)
		}
		flags, err := w.flagsOf(e)
		if err != nil {
			return err
		}
		w.changes = append(w.changes, Change{Kind: ChangeFlags, Mailbox: m.mbox, UID: m.uid, Flags: flags})
	}
	return nil
}

// deleteMessage removes a message for good.
func (w *wtx) deleteMessage(msgID uint64, rec *msgRec) error {
	for _, m := range slices.Clone(rec.members) {
		if err := w.removeEntry(rec, m.mbox); err != nil {
			return err
		}
	}
	k := u64key(msgID)
	if err := w.keepForImport(msgID); err != nil {
		return err
	}
	if err := w.bodies.Delete(k); err != nil {
		return fmt.Errorf("store: delete body: %w", err)
	}
	if err := w.messages.Delete(k); err != nil {
		return fmt.Errorf("store: delete message: %w", err)
	}
	if err := w.dropAnalysis(msgID); err != nil {
		return err
	}
	if rec.upstreamID != "" {
		if err := w.msgUp.Delete([]byte(rec.upstreamID)); err != nil {
			return fmt.Errorf("store: delete message index: %w", err)
		}
	}
	return nil
}
