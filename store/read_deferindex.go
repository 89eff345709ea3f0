package store

import (
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// APPEND writes a message's index terms after it has answered: posting
// lists are the largest part of a one-message write (a few hundred terms,
// each a B+tree page rewritten), and a batch of appends shares them. The
// message, its parsed form, its entry and its import op are committed by
// Append itself, with a marker in bktUnindexed; the terms follow in one
// write transaction per batch, within indexDelay, and clear the markers.
// A crash in between loses nothing: Open indexes what is still marked.
// IndexAppended writes the batch at once, for a search that must see it.

// bktUnindexed holds the IDs of appended messages whose index terms are
// not written yet. Created on first use.
const bktUnindexed = "unindexed"

// indexDelay is how long the terms of an appended message may wait for
// others to share their write.
const indexDelay = 100 * time.Millisecond

// indexQueue is the Store's batch of appended messages to index.
type indexQueue struct {
	flushMu sync.Mutex // one flush at a time; a search waits for it

	mu      sync.Mutex
	pending map[uint64]*Analysis
	timer   *time.Timer
	closed  bool
}

// deferIndex stores what Append needs at once of an analysis, the parsed
// form, and marks the message for indexing; the caller queues it with
// queueIndex after the commit.
func (w *wtx) deferIndex(id uint64, a *Analysis) error {
	k := u64key(id)
	if err := w.parsed.Put(k, w.s.seal.seal(bktParsed, k, a.parsed)); err != nil {
		return fmt.Errorf("store: write parsed message: %w", err)
	}
	b, err := w.tx.CreateBucketIfNotExists([]byte(bktUnindexed))
	if err != nil {
		return fmt.Errorf("store: unindexed bucket: %w", err)
	}
	if err := b.Put(k, []byte{}); err != nil {
		return fmt.Errorf("store: mark unindexed: %w", err)
	}
	return nil
}

// queueIndex adds a committed append to the next batch.
func (s *Store) queueIndex(id uint64, a *Analysis) {
	q := &s.idxq
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return // Open indexes it from its marker
	}
	if q.pending == nil {
		q.pending = make(map[uint64]*Analysis)
	}
	q.pending[id] = a
	if q.timer == nil {
		q.timer = time.AfterFunc(indexDelay, func() {
			if err := s.IndexAppended(); err != nil {
				s.log.Warn("store: index appended messages", "err", err)
			}
		})
	}
}

// IndexAppended writes the index terms of appended messages still queued,
// so that a search that follows sees them. It is cheap when none are.
func (s *Store) IndexAppended() error {
	q := &s.idxq
	q.flushMu.Lock()
	defer q.flushMu.Unlock()
	q.mu.Lock()
	batch := q.pending
	q.pending = nil
	if q.timer != nil {
		q.timer.Stop()
		q.timer = nil
	}
	q.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	return s.update(func(w *wtx) error { return w.indexMarked(batch) })
}

// indexMarked writes the terms of the marked messages of batch and clears
// their markers. A message deleted meanwhile only loses its marker.
func (w *wtx) indexMarked(batch map[uint64]*Analysis) error {
	b := w.tx.Bucket([]byte(bktUnindexed))
	if b == nil {
		return nil
	}
	for id, a := range batch {
		k := u64key(id)
		if b.Get(k) == nil {
			continue
		}
		if w.messages.Get(k) != nil {
			if err := w.putAnalysis(id, a); err != nil {
				return err
			}
		}
		if err := b.Delete(k); err != nil {
			return fmt.Errorf("store: clear unindexed: %w", err)
		}
	}
	return nil
}

// indexLeftovers indexes the messages a crash left marked, from their
// cached bodies.
func (s *Store) indexLeftovers() error {
	batch := make(map[uint64]*Analysis)
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bktUnindexed))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			if len(k) != 8 {
				return nil
			}
			id := decodeU64(k)
			body, err := s.bodyTx(tx, id)
			if err != nil {
				body = nil // gone: the marker is cleared below
			}
			batch[id] = s.Analyze(body)
			return nil
		})
	})
	if err != nil || len(batch) == 0 {
		return err
	}
	return s.update(func(w *wtx) error { return w.indexMarked(batch) })
}

// closeIndexQueue writes the last batch and stops queueing.
func (s *Store) closeIndexQueue() error {
	err := s.IndexAppended()
	q := &s.idxq
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	return err
}
