package store

import (
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A value sealed into a slab opens like one sealed alone, and slabs are
// reused without disturbing what the last transaction committed.
func TestSealValueSlabs(t *testing.T) {
	s, _ := openTest(t)
	a := s.Analyze([]byte("Subject: s\r\n\r\nbody\r\n"))
	bodies := [][]byte{[]byte("short"), make([]byte, slabLimit+1), make([]byte, slabLimit-100)}
	for round := range 3 {
		must(t, s.update(func(w *wtx) error {
			for i, b := range bodies {
				k := u64key(uint64(10*round + i + 1))
				if err := w.bodies.Put(k, w.sealValue(bktBodies, k, b)); err != nil {
					return err
				}
				if err := w.putAnalysis(decodeU64(k), a); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	must(t, s.view(func(tx *bolt.Tx) error {
		for round := range 3 {
			for i, b := range bodies {
				k := u64key(uint64(10*round + i + 1))
				got, err := s.seal.open(bktBodies, k, tx.Bucket([]byte(bktBodies)).Get(k))
				if err != nil {
					return err
				}
				if !slices.Equal(got, b) {
					t.Errorf("round %d body %d: got %d bytes, want %d", round, i, len(got), len(b))
				}
			}
		}
		return nil
	}))
}
