package mock

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mailbridge/mailbridge/upstream"
)

// systemLabels are the labels every account has, in display order.
var systemLabels = []upstream.Mailbox{
	{ID: upstream.Inbox, Name: "Inbox", Kind: upstream.KindSystem},
	{ID: upstream.Drafts, Name: "Drafts", Kind: upstream.KindSystem},
	{ID: upstream.Sent, Name: "Sent", Kind: upstream.KindSystem},
	{ID: upstream.Archive, Name: "Archive", Kind: upstream.KindSystem},
	{ID: upstream.Spam, Name: "Spam", Kind: upstream.KindSystem},
	{ID: upstream.Trash, Name: "Trash", Kind: upstream.KindSystem},
}

func isSystemLabel(id string) bool {
	return slices.ContainsFunc(systemLabels, func(m upstream.Mailbox) bool { return m.ID == id })
}

// labels returns the system labels followed by the user labels by name.
func (a *account) labels() ([]upstream.Mailbox, error) {
	out := slices.Clone(systemLabels)
	var user []upstream.Mailbox
	err := a.bucket(bktLabels).ForEach(func(k, v []byte) error {
		var m upstream.Mailbox
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("decode label %s: %w", k, err)
		}
		user = append(user, m)
		return nil
	})
	slices.SortFunc(user, func(x, y upstream.Mailbox) int { return strings.Compare(x.Name, y.Name) })
	return append(out, user...), err
}

// hasLabel reports whether the label ID exists.
func (a *account) hasLabel(id string) bool {
	return isSystemLabel(id) || a.bucket(bktLabels).Get([]byte(id)) != nil
}

// checkLabelName validates a user label name against the existing ones
// (except the label with ID self).
func (a *account) checkLabelName(name, self string) error {
	if err := validLabelName(name); err != nil {
		return err
	}
	all, err := a.labels()
	if err != nil {
		return err
	}
	for _, m := range all {
		if m.ID != self && strings.EqualFold(m.Name, name) {
			return upstream.Errorf(upstream.Permanent, "a label named %q exists", m.Name)
		}
	}
	return nil
}

func validLabelName(name string) error {
	switch {
	case name == "" || strings.TrimSpace(name) != name:
		return upstream.Errorf(upstream.Permanent, "label name is empty or has surrounding spaces")
	case !utf8.ValidString(name) || len(name) > 255:
		return upstream.Errorf(upstream.Permanent, "label name is not valid UTF-8 or too long")
	case strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "//"):
		return upstream.Errorf(upstream.Permanent, "label name has an empty level")
	case strings.ContainsFunc(name, unicode.IsControl):
		return upstream.Errorf(upstream.Permanent, "label name has control characters")
	}
	return nil
}

// createLabel adds a user label; id "" picks the next free one.
func (a *account) createLabel(id, name, opID string) (upstream.Mailbox, error) {
	if err := a.checkLabelName(name, ""); err != nil {
		return upstream.Mailbox{}, err
	}
	if id == "" {
		a.rec.NextLabel++
		id = "l" + strconv.FormatUint(a.rec.NextLabel, 10)
	}
	m := upstream.Mailbox{ID: id, Name: name, Kind: upstream.KindUser}
	if err := putJSON(a.bucket(bktLabels), []byte(id), m); err != nil {
		return upstream.Mailbox{}, err
	}
	a.emit(upstream.Event{Kind: upstream.MailboxCreated, ID: id, Mailbox: &m, OpID: opID})
	return m, nil
}

func (s *session) Mailboxes(ctx context.Context) ([]upstream.Mailbox, error) {
	return run(ctx, s, func() ([]upstream.Mailbox, error) {
		var out []upstream.Mailbox
		err := s.srv.read(s.userID, func(a *account) (err error) {
			out, err = a.labels()
			return err
		})
		return out, err
	})
}

func (s *session) CreateMailbox(ctx context.Context, name, opID string) (upstream.Mailbox, error) {
	return run(ctx, s, func() (upstream.Mailbox, error) {
		var m upstream.Mailbox
		err := s.srv.write(func(w *wtx) error {
			a, err := w.account(s.userID)
			if err != nil {
				return err
			}
			m, err = a.createLabel("", name, opID)
			return err
		})
		return m, err
	})
}

func (s *session) RenameMailbox(ctx context.Context, id, name, opID string) error {
	return run0(ctx, s, func() error {
		return s.srv.write(func(w *wtx) error {
			a, err := w.account(s.userID)
			if err != nil {
				return err
			}
			if isSystemLabel(id) {
				return upstream.Errorf(upstream.Permanent, "system labels cannot be renamed")
			}
			var m upstream.Mailbox
			if ok, err := getJSON(a.bucket(bktLabels), []byte(id), &m); err != nil {
				return err
			} else if !ok {
				return upstream.Errorf(upstream.NotFound, "no label %s", id)
			}
			if m.Name == name {
				return nil
			}
			if err := a.checkLabelName(name, id); err != nil {
				return err
			}
			m.Name = name
			if err := putJSON(a.bucket(bktLabels), []byte(id), m); err != nil {
				return err
			}
			a.emit(upstream.Event{Kind: upstream.MailboxUpdated, ID: id, Mailbox: &m, OpID: opID})
			return nil
		})
	})
}

// DeleteMailbox removes a user label and takes it off every message, which
// emits MessageUpdated for each before the MailboxDeleted event.
func (s *session) DeleteMailbox(ctx context.Context, id string) error {
	return run0(ctx, s, func() error {
		return s.srv.write(func(w *wtx) error {
			a, err := w.account(s.userID)
			if err != nil {
				return err
			}
			if isSystemLabel(id) {
				return upstream.Errorf(upstream.Permanent, "system labels cannot be deleted")
			}
			if !a.hasLabel(id) {
				return upstream.Errorf(upstream.NotFound, "no label %s", id)
			}
			var changed []upstream.MessageMeta
			err = a.bucket(bktMsgs).ForEach(func(k, v []byte) error {
				var m upstream.MessageMeta
				if err := json.Unmarshal(v, &m); err != nil {
					return fmt.Errorf("decode message %s: %w", k, err)
				}
				if i := slices.Index(m.MailboxIDs, id); i >= 0 {
					m.MailboxIDs = slices.Delete(m.MailboxIDs, i, i+1)
					changed = append(changed, m)
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, m := range changed {
				if err := a.putMeta(m); err != nil {
					return err
				}
				a.emit(upstream.Event{Kind: upstream.MessageUpdated, ID: m.ID, Message: &m})
			}
			if err := a.bucket(bktLabels).Delete([]byte(id)); err != nil {
				return err
			}
			a.emit(upstream.Event{Kind: upstream.MailboxDeleted, ID: id})
			return nil
		})
	})
}
