package syncer

import (
	"context"
	"sync"
	"time"

	"github.com/mailbridge/mailbridge/store"
	"github.com/mailbridge/mailbridge/upstream"
)

// The initial sync is a pipeline:
//
//	lister (pages of metadata, diffed against the cache)
//	  -> jobs -> N workers (fetch, decrypt, parse: all cores)
//	  -> results -> one writer (puts results back in listing order and
//	     applies them in batched transactions)
//
// A byte budget bounds what is in flight between the lister taking a
// message and the writer committing it, so memory stays flat whatever
// the mailbox size.

// budget is a counting semaphore over bytes.
type budget struct {
	mu   sync.Mutex
	free int64
	max  int64
	wake chan struct{}
}

func newBudget(max int64) *budget {
	return &budget{free: max, max: max, wake: make(chan struct{})}
}

// acquire takes n bytes (at most the whole budget, so one huge message
// still passes alone), waiting until they are free or ctx ends.
func (b *budget) acquire(ctx context.Context, n int64) (int64, error) {
	n = min(max(n, 1), b.max)
	for {
		b.mu.Lock()
		if b.free >= n {
			b.free -= n
			b.mu.Unlock()
			return n, nil
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

func (b *budget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.free += n
	close(b.wake)
	b.wake = make(chan struct{})
	b.mu.Unlock()
}

// job is one message to fetch, numbered in listing order.
type job struct {
	seq  int
	meta upstream.MessageMeta
	cost int64 // budget held until the writer commits it
}

// result is a fetched message, or (seq < 0) metadata of cached messages
// to apply in any order.
type result struct {
	seq     int
	in      store.Incoming
	keep    bool // false: the message vanished upstream meanwhile
	cost    int64
	updated []upstream.MessageMeta
	deleted []string
}

// worker fetches, decrypts and parses jobs until jobs is closed.
func (s *Syncer) worker(ctx context.Context, jobs <-chan job, out chan<- result) {
	for j := range jobs {
		in, keep := s.fetchOne(ctx, j.meta)
		select {
		case out <- result{seq: j.seq, in: in, keep: keep, cost: j.cost}:
		case <-ctx.Done():
			return
		}
	}
}

// Writer batching: a batch is ready when it holds batchMessages messages
// or batchBytes of bodies, and at least every batchAge, so that a slow
// upstream still sees its messages appear soon. Large batches matter: each
// commit rewrites the index chunks of every word it touches and syncs.
const (
	batchMessages = 1000
	batchBytes    = 16 << 20
	batchAge      = 200 * time.Millisecond
	releaseEvery  = 8 // batches between ReleaseMemory calls
)

// batch is what one write transaction stores, with the progress and the
// budget it settles once committed.
type batch struct {
	changes store.Changes
	bytes   int
	cost    int64
	count   int64
}

func (b *batch) empty() bool {
	return len(b.changes.Messages) == 0 && len(b.changes.Updated) == 0 && len(b.changes.Deleted) == 0
}

// blank reports whether the batch neither writes nor settles anything.
func (b *batch) blank() bool { return b.empty() && b.count == 0 && b.cost == 0 }

// writer applies results in listing order until results is closed. It
// returns the first store error; ctx ending makes it return ctx's error.
//
// Collecting and committing run in two goroutines: a commit takes tens of
// milliseconds, and a writer that stopped reading results meanwhile would
// stall every worker behind a full channel. The collector hands a batch
// over only when the committer is free, and keeps growing it until then;
// the byte budget still bounds what both hold.
func (s *Syncer) writer(ctx context.Context, results <-chan result, b *budget) error {
	batches := make(chan *batch)
	stopped := make(chan struct{})
	var commitErr error
	go func() {
		defer close(stopped)
		commitErr = s.commit(batches, b)
	}()
	err := s.collect(ctx, results, batches, stopped, b.max/2)
	close(batches)
	<-stopped
	if commitErr != nil {
		return commitErr
	}
	return err
}

// collect puts results back in listing order and groups them into batches
// until results is closed and the last batch is handed over. A batch
// holding maxCost of the budget is ready whatever its size, so that a small
// budget does not leave the lister waiting for the next tick. collect
// returns early, with nil, when the committer stopped on an error.
func (s *Syncer) collect(ctx context.Context, results <-chan result, batches chan<- *batch, stopped <-chan struct{}, maxCost int64) error {
	var (
		pending = map[int]result{}
		next    = 0
		cur     = &batch{}
		ready   bool // cur is to be handed over as soon as the committer is free
	)
	take := func(r result) {
		if r.seq < 0 {
			cur.changes.Updated = append(cur.changes.Updated, r.updated...)
			cur.changes.Deleted = append(cur.changes.Deleted, r.deleted...)
			cur.count += int64(len(r.updated))
			return
		}
		pending[r.seq] = r
		for {
			r, ok := pending[next]
			if !ok {
				return
			}
			delete(pending, next)
			next++
			cur.cost += r.cost
			cur.count++
			if r.keep {
				cur.changes.Messages = append(cur.changes.Messages, r.in)
				cur.bytes += len(r.in.Body)
			}
		}
	}
	tick := time.NewTicker(batchAge)
	defer tick.Stop()
	for {
		var send chan<- *batch
		if ready {
			send = batches
		}
		select {
		case send <- cur:
			if results == nil {
				return nil
			}
			cur, ready = &batch{}, false
			// The age counts from the hand-over: a tick that came during
			// the last commit must not hand over a small batch at once.
			tick.Reset(batchAge)
		case r, ok := <-results:
			if !ok {
				if cur.blank() {
					return nil
				}
				results, ready = nil, true // hand over the last batch, then end
				continue
			}
			take(r)
			if len(cur.changes.Messages)+len(cur.changes.Updated) >= batchMessages || cur.bytes >= batchBytes || cur.cost >= maxCost {
				ready = true
			}
		case <-tick.C:
			ready = ready || !cur.blank()
		case <-stopped:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// commit applies batches in one transaction each until batches is closed,
// then settles their progress and budget. It returns the first store error.
func (s *Syncer) commit(batches <-chan *batch, b *budget) error {
	flushes := 0
	for bt := range batches {
		if !bt.empty() {
			start := time.Now()
			if err := s.opts.Store.Apply(bt.changes); err != nil {
				return err
			}
			s.log.Debug("sync batch stored", "messages", len(bt.changes.Messages), "updated", len(bt.changes.Updated),
				"deleted", len(bt.changes.Deleted), "took", time.Since(start).Round(time.Millisecond))
			if flushes++; flushes%releaseEvery == 0 {
				// bbolt faults in the pages it walks while writing; they
				// would stay in RSS until the sync ends.
				if err := s.opts.Store.ReleaseMemory(); err != nil {
					s.log.Warn("could not release the cache's memory", "err", err)
				}
			}
		}
		s.done.Add(bt.count)
		b.release(bt.cost)
	}
	return nil
}
