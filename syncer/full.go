package syncer

import (
	"context"
	"fmt"
	"time"

	"github.com/mailbridge/mailbridge/store"
	"github.com/mailbridge/mailbridge/upstream"
)

// fullSync brings the cache to the upstream's content: the initial sync,
// and the resync after the event cursor was lost. It keeps what is cached
// (so UIDs and UIDVALIDITY survive and nothing is downloaded twice),
// fetches what is missing, refreshes labels and flags, and drops what the
// upstream no longer has. The event cursor is stored only at the end, so a
// sync killed half-way simply runs again and skips what it had cached.
func (s *Syncer) fullSync(ctx context.Context, phase string) error {
	st, sess := s.opts.Store, s.opts.Session
	s.phase.Store(phase)
	s.done.Store(0)
	s.total.Store(0)
	s.started.Store(time.Now().UnixNano())
	start := time.Now()
	s.log.Info("sync started", "phase", phase)

	// Take the cursor first: events that happen while we list are
	// replayed afterwards, and replaying them is harmless.
	cursor, err := retry(ctx, 0, func() (string, error) { return sess.LatestEventID(ctx) })
	if err != nil {
		return fmt.Errorf("latest event: %w", err)
	}
	if err := s.syncMailboxes(ctx); err != nil {
		return err
	}

	ids, err := st.MessageIDs()
	if err != nil {
		return err
	}
	cached := make(map[string]bool, len(ids))
	for _, id := range ids {
		cached[id] = false // false: not (yet) seen upstream
	}

	after := ""
	for {
		page, err := retry(ctx, 0, func() ([]upstream.MessageMeta, error) {
			return sess.ListMessages(ctx, after, s.opts.PageSize)
		})
		if err != nil {
			return fmt.Errorf("list messages: %w", err)
		}
		if len(page) == 0 {
			break
		}
		after = page[len(page)-1].ID
		s.total.Add(int64(len(page)))

		var fresh, known []upstream.MessageMeta
		for _, m := range page {
			if _, ok := cached[m.ID]; ok {
				cached[m.ID] = true
				known = append(known, m)
			} else {
				fresh = append(fresh, m)
			}
		}
		incoming, err := s.fetch(ctx, fresh)
		if err != nil {
			return err
		}
		if err := st.Apply(store.Changes{Messages: incoming, Updated: known}); err != nil {
			return fmt.Errorf("store page: %w", err)
		}
		s.done.Add(int64(len(page)))
	}

	var gone []string
	for id, seen := range cached {
		if !seen {
			gone = append(gone, id)
		}
	}
	if err := st.Apply(store.Changes{Deleted: gone, Cursor: &cursor}); err != nil {
		return fmt.Errorf("finish sync: %w", err)
	}
	s.log.Info("sync finished", "phase", phase, "messages", s.total.Load(),
		"removed", len(gone), "failed", s.failed.Load(), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// syncMailboxes applies the upstream's labels and removes cached ones the
// upstream no longer has.
func (s *Syncer) syncMailboxes(ctx context.Context) error {
	mbs, err := retry(ctx, 0, func() ([]upstream.Mailbox, error) { return s.opts.Session.Mailboxes(ctx) })
	if err != nil {
		return fmt.Errorf("list mailboxes: %w", err)
	}
	live := make(map[string]bool, len(mbs))
	for _, m := range mbs {
		live[m.ID] = true
	}
	local, err := s.opts.Store.Mailboxes()
	if err != nil {
		return err
	}
	var gone []string
	for _, m := range local {
		if m.UpstreamID != "" && !live[m.UpstreamID] {
			gone = append(gone, m.UpstreamID)
		}
	}
	return s.opts.Store.Apply(store.Changes{Mailboxes: mbs, DeletedMailboxes: gone})
}
