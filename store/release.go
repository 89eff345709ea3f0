package store

// releaseAfter is how many bytes of bodies and parsed records read through
// the mapping make the store release its mapped pages at once, rather
// than at the account's next idle round: one search that confirms a
// phrase against most of a big mailbox, or a client downloading it, maps
// in gigabytes.
const releaseAfter = 64 << 20

// noteRead counts n bytes read from the mapping, and past releaseAfter
// releases the mapped pages on a goroutine of its own, one at a time.
func (s *Store) noteRead(n int) {
	if s.readSince.Add(int64(n)) < s.releaseAfter || !s.releasing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer s.releasing.Store(false)
		if err := s.ReleaseMemory(); err != nil {
			s.log.Debug("release cache memory", "err", err)
		}
	}()
}
