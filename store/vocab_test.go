package store

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// The trigram index finds exactly the words a scan of the vocabulary
// finds, for tokens of every length, ASCII or not, and for words added
// after it was built.
func TestMatchingWordsAsScanned(t *testing.T) {
	s, _ := seeded(t)
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", "c", "ab", "é", "ß", "1", "0"}
	word := func() string {
		var b strings.Builder
		for range 1 + rng.IntN(9) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	var words []string
	for range 2000 {
		words = append(words, word())
	}
	slices.Sort(words)
	words = slices.Compact(words)
	half := len(words) / 2
	s.vocab.words, s.vocab.tri, s.vocab.loaded = slices.Clone(words[:half]), map[uint32][]int32{}, true
	s.vocab.index(0)
	s.addWords(words[half:])
	for range 500 {
		tok := word()
		var want []string
		for _, w := range words {
			if strings.Contains(w, tok) {
				want = append(want, w)
			}
		}
		must(t, s.view(func(tx *bolt.Tx) error {
			got, err := s.matchingWords(tx, tok, len(words))
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%q: %d words, a scan finds %d", tok, len(got), len(want))
			}
			return err
		}))
	}
}
