package store

import (
	"maps"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// Every write transaction and most IMAP commands need the mailbox
// records, and reading them meant opening and decoding each one: a tenth
// of an APPEND's CPU. mailboxCache keeps them as the last commit left
// them. Only the committer sets it, after its commit and under the
// writer lock, and every mailbox record is written through a wtx, so it
// is never older than the file; a transaction that rolled back leaves it
// as it was.
type mailboxCache struct {
	mu  sync.RWMutex
	all []Mailbox // in ID order, as loadMailboxes returns them
	ok  bool
}

// get returns a copy of the records, or false before the first commit.
func (c *mailboxCache) get() ([]Mailbox, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(c.all), c.ok
}

// set records what w committed.
func (c *mailboxCache) set(w *wtx) {
	if w.mailboxes == nil {
		return // before the schema has mailboxes
	}
	all := make([]Mailbox, 0, len(w.mboxes))
	for _, id := range slices.Sorted(maps.Keys(w.mboxes)) {
		all = append(all, *w.mboxes[id])
	}
	c.put(all)
}

// load fills the cache from the file; the caller holds the writer lock.
func (c *mailboxCache) load(tx *bolt.Tx, seal *sealer) error {
	if tx.Bucket([]byte(bktMailboxes)) == nil {
		return nil
	}
	all, err := loadMailboxes(tx, seal)
	if err != nil {
		return err
	}
	c.put(all)
	return nil
}

func (c *mailboxCache) put(all []Mailbox) {
	c.mu.Lock()
	c.all, c.ok = all, true
	c.mu.Unlock()
}
