package store

import (
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// postingsOf returns the message IDs listed under a term.
func postingsOf(t *testing.T, s *Store, term uint64) []uint64 {
	t.Helper()
	var got []uint64
	must(t, s.view(func(tx *bolt.Tx) error {
		set := &bitset{}
		postingsInto(tx.Bucket([]byte(bktPostings)), term, set)
		for id := range uint64(len(set.w) * 64) {
			if set.has(id) {
				got = append(got, id)
			}
		}
		return nil
	}))
	return got
}

// A message indexed after messages with higher IDs, in the same
// transaction or a later one, still gets its postings (deferred indexing
// of APPENDs runs after sync batches), and no ID is listed twice.
func TestPostingsOutOfOrder(t *testing.T) {
	s, _ := openTest(t)
	a := s.Analyze([]byte("Subject: s\r\n\r\nnumbat\r\n"))
	term := s.termKey(classBody, "numbat")
	index := func(ids ...uint64) {
		must(t, s.update(func(w *wtx) error {
			for _, id := range ids {
				if err := w.putAnalysis(id, a); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	index(900, 7, 500)
	index(3)
	index(3, 1000)
	// Enough IDs to need several chunks, then one in the middle.
	var many []uint64
	for id := uint64(2000); id < 2600; id += 2 {
		many = append(many, id)
	}
	index(many...)
	index(2301)
	want := append([]uint64{3, 7, 500, 900, 1000}, many...)
	want = append(want, 2301)
	slices.Sort(want)
	if got := postingsOf(t, s, term); !slices.Equal(got, want) {
		t.Fatalf("postings = %v\nwant %v", got, want)
	}
}
