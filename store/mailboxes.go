package store

import (
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Mailboxes lists every mailbox, sorted by name.
func (s *Store) Mailboxes() ([]Mailbox, error) {
	ms, ok := s.committed.get()
	var err error
	if !ok {
		err = s.view(func(tx *bolt.Tx) error {
			ms, err = loadMailboxes(tx, s.seal)
			return err
		})
	}
	slices.SortFunc(ms, func(a, b Mailbox) int { return strings.Compare(a.Name, b.Name) })
	return ms, err
}

// MailboxByName finds a mailbox by its full name ("INBOX" in any case).
func (s *Store) MailboxByName(name string) (Mailbox, error) {
	ms, err := s.Mailboxes()
	if err != nil {
		return Mailbox{}, err
	}
	for _, mb := range ms {
		if sameName(mb.Name, name) {
			return mb, nil
		}
	}
	return Mailbox{}, fmt.Errorf("%w: %q", ErrNoMailbox, name)
}

// cleanName checks a mailbox name a client gave and drops a trailing
// delimiter (RFC 3501 CREATE "foo/" creates "foo").
func cleanName(name string) (string, error) {
	name = strings.TrimSuffix(name, "/")
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "//") {
		return "", fmt.Errorf("%w: invalid mailbox name %q", ErrNotAllowed, name)
	}
	return name, nil
}

// reserved reports whether name belongs to a mailbox a client cannot make.
func reserved(name string) bool {
	return strings.EqualFold(name, "INBOX") || name == AllMailName
}

// CreateMailbox creates a user label, and its missing parents, locally and
// queues their creation upstream. CREATE does not subscribe.
func (s *Store) CreateMailbox(name string) (Mailbox, error) {
	var out Mailbox
	err := s.update(func(w *wtx) error {
		name, err := cleanName(name)
		if err != nil {
			return err
		}
		if err := w.nameFree(name, nil); err != nil {
			return err
		}
		if err := w.createParents(name); err != nil {
			return err
		}
		mb, err := w.createLocal(name)
		if err != nil {
			return err
		}
		out = *mb
		return nil
	})
	return out, err
}

// nameFree refuses a name for a new or renamed mailbox that is taken.
// The upstream's label names are unique whatever their case, so "work"
// is taken by "Work": creating it locally would be undone as soon as the
// upstream refused it, after the client was told OK.
// Only self, the mailbox being renamed, may hold it.
func (w *wtx) nameFree(name string, self *Mailbox) error {
	if reserved(name) {
		return fmt.Errorf("%w: %q", ErrExists, name)
	}
	for _, mb := range w.mboxes {
		if mb != self && strings.EqualFold(mb.Name, name) {
			return fmt.Errorf("%w: %q", ErrExists, mb.Name)
		}
	}
	return nil
}

func (w *wtx) createParents(name string) error {
	parts := strings.Split(name, "/")
	for i := 1; i < len(parts); i++ {
		p := strings.Join(parts[:i], "/")
		if w.byName(p) != nil {
			continue
		}
		if err := w.nameFree(p, nil); err != nil {
			return err
		}
		if _, err := w.createLocal(p); err != nil {
			return err
		}
	}
	return nil
}

func (w *wtx) createLocal(name string) (*Mailbox, error) {
	mb, err := w.newMailbox(name, RoleNone, "", false)
	if err != nil {
		return nil, err
	}
	mb.NameOp, err = w.addOp(&opRec{Kind: OpCreateMailbox, Mailbox: ref{L: mb.ID}, Name: name})
	return mb, err
}

// userMailbox finds a mailbox a client may rename or delete.
func (w *wtx) userMailbox(name string) (*Mailbox, error) {
	mb := w.byName(name)
	if mb == nil {
		return nil, fmt.Errorf("%w: %q", ErrNoMailbox, name)
	}
	if mb.Role != RoleNone {
		return nil, fmt.Errorf("%w: %q is a system mailbox", ErrNotAllowed, mb.Name)
	}
	return mb, nil
}

// RenameMailbox renames a user label; its children follow. Renaming INBOX
// (which RFC 3501 defines as moving its messages) and system mailboxes is
// not supported.
func (s *Store) RenameMailbox(oldName, newName string) error {
	return s.update(func(w *wtx) error {
		if strings.EqualFold(oldName, "INBOX") {
			return fmt.Errorf("%w: renaming INBOX", ErrNotAllowed)
		}
		mb, err := w.userMailbox(oldName)
		if err != nil {
			return err
		}
		newName, err := cleanName(newName)
		if err != nil {
			return err
		}
		if newName == mb.Name {
			return fmt.Errorf("%w: %q", ErrExists, newName)
		}
		if err := w.nameFree(newName, mb); err != nil {
			return err
		}
		old := mb.Name
		if strings.HasPrefix(strings.ToLower(newName), strings.ToLower(old)+"/") {
			return fmt.Errorf("%w: cannot rename %q into itself", ErrNotAllowed, old)
		}
		moving := []*Mailbox{mb}
		for _, c := range w.mboxes {
			if strings.HasPrefix(c.Name, old+"/") {
				if c.Role != RoleNone {
					return fmt.Errorf("%w: %q is a system mailbox", ErrNotAllowed, c.Name)
				}
				moving = append(moving, c)
			}
		}
		slices.SortFunc(moving, func(a, b *Mailbox) int { return strings.Compare(a.Name, b.Name) })
		for _, c := range moving[1:] {
			if err := w.nameFree(newName+strings.TrimPrefix(c.Name, old), c); err != nil {
				return err
			}
		}
		for _, c := range moving {
			c.Name = newName + strings.TrimPrefix(c.Name, old)
			if orphan, err := w.setOrphan(c.Name, false); err != nil {
				return err
			} else if orphan {
				c.Subscribed = true
			}
			w.dirty[c.ID] = true
			seq, err := w.addOp(&opRec{Kind: OpRenameMailbox, Mailbox: mboxRef(c), Name: c.Name})
			if err != nil {
				return err
			}
			c.NameOp = seq
		}
		w.mbChanged = true
		return w.createParents(newName)
	})
}

// DeleteMailbox deletes a user label; its messages keep their other labels
// (and stay in All Mail). Children are not deleted.
func (s *Store) DeleteMailbox(name string) error {
	return s.update(func(w *wtx) error {
		mb, err := w.userMailbox(name)
		if err != nil {
			return err
		}
		if _, err := w.addOp(&opRec{Kind: OpDeleteMailbox, Mailbox: mboxRef(mb)}); err != nil {
			return err
		}
		if mb.Subscribed {
			if _, err := w.setOrphan(mb.Name, true); err != nil {
				return err
			}
		}
		return w.dropMailbox(mb)
	})
}

// SetSubscribed subscribes or unsubscribes a mailbox. Subscriptions are
// local: the upstream has no such notion. Unsubscribing a name no mailbox
// has drops it if it is an orphan (subscriptions.go), and is no error.
func (s *Store) SetSubscribed(name string, on bool) error {
	return s.update(func(w *wtx) error {
		mb := w.byName(name)
		if mb == nil && !on {
			_, err := w.setOrphan(name, false)
			return err
		}
		if mb == nil {
			return fmt.Errorf("%w: %q", ErrNoMailbox, name)
		}
		if mb.Subscribed != on {
			mb.Subscribed = on
			w.dirty[mb.ID] = true
		}
		return nil
	})
}
