package store

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Group commit. Every write transaction ends with two syncs of the file,
// which cost more than most writes themselves; a client's APPEND, the
// pusher completing ops and the event loop storing an echo would each
// pay them in turn. Writes that arrive while a transaction commits wait
// for it and then go into the next one together, so concurrent writers
// share the syncs and a lone writer waits for nobody.
//
// A write's function may therefore run with others in one transaction,
// after them and seeing what they wrote. If any of them fails, the whole
// transaction rolls back and each runs again in a transaction of its own,
// so one write's error never becomes another's: functions must not keep
// results from a run that failed (they reset what they collect).

// write is one caller's share of a transaction.
type write struct {
	fn   func(w *wtx) error
	done chan error // buffered: the committer never waits for the caller
	// panicked is what fn panicked with. The committer recovers it, so
	// that the other writes of the group are answered, and the caller
	// panics with it in its own goroutine, as if it had run fn itself.
	panicked any
}

// errPanicked answers the writes of a group the store itself panicked in.
var errPanicked = errors.New("store: the write transaction failed")

// run calls fn, turning a panic into an error of this write.
func (wr *write) run(w *wtx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			wr.panicked = v
			err = fmt.Errorf("store: write panicked: %v", v)
		}
	}()
	return wr.fn(w)
}

// update runs fn in a write transaction and, after the commit, tells the
// watchers what changed and signals the outbox if ops were queued.
func (s *Store) update(fn func(w *wtx) error) error {
	me := &write{fn: fn, done: make(chan error, 1)}
	s.queueMu.Lock()
	s.queued = append(s.queued, me)
	s.queueMu.Unlock()

	s.wmu.Lock()
	defer s.wmu.Unlock()
	select {
	case err := <-me.done:
		// Committed with the writes of the last holder of wmu.
		if me.panicked != nil {
			panic(me.panicked)
		}
		return err
	default:
	}
	s.queueMu.Lock()
	group := s.queued
	s.queued = nil
	s.queueMu.Unlock()
	defer func() {
		if v := recover(); v != nil {
			// A panic of the store's own (a watcher's, say): no write
			// of the group may wait for ever.
			for _, wr := range group {
				select {
				case wr.done <- errPanicked:
				default:
				}
			}
			panic(v)
		}
	}()
	if err := s.commitGroup(group); err != nil && len(group) > 1 {
		for _, wr := range group {
			if wr.panicked != nil {
				wr.done <- err // it would only panic again
				continue
			}
			wr.done <- s.commitGroup([]*write{wr})
		}
	} else {
		for _, wr := range group {
			wr.done <- err
		}
	}
	err := <-me.done
	if me.panicked != nil {
		panic(me.panicked)
	}
	return err
}

// commitGroup runs the writes in one transaction, in order, and reports
// their changes once it is committed.
func (s *Store) commitGroup(group []*write) error {
	var w *wtx
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if w, err = s.newWtx(tx); err != nil {
			return err
		}
		for _, wr := range group {
			if err := wr.run(w); err != nil {
				return err
			}
		}
		return w.flush()
	})
	if w != nil {
		// Committed or rolled back: bbolt refers to none of them now.
		s.slabs.put(w.slabsUsed)
	}
	if err != nil {
		return err
	}
	s.committed.set(w)
	s.addWords(w.newWords)
	if len(w.deferred) > 0 {
		// Before the watchers hear of the messages, whose parsed form
		// readers find in the queue until it is written.
		s.queueIndex(w.deferred)
	}
	if w.opsAdded {
		select {
		case s.outboxSig <- struct{}{}:
		default:
		}
	}
	s.notify(w.changes)
	return nil
}
