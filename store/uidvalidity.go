package store

import (
	"encoding/binary"

	bolt "go.etcd.io/bbolt"
)

// LastUIDValidity returns the highest UIDVALIDITY this cache has handed
// out. The bridge keeps it outside the cache (Options.UIDValidityFloor),
// because it must outlive the cache file.
func (s *Store) LastUIDValidity() (uint32, error) {
	var v uint32
	err := s.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte(bktMeta)); b != nil {
			if raw := b.Get(keyUIDValidity); len(raw) == 4 {
				v = binary.BigEndian.Uint32(raw)
			}
		}
		return nil
	})
	return v, err
}
