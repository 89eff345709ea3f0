package store

import bolt "go.etcd.io/bbolt"

// IsOwnImport reports whether opID names an import still in the outbox.
// The syncer asks before downloading a new upstream message: the echo of
// our own APPEND needs no download, since the plaintext is already cached,
// so it passes an Incoming with that OpID and no Body. Once the import is
// completed the message is bound and HasMessage reports it instead.
func (s *Store) IsOwnImport(opID string) (bool, error) {
	var own bool
	err := s.view(func(tx *bolt.Tx) error {
		seq, ok := s.opSeq(tx.Bucket([]byte(bktOpIDs)), opID)
		if !ok {
			return nil
		}
		k := u64key(seq)
		v := tx.Bucket([]byte(bktOutbox)).Get(k)
		if v == nil {
			return nil
		}
		op, err := decodeOp(s.seal, k, v)
		if err != nil {
			return err
		}
		own = op.Kind == OpImport && op.OpID == opID
		return nil
	})
	return own, err
}
