package store

import (
	"fmt"
	"maps"
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
	writing map[uint64]*Analysis // the batch being written
	timer   *time.Timer
	closed  bool
}

// deferIndex marks the message for indexing, and its analysis is queued
// for the next batch once the transaction is committed. Its parsed form
// is written with the terms, not now: the parsed records are a B+tree of
// their own, three pages an APPEND would rewrite, and until the batch is
// written readers take the parsed form from the queue (queuedParsed).
func (w *wtx) deferIndex(id uint64, a *Analysis) error {
	b, err := w.tx.CreateBucketIfNotExists([]byte(bktUnindexed))
	if err != nil {
		return fmt.Errorf("store: unindexed bucket: %w", err)
	}
	if err := b.Put(u64key(id), []byte{}); err != nil {
		return fmt.Errorf("store: mark unindexed: %w", err)
	}
	if w.deferred == nil {
		w.deferred = make(map[uint64]*Analysis)
	}
	w.deferred[id] = a
	return nil
}

// queuedParsed returns the parsed form of an appended message whose
// batch is not written yet, or nil.
func (s *Store) queuedParsed(id uint64) []byte {
	q := &s.idxq
	q.mu.Lock()
	defer q.mu.Unlock()
	if a := q.pending[id]; a != nil {
		return a.parsed
	}
	if a := q.writing[id]; a != nil {
		return a.parsed
	}
	return nil
}

// queueIndex adds committed appends to the next batch.
func (s *Store) queueIndex(as map[uint64]*Analysis) {
	q := &s.idxq
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return // Open indexes them from their markers
	}
	if q.pending == nil {
		q.pending = make(map[uint64]*Analysis)
	}
	maps.Copy(q.pending, as)
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
	q.writing = batch
	if q.timer != nil {
		q.timer.Stop()
		q.timer = nil
	}
	q.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := s.update(func(w *wtx) error { return w.indexMarked(batch) })
	q.mu.Lock()
	q.writing = nil
	if err != nil {
		// Their markers stay; the next batch tries again.
		if q.pending == nil {
			q.pending = batch
		} else {
			for id, a := range batch {
				if q.pending[id] == nil {
					q.pending[id] = a
				}
			}
		}
	}
	q.mu.Unlock()
	return err
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
