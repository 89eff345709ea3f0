package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Reset deletes the cache file at path, for `--reset-cache`: the next
// Open starts empty and the syncer rebuilds it from the upstream. Every
// mailbox gets a new UIDVALIDITY, so clients download again; outbox ops
// not pushed yet are lost, so callers should let the outbox drain first
// (OutboxLen) or warn. The store must not be open. A missing file is not
// an error.
func Reset(path string) error {
	for _, p := range []string{path, path + compactSuffix} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("store: reset: %w", err)
		}
	}
	return nil
}

// SpaceStats describes how much of the cache file is in use.
type SpaceStats struct {
	FileSize int64 // bytes on disk
	FreeSize int64 // bytes of free pages, reused by later writes but never returned
}

// Space reports the file size and how much of it is free pages. bbolt
// reuses free pages but never shrinks the file; Compact returns them.
func (s *Store) Space() (SpaceStats, error) {
	var st SpaceStats
	err := s.view(func(tx *bolt.Tx) error {
		st.FileSize = tx.Size()
		return nil
	})
	if err != nil {
		return st, err
	}
	ps := s.db.Stats()
	st.FreeSize = int64(ps.FreePageN+ps.PendingPageN) * int64(s.db.Info().PageSize)
	return st, nil
}

const compactSuffix = ".compact"

// Compact rewrites the cache file at path without its free pages (the
// space of deleted messages) and returns the sizes before and after. The
// store must not be open; the bridge runs it at start when Space showed
// much free space, or on request. A crash mid-way leaves the original
// untouched: the copy is written beside it and renamed over it only
// once complete and synced.
func Compact(path string) (before, after int64, err error) {
	tmp := path + compactSuffix
	_ = os.Remove(tmp)
	src, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		return 0, 0, fmt.Errorf("store: compact: open: %w", err)
	}
	defer src.Close()
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		return 0, 0, fmt.Errorf("store: compact: create: %w", err)
	}
	if err := bolt.Compact(dst, src, 64<<20); err != nil {
		dst.Close()
		os.Remove(tmp)
		return 0, 0, fmt.Errorf("store: compact: %w", err)
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		os.Remove(tmp)
		return 0, 0, fmt.Errorf("store: compact: sync: %w", err)
	}
	if err := dst.Close(); err != nil {
		os.Remove(tmp)
		return 0, 0, fmt.Errorf("store: compact: close: %w", err)
	}
	if fi, err := os.Stat(path); err == nil {
		before = fi.Size()
	}
	if fi, err := os.Stat(tmp); err == nil {
		after = fi.Size()
	}
	if err := src.Close(); err != nil {
		return 0, 0, fmt.Errorf("store: compact: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, 0, fmt.Errorf("store: compact: replace: %w", err)
	}
	return before, after, nil
}
