package syncer

import (
	"context"
	"errors"
	"fmt"

	"github.com/mailbridge/mailbridge/store"
	"github.com/mailbridge/mailbridge/upstream"
)

// eventLoop runs the initial sync if needed, then long-polls the upstream
// and applies each batch of events in one store transaction.
func (s *Syncer) eventLoop(ctx context.Context) error {
	b := newBackoff(s.opts.MaxBackoff)
	for ctx.Err() == nil {
		err := s.step(ctx)
		switch {
		case err == nil:
			b.reset()
			s.setErr(nil)
			continue
		case ctx.Err() != nil:
			return nil
		case upstream.KindOf(err) == upstream.AuthFailed:
			s.setErr(err)
			return fmt.Errorf("%w: %v", errAuth, err)
		}
		s.setErr(err)
		s.log.Warn("sync step failed; retrying", "err", err)
		if b.wait(ctx, err) != nil {
			return nil
		}
	}
	return nil
}

// step does one unit of work: a (re)sync when there is no cursor, or one
// long poll of the event stream.
func (s *Syncer) step(ctx context.Context) error {
	st := s.opts.Store
	cursor, err := st.Cursor()
	if err != nil {
		return err
	}
	if cursor == "" {
		if err := s.fullSync(ctx, "initial sync"); err != nil {
			return err
		}
		s.markSynced()
		s.phase.Store("live")
		return nil
	}
	s.markSynced()
	s.phase.Store("live")

	pollCtx, cancel := context.WithTimeout(ctx, s.opts.PollTimeout)
	batch, err := s.opts.Session.Events(pollCtx, cursor)
	cancel()
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return nil // an idle long poll that a backend reports as an error
		}
		if upstream.KindOf(err) == upstream.RefreshRequired {
			s.log.Info("event cursor expired; resyncing")
			if err := s.fullSync(ctx, "resync"); err != nil {
				return err
			}
			s.phase.Store("live")
			return nil
		}
		return err
	}
	if len(batch.Events) == 0 && (batch.Cursor == "" || batch.Cursor == cursor) {
		return nil
	}
	changes, err := s.changes(ctx, batch)
	if err != nil {
		return err
	}
	return st.Apply(changes)
}

// changes turns a batch of events into one store change set, downloading
// and decrypting new messages on the way. An echo of our own import is
// not downloaded again: the store already has its plaintext.
func (s *Syncer) changes(ctx context.Context, batch upstream.EventBatch) (store.Changes, error) {
	st := s.opts.Store
	var c store.Changes
	var fresh []upstream.MessageMeta
	var freshOps = map[string]string{}
	for _, ev := range batch.Events {
		if ev.OpID != "" {
			c.OpIDs = append(c.OpIDs, ev.OpID)
		}
		switch ev.Kind {
		case upstream.MessageCreated:
			if ev.Message == nil {
				continue
			}
			own := false
			if ev.OpID != "" {
				var err error
				if own, err = st.IsOwnImport(ev.OpID); err != nil {
					return c, err
				}
			}
			if own {
				c.Messages = append(c.Messages, store.Incoming{Meta: *ev.Message, OpID: ev.OpID})
				continue
			}
			cached, err := st.HasMessage(ev.ID)
			if err != nil {
				return c, err
			}
			if cached {
				c.Updated = append(c.Updated, *ev.Message)
				continue
			}
			fresh = append(fresh, *ev.Message)
			freshOps[ev.ID] = ev.OpID
		case upstream.MessageUpdated:
			if ev.Message != nil {
				c.Updated = append(c.Updated, *ev.Message)
			}
		case upstream.MessageDeleted:
			c.Deleted = append(c.Deleted, ev.ID)
		case upstream.MailboxCreated, upstream.MailboxUpdated:
			if ev.Mailbox != nil {
				c.Mailboxes = append(c.Mailboxes, *ev.Mailbox)
				c.MailboxOpIDs = append(c.MailboxOpIDs, ev.OpID)
			}
		case upstream.MailboxDeleted:
			c.DeletedMailboxes = append(c.DeletedMailboxes, ev.ID)
		}
	}
	if len(fresh) > 0 {
		in, err := s.fetch(ctx, fresh)
		if err != nil {
			return c, err
		}
		for i := range in {
			in[i].OpID = freshOps[in[i].Meta.ID]
		}
		c.Messages = append(c.Messages, in...)
	}
	cursor := batch.Cursor
	c.Cursor = &cursor
	return c, nil
}
