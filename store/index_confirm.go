package store

import (
	"errors"
	"runtime"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
	bolt "go.etcd.io/bbolt"
)

// Confirming search candidates against their text: the part of a search
// the index cannot answer, so the part that has to be cheap.

// parallelMin is the mailbox size from which a search that needs text
// spreads its candidates over all cores.
const parallelMin = 512

// searchDocTx rebuilds the search document of a cached message from its
// sealed body: header fields and decoded text, without the envelope that
// analyzeDoc also builds.
func (s *Store) searchDocTx(tx *bolt.Tx, msgID uint64) (*searchDoc, error) {
	body, err := s.bodyTx(tx, msgID)
	if err != nil {
		return nil, err
	}
	hb, rest := splitHeader(body)
	h := readHeader(hb)
	w := walker{text: make([]byte, 0, len(rest))}
	w.part(h, rest, 0, "text/plain")
	return &searchDoc{fields: headerFields(h), body: string(w.text)}, nil
}

// fieldContains reports whether the header line "name: value" contains q
// without building the line.
func fieldContains(f docField, q string) bool {
	if strings.Contains(f.value, q) || strings.Contains(f.name, q) {
		return true
	}
	if !strings.Contains(q, ":") && !strings.Contains(q, " ") {
		return false // only a match across ": " is left, and q cannot span it
	}
	return strings.Contains(f.name+": "+f.value, q)
}

// unsure returns the string keys the index alone is not sure of: those
// that may have to look at message text.
func (ev *evaluator) unsure() []textKey {
	var keys []textKey
	for k, ki := range ev.keys {
		if ki.set == nil || !ki.sure {
			keys = append(keys, k)
		}
	}
	return keys
}

// filter returns the UIDs of the entries that match c, in order.
func (ev *evaluator) filter(c *imap.SearchCriteria, ents []uidEntry) ([]uint32, error) {
	var out []uint32
	for i := range ents {
		ok, err := ev.match(c, &candidate{entry: &ents[i]})
		if err != nil {
			if errors.Is(err, ErrNoMessage) {
				continue // deleted since the entries were read
			}
			return nil, err
		}
		if ok {
			out = append(out, ents[i].uid)
		}
	}
	return out, nil
}

// filterParallel is filter on every core. Each goroutine has its own read
// transaction (bbolt's are not shared between goroutines) and evaluator,
// sharing the prepared index sets, which are only read from here on.
func (s *Store) filterParallel(proto *evaluator, c *imap.SearchCriteria, ents []uidEntry) ([]uint32, error) {
	n := min(runtime.GOMAXPROCS(0), max(1, len(ents)/(parallelMin/2)))
	parts := make([][]uint32, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for p := range n {
		lo, hi := p*len(ents)/n, (p+1)*len(ents)/n
		wg.Go(func() {
			errs[p] = s.view(func(tx *bolt.Tx) error {
				ev := &evaluator{s: s, tx: tx, keys: proto.keys, maxUID: proto.maxUID, seekOne: proto.seekOne}
				var err error
				parts[p], err = ev.filter(c, ents[lo:hi])
				return err
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var out []uint32
	for _, part := range parts {
		out = append(out, part...)
	}
	return out, nil
}
