package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// The search index. Posting lists live in bktPostings under
// term key (8 bytes, keyed hash of class and word) + chunk number (4
// bytes); each chunk is a run of uvarints, the first absolute, the rest
// deltas, of ascending message IDs. Chunks stay small, so adding a message
// rewrites a few hundred bytes per word, not a whole list.
//
// The vocabulary (bktVocab: keyed hash -> sealed word) lets a search find
// every indexed word that contains the searched string, which is how a
// word index keeps IMAP's substring semantics.
//
// Deleting a message leaves its ID in the posting lists: IDs are never
// reused and search only looks at messages a mailbox still lists, so the
// stale IDs cost a few bytes each and no wrong answers.

const maxChunk = 512

// putAnalysis stores a message's parsed form and queues its index terms
// for flushIndex.
func (w *wtx) putAnalysis(id uint64, a *Analysis) error {
	k := u64key(id)
	if err := w.parsed.Put(k, w.sealValue(bktParsed, k, a.parsed)); err != nil {
		return fmt.Errorf("store: write parsed message: %w", err)
	}
	ai := uint64(len(w.analyses))
	w.analyses = append(w.analyses, a)
	for i, t := range a.terms {
		w.queueTerm(t, id, ai<<32|uint64(a.termWords[i]))
	}
	return nil
}

// termList is what a transaction queues under one term: the messages, and
// where the term's word is, for the vocabulary.
type termList struct {
	ids  []uint64
	word uint64 // index into analyses << 32 | word index in it; or noWord
}

// noWord marks a term queued without its word (migration 3's, of words
// the vocabulary has).
const noWord = ^uint64(0)

// queueTerm queues message id under term, whose word is at word.
func (w *wtx) queueTerm(term, id, word uint64) {
	if w.post == nil {
		w.post = make(map[uint64]uint32)
	}
	i, ok := w.post[term]
	if !ok {
		i = uint32(len(w.lists))
		w.lists = append(w.lists, termList{word: noWord})
		w.post[term] = i
	}
	l := &w.lists[i]
	if l.word == noWord {
		l.word = word
	}
	l.ids = append(l.ids, id)
}

// dropAnalysis removes what putAnalysis wrote, except the posting entries.
func (w *wtx) dropAnalysis(id uint64) error {
	k := u64key(id)
	if err := w.parsed.Delete(k); err != nil {
		return fmt.Errorf("store: delete parsed message: %w", err)
	}
	return nil
}

// flushIndex writes the terms queued in this transaction, in key order:
// neighbouring keys share bbolt pages, so each page is looked up and
// rewritten once per batch rather than once per word.
//
// A word is in the vocabulary from its first posting on, so only a term
// without postings yet may bring a new word: the vocabulary is looked at
// for those alone, not for every word of every message.
func (w *wtx) flushIndex() error {
	type newWord struct {
		key  uint64
		word string
	}
	var words []newWord
	for _, term := range slices.Sorted(maps.Keys(w.post)) {
		l := &w.lists[w.post[term]]
		if !slices.IsSorted(l.ids) {
			// Deferred indexing hands messages over in any order.
			slices.Sort(l.ids)
		}
		first, err := w.appendPostings(term, slices.Compact(l.ids))
		if err != nil {
			return err
		}
		if first && l.word != noWord {
			word := w.analyses[l.word>>32].word(int(uint32(l.word)))
			words = append(words, newWord{w.s.termKey(classVocab, word), word})
		}
	}
	// In key order too: bbolt inserts into a node by moving what follows,
	// which in random order costs the square of the batch's new words.
	slices.SortFunc(words, func(a, b newWord) int { return cmp.Compare(a.key, b.key) })
	for i, nw := range words {
		if i > 0 && nw.key == words[i-1].key {
			continue // the word of several terms
		}
		k := u64key(nw.key)
		if w.vocab.Get(k) != nil {
			continue
		}
		if err := w.vocab.Put(k, w.s.seal.seal(bktVocab, k, []byte(nw.word))); err != nil {
			return fmt.Errorf("store: write vocabulary: %w", err)
		}
		// A word is a slice of its message's words: copy it, so the
		// vocabulary cache does not keep every message's words alive.
		w.newWords = append(w.newWords, strings.Clone(nw.word))
	}
	w.post, w.lists, w.analyses = nil, nil, nil
	return nil
}

// appendPostings adds ascending ids to the posting list of term, after
// the IDs it holds, and reports whether the list was empty.
func (w *wtx) appendPostings(term uint64, ids []uint64) (first bool, err error) {
	prefix := u64key(term)
	c := w.postings.Cursor()
	var lastKey, chunk []byte
	k, _ := c.Seek(postingKey(term, 0xffffffff))
	var v []byte
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	var chunkNo uint32
	var last uint64
	first = true
	if len(k) == 12 && bytes.HasPrefix(k, prefix) {
		chunkNo = binary.BigEndian.Uint32(k[8:])
		last = lastPosting(v)
		if ids[0] <= last {
			return false, w.mergePostings(term, ids)
		}
		first = false
		lastKey = bytes.Clone(k)
		chunk = append(make([]byte, 0, len(v)+8*len(ids)), v...)
	}
	for _, id := range ids {
		if lastKey == nil || len(chunk) >= maxChunk {
			if lastKey != nil {
				if err := w.postings.Put(lastKey, chunk); err != nil {
					return false, fmt.Errorf("store: write postings: %w", err)
				}
				chunkNo++
			}
			lastKey = postingKey(term, chunkNo)
			chunk = binary.AppendUvarint(make([]byte, 0, 64), id)
		} else {
			chunk = binary.AppendUvarint(chunk, id-last)
		}
		last = id
	}
	if err := w.postings.Put(lastKey, chunk); err != nil {
		return false, fmt.Errorf("store: write postings: %w", err)
	}
	return first, nil
}

// mergePostings rewrites the posting list of term with ids merged in: the
// rare case of a message indexed after messages with higher IDs (an
// APPEND whose deferred indexing ran after a sync batch).
func (w *wtx) mergePostings(term uint64, ids []uint64) error {
	prefix := u64key(term)
	var all []uint64
	var keys [][]byte
	c := w.postings.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) == 12 {
			all = append(all, decodePostings(v)...)
			keys = append(keys, bytes.Clone(k))
		}
	}
	for _, k := range keys {
		if err := w.postings.Delete(k); err != nil {
			return fmt.Errorf("store: rewrite postings: %w", err)
		}
	}
	all = append(all, ids...)
	slices.Sort(all)
	all = slices.Compact(all)
	var chunk []byte
	var chunkNo uint32
	var last uint64
	for i, id := range all {
		if i == 0 || len(chunk) >= maxChunk {
			if i > 0 {
				if err := w.postings.Put(postingKey(term, chunkNo), chunk); err != nil {
					return fmt.Errorf("store: write postings: %w", err)
				}
				chunkNo++
			}
			chunk = binary.AppendUvarint(make([]byte, 0, 64), id)
		} else {
			chunk = binary.AppendUvarint(chunk, id-last)
		}
		last = id
	}
	if err := w.postings.Put(postingKey(term, chunkNo), chunk); err != nil {
		return fmt.Errorf("store: write postings: %w", err)
	}
	return nil
}

func postingKey(term uint64, chunk uint32) []byte {
	k := make([]byte, 12)
	binary.BigEndian.PutUint64(k, term)
	binary.BigEndian.PutUint32(k[8:], chunk)
	return k
}

// lastPosting returns the last message ID of one chunk.
func lastPosting(chunk []byte) uint64 {
	var last uint64
	for id := range postings(chunk) {
		last = id
	}
	return last
}

// decodePostings returns the message IDs of one chunk.
func decodePostings(chunk []byte) []uint64 {
	var out []uint64
	for id := range postings(chunk) {
		out = append(out, id)
	}
	return out
}

// postings yields the message IDs of one chunk, in order; it stops at
// the first damaged varint.
func postings(chunk []byte) iter.Seq[uint64] {
	return func(yield func(uint64) bool) {
		var last uint64
		for len(chunk) > 0 {
			d, n := binary.Uvarint(chunk)
			if n <= 0 {
				return
			}
			chunk = chunk[n:]
			last += d
			if !yield(last) {
				return
			}
		}
	}
}

// postingsInto sets the bit of every message listed under term.
func postingsInto(b *bolt.Bucket, term uint64, set *bitset) {
	prefix := u64key(term)
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var last uint64
		for len(v) > 0 {
			d, n := binary.Uvarint(v)
			if n <= 0 {
				break
			}
			v = v[n:]
			last += d
			set.add(last)
		}
	}
}

// vocabulary is the in-memory copy of the unsealed vocabulary, loaded by
// the first search and kept up to date by every later write, with an
// index of the words by their three-byte substrings: a searched token of
// three bytes or more is looked for only in the words that contain its
// rarest trigram, not in every word (a scan of a 100,000-message
// vocabulary took over a millisecond per token).
type vocabulary struct {
	mu     sync.Mutex
	loaded bool
	words  []string
	tri    map[uint32][]int32 // trigram -> ascending indexes into words
}

// index adds words[from:] to the trigram index.
func (v *vocabulary) index(from int) {
	for i := from; i < len(v.words); i++ {
		w := v.words[i]
		for j := 0; j+3 <= len(w); j++ {
			g := trigram(w[j:])
			if l := v.tri[g]; len(l) == 0 || l[len(l)-1] != int32(i) {
				v.tri[g] = append(l, int32(i))
			}
		}
	}
}

func trigram(s string) uint32 { return uint32(s[0])<<16 | uint32(s[1])<<8 | uint32(s[2]) }

// matchingWords returns the vocabulary words that contain tok, at most
// limit+1 of them, loading the vocabulary first if needed.
func (s *Store) matchingWords(tx *bolt.Tx, tok string, limit int) ([]string, error) {
	v := &s.vocab
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.loaded {
		var words []string
		err := tx.Bucket([]byte(bktVocab)).ForEach(func(k, val []byte) error {
			plain, err := s.seal.open(bktVocab, k, val)
			if err != nil {
				return err
			}
			words = append(words, string(plain))
			return nil
		})
		if err != nil {
			return nil, err
		}
		v.words, v.tri, v.loaded = words, make(map[uint32][]int32), true
		v.index(0)
	}
	var matched []string
	add := func(w string) bool {
		if strings.Contains(w, tok) {
			matched = append(matched, w)
		}
		return len(matched) <= limit
	}
	if len(tok) < 3 {
		for _, w := range v.words {
			if !add(w) {
				break
			}
		}
		return matched, nil
	}
	var rarest []int32
	for j := 0; j+3 <= len(tok); j++ {
		l := v.tri[trigram(tok[j:])]
		if len(l) == 0 {
			return nil, nil // no word has this piece of it
		}
		if rarest == nil || len(l) < len(rarest) {
			rarest = l
		}
	}
	for _, i := range rarest {
		if !add(v.words[i]) {
			break
		}
	}
	return matched, nil
}

// addWords records words committed by a write, if the vocabulary is loaded.
// A search that loaded it from an older transaction may miss them once;
// the words are in the file and the next load finds them.
func (s *Store) addWords(words []string) {
	if len(words) == 0 {
		return
	}
	v := &s.vocab
	v.mu.Lock()
	if v.loaded {
		from := len(v.words)
		v.words = append(v.words, words...)
		v.index(from)
	}
	v.mu.Unlock()
}

// maxExpand bounds how many vocabulary words one searched token may stand
// for before the index gives up on it (a one-letter search matches almost
// every word, and every message anyway).
const maxExpand = 4096

// candidates returns the messages that may contain q in the given classes,
// or nil when the index cannot narrow it down; sure tells that every
// candidate matches without looking at its text.
func (s *Store) candidates(tx *bolt.Tx, q string, classes []byte) (set *bitset, sure bool, err error) {
	toks, exact := queryTokens(q)
	if len(toks) == 0 {
		return nil, false, nil
	}
	post := tx.Bucket([]byte(bktPostings))
	used := 0
	for _, tok := range toks {
		matched, err := s.matchingWords(tx, tok, maxExpand)
		if err != nil {
			return nil, false, err
		}
		if len(matched) > maxExpand {
			continue
		}
		one := &bitset{}
		for _, w := range matched {
			for _, c := range classes {
				postingsInto(post, s.termKey(c, w), one)
			}
		}
		if set == nil {
			set = one
		} else {
			set.and(one)
		}
		used++
	}
	return set, exact && used == 1, nil
}

// bitset is a set of message IDs, which are small and dense.
type bitset struct{ w []uint64 }

func (b *bitset) add(id uint64) {
	i := int(id / 64)
	if i >= len(b.w) {
		if i > 1<<26 { // 4 billion messages: a damaged ID, not a real one
			return
		}
		b.w = append(b.w, make([]uint64, i+1-len(b.w))...)
	}
	b.w[i] |= 1 << (id % 64)
}

func (b *bitset) has(id uint64) bool {
	i := int(id / 64)
	return i < len(b.w) && b.w[i]&(1<<(id%64)) != 0
}

func (b *bitset) and(o *bitset) {
	for i := range b.w {
		if i < len(o.w) {
			b.w[i] &= o.w[i]
		} else {
			b.w[i] = 0
		}
	}
}
