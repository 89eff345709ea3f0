package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// ReleaseMemory drops the cache file's pages from the process's resident
// set: bbolt reads through a shared, read-only mapping, so every body a
// search or FETCH touched stays counted in RSS although it is only page
// cache. The pages remain in the OS page cache and fault back in on the
// next read. The bridge calls this when the account goes idle or has read
// a lot (MappedRead), and the syncer after a full sync; it is cheap and
// safe while others read.
func (s *Store) ReleaseMemory() error {
	s.slabs.drop()
	s.readSince.Store(0)
	// Within a read transaction: bbolt remaps the file only when none is
	// open, so the mapping can neither move nor go away under the call.
	return s.view(func(tx *bolt.Tx) error {
		base, size := s.db.Info().Data, tx.Size()
		if base == 0 || size <= 0 {
			return nil
		}
		// The uintptr goes straight to the kernel: no Go pointer is made
		// from it. MADV_DONTNEED on a shared file mapping keeps the data.
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, base, uintptr(size), unix.MADV_DONTNEED); errno != 0 {
			return fmt.Errorf("store: release memory: %w", errno)
		}
		return nil
	})
}
