package syncer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mailbridge/mailbridge/store"
	"github.com/mailbridge/mailbridge/upstream"
)

// fullSync brings the cache to the upstream's content: the initial sync,
// and the resync after the event cursor was lost. It keeps what is cached
// (so UIDs and UIDVALIDITY survive and nothing is downloaded twice),
// fetches what is missing, refreshes labels and flags, and drops what the
// upstream no longer has. Every batch is committed on its own and the
// event cursor only at the end, so a sync killed half-way simply runs
// again and skips what it had cached.
func (s *Syncer) fullSync(ctx context.Context, phase string) error {
	sess := s.opts.Session
	s.phase.Store(phase)
	s.done.Store(0)
	s.total.Store(0)
	s.started.Store(time.Now().UnixNano())
	start := time.Now()
	s.log.Info("sync started", "phase", phase)

	// Take the cursor first: events that happen while we list are
	// replayed afterwards, and replaying them is harmless.
	cursor, err := retry(ctx, s, 0, func() (string, error) { return sess.LatestEventID(ctx) })
	if err != nil {
		return fmt.Errorf("latest event: %w", err)
	}
	if err := s.syncMailboxes(ctx); err != nil {
		return err
	}
	if err := s.count(ctx); err != nil {
		return err
	}
	s.started.Store(time.Now().UnixNano()) // the ETA is about fetching

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan job, s.opts.Workers)
	results := make(chan result, 2*s.opts.Workers)
	b := newBudget(s.opts.MaxInFlight)

	var workers sync.WaitGroup
	for range s.opts.Workers {
		workers.Go(func() { s.worker(ctx, jobs, results) })
	}
	var listErr error
	var lister sync.WaitGroup
	lister.Go(func() {
		defer close(jobs)
		if listErr = s.list(ctx, jobs, results, b); listErr != nil {
			cancel()
		}
	})
	go func() {
		lister.Wait()
		workers.Wait()
		close(results)
	}()
	stopLog := s.logProgress(phase)
	defer stopLog()
	werr := s.writer(ctx, results, b)
	if werr != nil {
		cancel()
	}
	// Drain, so that the workers and the closer goroutine end.
	for range results {
	}
	lister.Wait()
	if err := errors.Join(listErr, werr); err != nil {
		return err
	}
	if err := s.opts.Store.Apply(store.Changes{Cursor: &cursor}); err != nil {
		return fmt.Errorf("finish sync: %w", err)
	}
	// The sync walked the whole file: give the mapped pages back.
	if err := s.opts.Store.ReleaseMemory(); err != nil {
		s.log.Warn("could not release the cache's memory", "err", err)
	}
	s.log.Info("sync finished", "phase", phase, "messages", s.total.Load(),
		"failed", s.failed.Load(), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// logProgress logs the sync's progress every progressEvery until stopped,
// so that a long initial sync is visible in the daemon's log.
func (s *Syncer) logProgress(phase string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p := s.Progress()
				s.log.Info("sync progress", "phase", phase, "done", p.Done, "total", p.Total,
					"failed", p.Failed, "eta", p.ETA.Round(time.Second))
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

const progressEvery = 10 * time.Second

// count lists the upstream's metadata once without keeping it, so that
// progress has a total (and an ETA) from the start. It costs one call per
// page, a fraction of the sync.
func (s *Syncer) count(ctx context.Context) error {
	after := ""
	var n int64
	for {
		page, err := retry(ctx, s, 0, func() ([]upstream.MessageMeta, error) {
			return s.opts.Session.ListMessages(ctx, after, s.opts.PageSize)
		})
		if err != nil {
			return fmt.Errorf("count messages: %w", err)
		}
		if len(page) == 0 {
			s.total.Store(n)
			return nil
		}
		n += int64(len(page))
		after = page[len(page)-1].ID
	}
}

// list walks the upstream's metadata page by page. Each page is diffed
// against the cached IDs in the same ID range: messages cached already
// only get their metadata refreshed, cached ones missing from the page
// have gone upstream, and the rest become jobs for the workers.
func (s *Syncer) list(ctx context.Context, jobs chan<- job, results chan<- result, b *budget) error {
	st, sess := s.opts.Store, s.opts.Session
	after, seq := "", 0
	var listed int64
	for {
		page, err := retry(ctx, s, 0, func() ([]upstream.MessageMeta, error) {
			return sess.ListMessages(ctx, after, s.opts.PageSize)
		})
		if err != nil {
			return fmt.Errorf("list messages: %w", err)
		}
		upTo := ""
		if len(page) > 0 {
			upTo = page[len(page)-1].ID
		}
		if !slices.IsSortedFunc(page, func(a, b upstream.MessageMeta) int { return strings.Compare(a.ID, b.ID) }) || (len(page) > 0 && page[0].ID <= after) {
			// The range diff relies on the listing's order.
			return errors.New("list messages: the upstream did not list in ID order")
		}
		cached, err := st.MessageIDRange(after, upTo)
		if err != nil {
			return err
		}
		known := make(map[string]bool, len(cached))
		for _, id := range cached {
			known[id] = false
		}
		var r result
		r.seq = -1
		for _, m := range page {
			if _, ok := known[m.ID]; ok {
				known[m.ID] = true
				r.updated = append(r.updated, m)
			}
		}
		for _, id := range cached {
			if !known[id] {
				r.deleted = append(r.deleted, id)
			}
		}
		if r.deleted, err = s.confirmGone(ctx, r.deleted, &r.updated); err != nil {
			return err
		}
		listed += int64(len(page))
		if listed > s.total.Load() {
			s.total.Store(listed) // more than counted: mail arrived meanwhile
		}
		if len(r.updated) > 0 || len(r.deleted) > 0 {
			select {
			case results <- r:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		for _, m := range page {
			if known[m.ID] {
				continue
			}
			cost, err := b.acquire(ctx, 2*m.Size+4096)
			if err != nil {
				return err
			}
			select {
			case jobs <- job{seq: seq, meta: m, cost: cost}:
				seq++
			case <-ctx.Done():
				b.release(cost)
				return ctx.Err()
			}
		}
		if len(page) == 0 {
			return nil
		}
		after = upTo
	}
}

// confirmGone asks the upstream about cached messages a listing did not
// show. A message imported by the outbox between the listing and the
// diff is not gone: it moves to updated instead of being deleted.
func (s *Syncer) confirmGone(ctx context.Context, ids []string, updated *[]upstream.MessageMeta) ([]string, error) {
	var gone []string
	for _, id := range ids {
		m, err := retry(ctx, s, 0, func() (*upstream.Message, error) { return s.opts.Session.GetMessage(ctx, id) })
		switch {
		case err == nil:
			*updated = append(*updated, m.MessageMeta)
		case upstream.KindOf(err) == upstream.NotFound:
			gone = append(gone, id)
		default:
			return nil, fmt.Errorf("check message: %w", err)
		}
	}
	return gone, nil
}

// syncMailboxes applies the upstream's labels and removes cached ones the
// upstream no longer has.
func (s *Syncer) syncMailboxes(ctx context.Context) error {
	mbs, err := retry(ctx, s, 0, func() ([]upstream.Mailbox, error) { return s.opts.Session.Mailboxes(ctx) })
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
