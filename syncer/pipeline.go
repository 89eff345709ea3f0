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

// Writer batching: a batch is applied when it holds batchMessages messages
// or batchBytes of bodies, and at least every batchAge, so that a slow
// upstream still sees its messages appear soon. Large batches matter: each
// commit rewrites the index chunks of every word it touches and syncs.
const (
	batchMessages = 1000
	batchBytes    = 16 << 20
	batchAge      = 200 * time.Millisecond
	releaseEvery  = 8 // batches between ReleaseMemory calls
)

// writer applies results in listing order until results is closed. It
// returns the first store error; ctx ending makes it return ctx's error.
func (s *Syncer) writer(ctx context.Context, results <-chan result, b *budget) error {
	var (
		pending = map[int]result{}
		next    = 0
		batch   store.Changes
		bytes   int
		cost    int64
		count   int64
		flushes int
	)
	flush := func() error {
		if len(batch.Messages) == 0 && len(batch.Updated) == 0 && len(batch.Deleted) == 0 {
			return nil
		}
		start := time.Now()
		err := s.opts.Store.Apply(batch)
		if err != nil {
			return err
		}
		s.log.Debug("sync batch stored", "messages", len(batch.Messages), "updated", len(batch.Updated),
			"deleted", len(batch.Deleted), "took", time.Since(start).Round(time.Millisecond))
		s.done.Add(count)
		b.release(cost)
		if flushes++; flushes%releaseEvery == 0 {
			// bbolt faults in the pages it walks while writing; they
			// would stay in RSS until the sync ends.
			if err := s.opts.Store.ReleaseMemory(); err != nil {
				s.log.Warn("could not release the cache's memory", "err", err)
			}
		}
		batch, bytes, cost, count = store.Changes{}, 0, 0, 0
		return nil
	}
	take := func(r result) {
		if r.seq < 0 {
			batch.Updated = append(batch.Updated, r.updated...)
			batch.Deleted = append(batch.Deleted, r.deleted...)
			count += int64(len(r.updated))
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
			cost += r.cost
			count++
			if r.keep {
				batch.Messages = append(batch.Messages, r.in)
				bytes += len(r.in.Body)
			}
		}
	}
	tick := time.NewTicker(batchAge)
	defer tick.Stop()
	for {
		var r result
		var ok bool
		select {
		case r, ok = <-results:
		case <-tick.C:
			if err := flush(); err != nil {
				return err
			}
			continue
		case <-ctx.Done():
			return ctx.Err()
		}
		if !ok {
			return flush()
		}
		take(r)
		if len(batch.Messages)+len(batch.Updated) >= batchMessages || bytes >= batchBytes {
			if err := flush(); err != nil {
				return err
			}
		}
	}
}
