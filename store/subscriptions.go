package store

import (
	"encoding/json"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// A subscription is a flag on its mailbox, but RFC 3501 section 6.3.6
// forbids the server to drop one on its own: when a client DELETEs a
// subscribed mailbox, its name stays subscribed, as an orphan, until the
// client unsubscribes it or a mailbox of that name comes back. The
// orphans are one sealed list in the meta bucket: a handful of names.

// OrphanSubscriptions lists the subscribed names that no mailbox has.
func (s *Store) OrphanSubscriptions() ([]string, error) {
	var names []string
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		names, err = readOrphans(tx.Bucket([]byte(bktMeta)), s.seal)
		return err
	})
	return names, err
}

func readOrphans(meta *bolt.Bucket, seal *sealer) ([]string, error) {
	v := meta.Get(keyOrphanSubs)
	if v == nil {
		return nil, nil
	}
	plain, err := seal.open(bktMeta, keyOrphanSubs, v)
	if err != nil {
		return nil, err
	}
	var names []string
	if err := json.Unmarshal(plain, &names); err != nil {
		return nil, fmt.Errorf("%w: subscriptions: %w", errCorrupt, err)
	}
	return names, nil
}

// setOrphan adds or removes one orphan subscription and reports whether
// it was one before.
func (w *wtx) setOrphan(name string, on bool) (bool, error) {
	names, err := readOrphans(w.meta, w.s.seal)
	if err != nil {
		return false, err
	}
	i := slices.IndexFunc(names, func(n string) bool { return sameName(n, name) })
	was := i >= 0
	switch {
	case on && !was:
		names = append(names, name)
	case !on && was:
		names = slices.Delete(names, i, i+1)
	default:
		return was, nil
	}
	if len(names) == 0 {
		return was, w.meta.Delete(keyOrphanSubs)
	}
	plain, err := json.Marshal(names)
	if err != nil {
		return was, err
	}
	return was, w.meta.Put(keyOrphanSubs, w.s.seal.seal(bktMeta, keyOrphanSubs, plain))
}
