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
		seq := tx.Bucket([]byte(bktOpIDs)).Get([]byte(opID))
		if len(seq) != 8 {
			return nil
		}
		v := tx.Bucket([]byte(bktOutbox)).Get(seq)
		if v == nil {
			return nil
		}
		op, err := decodeOp(s.seal, seq, v)
		if err != nil {
			return err
		}
		own = op.Kind == OpImport
		return nil
	})
	return own, err
}
