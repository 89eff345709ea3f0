package syncer

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"

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
		if stop, err := s.pushBatch(ctx, ops, b); stop || err != nil {
			return err
		}
	}
}

// bigMessage is the size from which an import hands the memory it used
// back to the system at once.
const bigMessage = 16 << 20

// maxParallelImports bounds the imports in flight at once. Each is an
// encryption and a round trip to the upstream; a client copying a
// mailbox in queues hundreds, which one at a time would cost a round
// trip each.
const maxParallelImports = 8

// pushBatch pushes ops in order, each run of imports concurrently (they
// create distinct messages, and ops that need what an import creates are
// not handed out before it completes), and records what the upstream
// did in one transaction per batch, or before anything that must see it.
// A failure that may pass waits out the backoff and ends the batch, so
// the queue is retried from its head; ops the upstream already performed
// are then sent again, which their op IDs make harmless. stop tells the
// loop to end: ctx is done, or err says why.
func (s *Syncer) pushBatch(ctx context.Context, ops []store.Op, b *backoff) (stop bool, err error) {
	var done []store.Completed
	complete := func() error {
		if err := s.opts.Store.CompleteOps(done); err != nil {
			return fmt.Errorf("complete op: %w", err)
		}
		done = done[:0]
		return nil
	}
	for len(ops) > 0 {
		run := 1
		for run < len(ops) && run < maxParallelImports && ops[0].Kind == store.OpImport && ops[run].Kind == store.OpImport {
			run++
		}
		for i, r := range s.pushRun(ctx, ops[:run]) {
			op := ops[i]
			switch {
			case r.err == nil:
				b.reset()
				done = append(done, store.Completed{Seq: op.Seq, UpstreamID: r.id})
				continue
			case ctx.Err() != nil:
				return true, complete()
			}
			if err := complete(); err != nil {
				return true, err
			}
			switch {
			case upstream.Retryable(r.err):
				s.setErr(r.err)
				s.log.Warn("upstream write failed; will retry", "op", op.Kind, "err", r.err)
				return b.wait(ctx, r.err) != nil, nil
			case upstream.KindOf(r.err) == upstream.AuthFailed:
				s.setErr(r.err)
				return true, fmt.Errorf("%w: %v", errAuth, r.err)
			}
			s.log.Error("upstream refused a change; dropping it", "op", op.Kind, "err", r.err)
			if err := s.opts.Store.FailOp(op.Seq, r.err.Error()); err != nil {
				return true, fmt.Errorf("fail op: %w", err)
			}
			if err := s.revertMailboxOp(ctx, op); err != nil {
				s.log.Warn("could not restore the mailboxes after a refused change", "err", err)
			}
		}
		ops = ops[run:]
	}
	return false, complete()
}

// pushed is the outcome of one op.
type pushed struct {
	id  string
	err error
}

// pushRun pushes ops concurrently and returns their outcomes in order.
func (s *Syncer) pushRun(ctx context.Context, ops []store.Op) []pushed {
	out := make([]pushed, len(ops))
	if len(ops) == 1 {
		out[0].id, out[0].err = s.push(ctx, ops[0])
		return out
	}
	var wg sync.WaitGroup
	for i, op := range ops {
		wg.Go(func() { out[i].id, out[i].err = s.push(ctx, op) })
	}
	wg.Wait()
	return out
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
		if len(raw) >= bigMessage {
			// An idle daemon collects garbage rarely, and it would hold
			// on to a few times the message's size for minutes.
			go debug.FreeOSMemory()
		}
		return m.ID, err
	case store.OpCreateMailbox:
		m, err := sess.CreateMailbox(ctx, op.Name, op.OpID)
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
		err := sess.RenameMailbox(ctx, op.MailboxID, op.Name, op.OpID)
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
