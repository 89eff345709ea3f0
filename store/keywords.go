package store

import (
	"encoding/binary"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Keyword names are sealed in their own table; messages and entries keep
// only the IDs. The per-message count of queued ops lives here too.

func (w *wtx) loadKeywords() error {
	if w.kwNames != nil {
		return nil
	}
	names, err := loadKeywords(w.tx, w.s.seal)
	if err != nil {
		return err
	}
	w.kwNames = names
	w.kwIDs = make(map[string]uint32, len(names))
	for id, n := range names {
		w.kwIDs[strings.ToLower(n)] = id
	}
	return nil
}

// keywordIDs maps keyword names to IDs, creating missing ones if create.
func (w *wtx) keywordIDs(names []string, create bool) ([]uint32, error) {
	if len(names) == 0 {
		return nil, nil
	}
	if err := w.loadKeywords(); err != nil {
		return nil, err
	}
	var ids []uint32
	for _, n := range names {
		id, ok := w.kwIDs[strings.ToLower(n)]
		if !ok {
			if !create {
				continue
			}
			seq, err := w.keywords.NextSequence()
			if err != nil {
				return nil, fmt.Errorf("store: keyword id: %w", err)
			}
			id = uint32(seq)
			k := binary.BigEndian.AppendUint32(nil, id)
			if err := w.keywords.Put(k, w.s.seal.seal(bktKeywords, k, []byte(n))); err != nil {
				return nil, fmt.Errorf("store: write keyword: %w", err)
			}
			w.kwIDs[strings.ToLower(n)] = id
			w.kwNames[id] = n
		}
		ids = append(ids, id)
	}
	return sortedUnique(ids), nil
}

// loadKeywords unseals the keyword table.
func loadKeywords(tx *bolt.Tx, seal *sealer) (map[uint32]string, error) {
	names := make(map[uint32]string)
	err := tx.Bucket([]byte(bktKeywords)).ForEach(func(k, v []byte) error {
		if len(k) != 4 {
			return fmt.Errorf("%w: keyword key", errCorrupt)
		}
		plain, err := seal.open(bktKeywords, k, v)
		if err != nil {
			return err
		}
		names[binary.BigEndian.Uint32(k)] = string(plain)
		return nil
	})
	return names, err
}

// ---- pending op counts ----

func (w *wtx) pendingCount(msgID uint64) uint32 {
	if v := w.pending.Get(u64key(msgID)); len(v) == 4 {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (w *wtx) addPending(msgID uint64, delta int) error {
	n := int(w.pendingCount(msgID)) + delta
	k := u64key(msgID)
	if n <= 0 {
		return w.pending.Delete(k)
	}
	return w.pending.Put(k, binary.BigEndian.AppendUint32(nil, uint32(n)))
}
