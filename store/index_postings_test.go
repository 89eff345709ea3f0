package store

import (
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/mailbridge/mailbridge/upstream"
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

// The vocabulary gets a word with the first posting of any of its terms,
// once: a word first seen in the body and later in a subject, or in a
// later transaction, is still listed once, and substring searches find
// words added in every transaction, after a reopen too.
func TestVocabularyFromFirstPostings(t *testing.T) {
	s, path := seeded(t)
	add := func(id, raw string) {
		must(t, s.Apply(Changes{Messages: []Incoming{{
			Meta: upstream.MessageMeta{ID: id, MailboxIDs: []string{upstream.Inbox}}, Body: []byte(raw)}}}))
	}
	add("a", "Subject: first\r\n\r\nnumbat wombat\r\n")
	add("b", "Subject: numbat again\r\n\r\nquokka wombat\r\n")
	add("c", "Subject: numbat\r\n\r\nwombat\r\n")
	vocab := func(s *Store) map[string]int {
		words := map[string]int{}
		must(t, s.view(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte(bktVocab)).ForEach(func(k, v []byte) error {
				w, err := s.seal.open(bktVocab, k, v)
				words[string(w)]++
				return err
			})
		}))
		return words
	}
	for w, n := range vocab(s) {
		if n != 1 {
			t.Errorf("%q is in the vocabulary %d times", w, n)
		}
	}
	for _, w := range []string{"first", "numbat", "wombat", "again", "quokka"} {
		if vocab(s)[w] != 1 {
			t.Errorf("%q is not in the vocabulary", w)
		}
	}
	inbox := box(t, s, "INBOX").ID
	check := func(s *Store) {
		t.Helper()
		for q, want := range map[string][]uint32{"umba": {1, 2, 3}, "okk": {2}, "gai": {2}} {
			got, err := s.Search(inbox, &imap.SearchCriteria{Text: []string{q}})
			must(t, err)
			if !slices.Equal(got, want) {
				t.Errorf("TEXT %q = %v, want %v", q, got, want)
			}
		}
		got, err := s.Search(inbox, &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "umba"}}})
		must(t, err)
		if !slices.Equal(got, []uint32{2, 3}) {
			t.Errorf("SUBJECT umba = %v, want [2 3]", got)
		}
	}
	check(s)
	must(t, s.Close())
	check(reopen(t, path))
}

// A message of many new words, written at once, puts every one of them
// in the vocabulary: substring searches find it by any of them.
func TestVocabularyOfManyNewWords(t *testing.T) {
	s, _ := seeded(t)
	raw := distinctWords(64 << 10)
	must(t, s.Apply(Changes{Messages: []Incoming{{Meta: upstream.MessageMeta{ID: "x", MailboxIDs: []string{upstream.Inbox}}, Body: raw}}}))
	inbox := box(t, s, "INBOX").ID
	_, body := splitHeader(raw)
	words := strings.Fields(string(body))
	for _, w := range []string{words[0], words[len(words)/2], words[len(words)-1]} {
		got, err := s.Search(inbox, &imap.SearchCriteria{Text: []string{w}})
		must(t, err)
		if !slices.Equal(got, []uint32{1}) {
			t.Errorf("TEXT %q = %v, want [1]", w, got)
		}
	}
}
