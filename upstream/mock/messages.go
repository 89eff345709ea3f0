package mock

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mailbridge/mailbridge/upstream"
)

const (
	defaultPage = 100
	maxPage     = 1000
)

func (s *session) ListMessages(ctx context.Context, after string, limit int) ([]upstream.MessageMeta, error) {
	if limit <= 0 {
		limit = defaultPage
	}
	limit = min(limit, maxPage)
	return run(ctx, s, func() ([]upstream.MessageMeta, error) {
		var out []upstream.MessageMeta
		err := s.srv.read(s.userID, func(a *account) error {
			c := a.bucket(bktMsgs).Cursor()
			k, v := c.First()
			if after != "" {
				k, v = c.Seek([]byte(after))
				if k != nil && string(k) == after {
					k, v = c.Next()
				}
			}
			for ; k != nil && len(out) < limit; k, v = c.Next() {
				var m upstream.MessageMeta
				if err := json.Unmarshal(v, &m); err != nil {
					return fmt.Errorf("decode message %s: %w", k, err)
				}
				out = append(out, m)
			}
			return nil
		})
		return out, err
	})
}

func (s *session) GetMessage(ctx context.Context, id string) (*upstream.Message, error) {
	return run(ctx, s, func() (*upstream.Message, error) {
		var msg *upstream.Message
		err := s.srv.read(s.userID, func(a *account) error {
			m, ok, err := a.getMeta(id)
			if err != nil {
				return err
			}
			if !ok {
				return upstream.Errorf(upstream.NotFound, "no message %s", id)
			}
			msg = &upstream.Message{MessageMeta: m, Raw: bytes.Clone(a.bucket(bktRaw).Get([]byte(id)))}
			return nil
		})
		return msg, err
	})
}

func (s *session) Import(ctx context.Context, req upstream.ImportRequest) (upstream.MessageMeta, error) {
	return run(ctx, s, func() (upstream.MessageMeta, error) {
		var meta upstream.MessageMeta
		err := s.srv.write(func(w *wtx) error {
			a, err := w.account(s.userID)
			if err != nil {
				return err
			}
			if m, ok, err := a.replay(req.OpID); ok || err != nil {
				meta = m
				return err
			}
			meta, err = s.srv.store(a, storeReq{
				raw: req.Raw, labels: req.MailboxIDs, flags: req.Flags, date: req.Date, opID: req.OpID,
			})
			return err
		})
		return meta, err
	})
}

// replay returns the message an earlier request with the same OpID made.
func (a *account) replay(opID string) (upstream.MessageMeta, bool, error) {
	if opID == "" {
		return upstream.MessageMeta{}, false, nil
	}
	id := a.bucket(bktOps).Get([]byte(opID))
	if id == nil {
		return upstream.MessageMeta{}, false, nil
	}
	if len(id) == 0 {
		return upstream.MessageMeta{}, true, nil // done, and it stored no message
	}
	m, ok, err := a.getMeta(string(id))
	if err == nil && !ok {
		err = upstream.Errorf(upstream.NotFound, "the message of this operation was deleted")
	}
	return m, true, err
}

// storeReq is a new message for store.
type storeReq struct {
	id     string // "" = next ordinary ID
	raw    []byte
	labels []string
	flags  upstream.Flags
	date   time.Time
	opID   string
}

// store adds a message to an account and emits MessageCreated.
func (s *Server) store(a *account, r storeReq) (upstream.MessageMeta, error) {
	if len(r.raw) == 0 {
		return upstream.MessageMeta{}, upstream.Errorf(upstream.Permanent, "empty message")
	}
	for _, l := range r.labels {
		if !a.hasLabel(l) {
			return upstream.MessageMeta{}, upstream.Errorf(upstream.NotFound, "no label %s", l)
		}
	}
	size := int64(len(r.raw))
	if a.rec.Used+size > s.opts.QuotaLimit {
		return upstream.MessageMeta{}, upstream.Errorf(upstream.Permanent, "quota exceeded")
	}
	if r.date.IsZero() {
		r.date = time.Now()
	}
	id := r.id
	if id == "" {
		id = a.newMessageID()
	}
	m := upstream.MessageMeta{
		ID:         id,
		MailboxIDs: normalizeLabels(nil, r.labels),
		Flags:      r.flags,
		Date:       r.date.UTC().Truncate(time.Second),
		Size:       size,
	}
	if err := a.putMeta(m); err != nil {
		return m, err
	}
	if err := a.bucket(bktRaw).Put([]byte(id), bytes.Clone(r.raw)); err != nil {
		return m, err
	}
	if r.opID != "" {
		if err := a.bucket(bktOps).Put([]byte(r.opID), []byte(id)); err != nil {
			return m, err
		}
	}
	a.rec.Used += size
	a.emit(upstream.Event{Kind: upstream.MessageCreated, ID: id, Message: &m, OpID: r.opID})
	return m, nil
}

// normalizeLabels adds labels to have, Proton style: Trash and Spam are
// exclusive, so adding either drops every other label. The result is
// sorted and free of duplicates.
func normalizeLabels(have, add []string) []string {
	out := slices.Clone(have)
	for _, l := range add {
		switch {
		case l == upstream.Trash || l == upstream.Spam:
			out = append(out[:0], l)
		case !slices.Contains(out, l):
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// UpdateMessages applies u to every known message of ids. Unknown message
// IDs give a NotFound error naming them, after the others are updated, so
// that a retry of a half-failed batch converges. Unknown labels fail the
// whole call.
func (s *session) UpdateMessages(ctx context.Context, ids []string, u upstream.Update) error {
	return run0(ctx, s, func() error {
		return s.srv.write(func(w *wtx) error {
			a, err := w.account(s.userID)
			if err != nil {
				return err
			}
			for _, l := range slices.Concat(u.AddMailboxes, u.RemoveMailboxes) {
				if !a.hasLabel(l) {
					return upstream.Errorf(upstream.NotFound, "no label %s", l)
				}
			}
			var missing []string
			for _, id := range ids {
				m, ok, err := a.getMeta(id)
				if err != nil {
					return err
				}
				if !ok {
					missing = append(missing, id)
					continue
				}
				if err := a.update(m, u); err != nil {
					return err
				}
			}
			w.result = missingErr(missing)
			return nil
		})
	})
}

// update applies u to one message and emits MessageUpdated if it changed.
func (a *account) update(m upstream.MessageMeta, u upstream.Update) error {
	labels := normalizeLabels(m.MailboxIDs, u.AddMailboxes)
	labels = slices.DeleteFunc(labels, func(l string) bool { return slices.Contains(u.RemoveMailboxes, l) })
	flags := (m.Flags | u.SetFlags) &^ u.ClearFlags
	if slices.Equal(labels, m.MailboxIDs) && flags == m.Flags {
		return nil
	}
	m.MailboxIDs, m.Flags = labels, flags
	if err := a.putMeta(m); err != nil {
		return err
	}
	a.emit(upstream.Event{Kind: upstream.MessageUpdated, ID: m.ID, Message: &m, OpID: u.OpID})
	return nil
}

// DeleteMessages deletes the known messages of ids for good. Unknown IDs
// give a NotFound error naming them, after the others are deleted, so that
// a retried delete whose first response was lost is recognisable.
func (s *session) DeleteMessages(ctx context.Context, ids []string) error {
	return run0(ctx, s, func() error {
		return s.srv.write(func(w *wtx) error {
			a, err := w.account(s.userID)
			if err != nil {
				return err
			}
			var missing []string
			for _, id := range ids {
				m, ok, err := a.getMeta(id)
				if err != nil {
					return err
				}
				if !ok {
					missing = append(missing, id)
					continue
				}
				if err := a.remove(m); err != nil {
					return err
				}
			}
			w.result = missingErr(missing)
			return nil
		})
	})
}

func (a *account) remove(m upstream.MessageMeta) error {
	if err := a.bucket(bktMsgs).Delete([]byte(m.ID)); err != nil {
		return err
	}
	if err := a.bucket(bktRaw).Delete([]byte(m.ID)); err != nil {
		return err
	}
	a.rec.Used -= m.Size
	a.emit(upstream.Event{Kind: upstream.MessageDeleted, ID: m.ID})
	return nil
}

func missingErr(ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	return upstream.Errorf(upstream.NotFound, "no message %s", strings.Join(ids, ", "))
}
