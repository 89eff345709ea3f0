package syncer

import (
	"context"
	"errors"
	"fmt"

	"github.com/mailbridge/mailbridge/crypto"
	"github.com/mailbridge/mailbridge/store"
	"github.com/mailbridge/mailbridge/upstream"
)

// pushLoop drains the store's outbox to the upstream in order. A failure
// that may pass stops the queue (later ops may depend on this one) and is
// retried with backoff; a refusal for good drops the op and is logged.
//
// Conflict rules, when the upstream changed first:
//   - a flag or label change for a message deleted upstream is dropped;
//     the deletion event removes the message locally (delete wins);
//   - deleting something already gone counts as done;
//   - creating a mailbox whose name exists adopts the existing one;
//   - a mailbox renamed on both sides ends with the name that reached the
//     upstream last, which is the local one when the local rename was
//     queued before the remote one was seen; the cache follows the
//     upstream's events, so both sides end with the same name;
//   - renaming a mailbox deleted upstream is dropped (the deletion wins);
//   - a mailbox op the upstream refuses for good (say, a rename onto a
//     name taken upstream) is dropped and the cache takes the upstream's
//     mailboxes again: the name goes back, a refused CREATE disappears.
func (s *Syncer) pushLoop(ctx context.Context) error {
	st := s.opts.Store
	b := newBackoff(s.opts.MaxBackoff)
	for {
		ops, err := st.PendingOps(100)
		if err != nil {
			return fmt.Errorf("read outbox: %w", err)
		}
		if len(ops) == 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-st.OutboxSignal():
			}
			continue
		}
		for _, op := range ops {
			id, err := s.push(ctx, op)
			switch {
			case err == nil:
				b.reset()
				if err := st.CompleteOp(op.Seq, id); err != nil {
					return fmt.Errorf("complete op: %w", err)
				}
				continue
			case ctx.Err() != nil:
				return nil
			case upstream.Retryable(err):
				s.setErr(err)
				s.log.Warn("upstream write failed; will retry", "op", op.Kind, "err", err)
				if b.wait(ctx, err) != nil {
					return nil
				}
			case upstream.KindOf(err) == upstream.AuthFailed:
				s.setErr(err)
				return fmt.Errorf("%w: %v", errAuth, err)
			default:
				s.log.Error("upstream refused a change; dropping it", "op", op.Kind, "err", err)
				if err := st.FailOp(op.Seq, err.Error()); err != nil {
					return fmt.Errorf("fail op: %w", err)
				}
				if err := s.revertMailboxOp(ctx, op); err != nil {
					s.log.Warn("could not restore the mailboxes after a refused change", "err", err)
				}
				continue
			}
			break // retry the queue from its head
		}
	}
}

// push performs one op and returns the upstream ID it created, if any.
func (s *Syncer) push(ctx context.Context, op store.Op) (string, error) {
	sess := s.opts.Session
	switch op.Kind {
	case store.OpUpdate:
		u := op.Update
		u.OpID = op.OpID
		err := sess.UpdateMessages(ctx, op.MessageIDs, u)
		if upstream.KindOf(err) == upstream.NotFound {
			s.log.Info("message gone upstream; dropping its queued change", "op", op.OpID)
			return "", nil
		}
		return "", err
	case store.OpDelete:
		err := sess.DeleteMessages(ctx, op.MessageIDs)
		if upstream.KindOf(err) == upstream.NotFound {
			return "", nil
		}
		return "", err
	case store.OpImport:
		if len(s.opts.Keys) == 0 {
			return "", upstream.Errorf(upstream.Permanent, "no key to encrypt to")
		}
		raw, err := crypto.EncryptWhole(op.Plain, s.opts.Keys[:1], s.opts.Keys[0])
		if err != nil {
			return "", upstream.Errorf(upstream.Permanent, "encrypt appended message: %v", err)
		}
		m, err := sess.Import(ctx, upstream.ImportRequest{
			OpID: op.OpID, Raw: raw, MailboxIDs: op.MailboxIDs, Flags: op.Flags, Date: op.Date,
		})
		return m.ID, err
	case store.OpCreateMailbox:
		m, err := sess.CreateMailbox(ctx, op.Name)
		if err == nil {
			return m.ID, nil
		}
		if upstream.KindOf(err) == upstream.Permanent {
			// A lost response to an earlier try, or a label of that name
			// made elsewhere: adopt it.
			if id := s.mailboxNamed(ctx, op.Name); id != "" {
				return id, nil
			}
		}
		return "", err
	case store.OpRenameMailbox:
		err := sess.RenameMailbox(ctx, op.MailboxID, op.Name)
		if upstream.KindOf(err) == upstream.NotFound {
			return "", nil
		}
		return "", err
	case store.OpDeleteMailbox:
		err := sess.DeleteMailbox(ctx, op.MailboxID)
		if upstream.KindOf(err) == upstream.NotFound {
			return "", nil
		}
		return "", err
	}
	return "", upstream.Errorf(upstream.Permanent, "unknown outbox op %v", op.Kind)
}

// revertMailboxOp brings the cache's mailboxes back to the upstream's
// after a mailbox op was refused for good.
func (s *Syncer) revertMailboxOp(ctx context.Context, op store.Op) error {
	switch op.Kind {
	case store.OpCreateMailbox:
		err := s.opts.Store.DeleteMailbox(op.Name)
		if err != nil && !errors.Is(err, store.ErrNoMailbox) {
			return err
		}
		return nil
	case store.OpRenameMailbox, store.OpDeleteMailbox:
		return s.syncMailboxes(ctx)
	}
	return nil
}

func (s *Syncer) mailboxNamed(ctx context.Context, name string) string {
	mbs, err := s.opts.Session.Mailboxes(ctx)
	if err != nil {
		return ""
	}
	for _, m := range mbs {
		if m.Kind == upstream.KindUser && m.Name == name {
			return m.ID
		}
	}
	return ""
}
