package store

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Parsed returns what IMAP needs about a message besides its body: its
// envelope, body structure and header block, parsed when the message
// entered the cache.
func (s *Store) Parsed(msgID uint64) (*Parsed, error) {
	var p *Parsed
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		p, err = s.parsedTx(tx, msgID)
		return err
	})
	return p, err
}

// ParsedMany calls fn with the parsed form of each message, in the order
// given, from one read transaction (FETCH 1:* without a transaction per
// message). The values are fresh copies that fn may keep. A message that
// is gone is skipped; an error from fn stops the walk and is returned.
func (s *Store) ParsedMany(msgIDs []uint64, fn func(msgID uint64, p *Parsed) error) error {
	return s.view(func(tx *bolt.Tx) error {
		for _, id := range msgIDs {
			p, err := s.parsedTx(tx, id)
			if err != nil {
				if errors.Is(err, ErrNoMessage) {
					continue
				}
				return err
			}
			if err := fn(id, p); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) parsedTx(tx *bolt.Tx, msgID uint64) (*Parsed, error) {
	plain, err := s.parsedWireTx(tx, msgID)
	if err != nil {
		return nil, err
	}
	return decodeStoredParsed(plain)
}

// headerTx returns a message's header block, decoding nothing else of its
// parsed form: what header searches need of a candidate.
func (s *Store) headerTx(tx *bolt.Tx, msgID uint64) ([]byte, error) {
	plain, err := s.parsedWireTx(tx, msgID)
	if err != nil {
		return nil, err
	}
	return storedHeader(plain)
}

// parsedWireTx returns a message's parsed form as stored: from the file,
// or for a message appended within the last moment, from the index
// queue (deferIndex).
func (s *Store) parsedWireTx(tx *bolt.Tx, msgID uint64) ([]byte, error) {
	k := u64key(msgID)
	if v := tx.Bucket([]byte(bktParsed)).Get(k); v != nil {
		s.noteRead(len(v))
		return s.seal.open(bktParsed, k, v)
	}
	if plain := s.queuedParsed(msgID); plain != nil {
		return plain, nil
	}
	a, err := s.analyzeStored(tx, msgID)
	if err != nil {
		return nil, err
	}
	return a.parsed, nil
}

// analyzeStored parses a cached body whose analysis is missing: an
// appended message read by a transaction that began before its index
// batch was committed but after the batch left the queue, or once Close
// stopped the queue.
func (s *Store) analyzeStored(tx *bolt.Tx, msgID uint64) (*Analysis, error) {
	body, err := s.bodyTx(tx, msgID)
	if err != nil {
		return nil, err
	}
	return s.Analyze(body), nil
}

func (s *Store) bodyTx(tx *bolt.Tx, msgID uint64) ([]byte, error) {
	return s.appendBodyTx(nil, tx, msgID)
}

// appendBodyTx is bodyTx appending the body to dst.
func (s *Store) appendBodyTx(dst []byte, tx *bolt.Tx, msgID uint64) ([]byte, error) {
	k := u64key(msgID)
	v := tx.Bucket([]byte(bktBodies)).Get(k)
	if v == nil {
		return nil, fmt.Errorf("%w: id %d", ErrNoMessage, msgID)
	}
	s.noteRead(len(v))
	return s.seal.openInto(dst, bktBodies, k, v)
}
