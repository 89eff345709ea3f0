package store

// noteRead counts n bytes of bodies and parsed records read through the
// mapping, which MappedRead reports.
func (s *Store) noteRead(n int) { s.readSince.Add(int64(n)) }

// MappedRead returns how many bytes of bodies and parsed records have been
// read since the last ReleaseMemory: about what reading has added to the
// process's RSS since, for a caller deciding when to release.
func (s *Store) MappedRead() int64 { return s.readSince.Load() }
