package store

import (
	"crypto/aes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"
)

var tokenSamples = []string{
	"",
	"plain ascii words, with punctuation: and 1234 numbers!",
	"MiXeD Case ΣΊΣΥΦΟΣ ς σ K (kelvin) ſ ß ẞ İ ı",
	"日本語のテキストは空白なしで書かれますのでとても長い一続きの文字列になりますが索引は窓で切りますから大丈夫です日本語のテキストは空白なしで",
	strings.Repeat("a", 200) + " " + strings.Repeat("é", 70),
	"bad \xff\xfe utf-8 \xc3 bytes\x80end",
	"tabs\tand\r\nnewlines\n\nx",
	"@AZ[`az{ THE QUICK BROWN FOX @@[[``{{ JUMPS OVER 0123456789 Ünïcödé ÀÉÎ LAZY DOGS~\x7f",
	// ASCII runs that go on in other letters, or after them; other
	// runes that end a run; runs at the window size; one-byte tokens.
	"abcé déf éabc a€b x€ €y naïve café ab9ü",
	strings.Repeat("k", 64) + " " + strings.Repeat("k", 65) + " " + strings.Repeat("k", 63) + "é" + " " + strings.Repeat("k", 64) + "€",
	"a b c 1 2 3 z",
}

// TestAddTokensMatchesEachToken guards the fast tokenizer of Analyze
// against the one queries use: both must cut text the same way, or a
// search would miss what the index holds.
func TestAddTokensMatchesEachToken(t *testing.T) {
	// Enough distinct words, short and long, to make the table grow.
	var many strings.Builder
	for i := range 300 {
		fmt.Fprintf(&many, "w%d longerthaneightbytes%d ", i, i)
	}
	for _, in := range append(slices.Clone(tokenSamples), many.String()) {
		s := fold(in)
		var ws wordSet
		ws.init(8)
		ws.addTokens([]byte(s), 1)
		ws.addTokens([]byte(s), 2)
		text, ends := ws.words()
		var got []string
		start := uint32(0)
		for _, end := range ends {
			got = append(got, text[start:end])
			start = end
		}
		var want []string
		eachToken(s, func(tok string) {
			if !slices.Contains(want, tok) {
				want = append(want, tok)
			}
		})
		if !slices.Equal(got, want) {
			t.Errorf("tokens of %q:\n got %q\nwant %q", in, got, want)
		}
		for i, c := range ws.classes {
			if c != 3 {
				t.Errorf("classes of %q = %d, want 3", got[i], c)
			}
		}
	}
}

func TestFoldAppendMatchesFold(t *testing.T) {
	for _, in := range tokenSamples {
		if got, want := string(foldAppend([]byte("x"), []byte(in))), "x"+fold(in); got != want {
			t.Errorf("foldAppend(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestTermKeyStable pins the index's keyed hash to its first definition
// (CBC-MAC with a zero-padded tail): a change would orphan every posting
// in existing caches.
func TestTermKeyStable(t *testing.T) {
	s, _ := openTest(t)
	ref := func(class byte, word string) uint64 {
		key, err := indexKey(testKey(7))
		if err != nil {
			t.Fatal(err)
		}
		c, err := aes.NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		var blk [16]byte
		blk[0] = class
		binary.BigEndian.PutUint16(blk[1:3], uint16(len(word)))
		n := copy(blk[3:], word)
		c.Encrypt(blk[:], blk[:])
		for rest := word[n:]; len(rest) > 0; {
			var in [16]byte
			m := copy(in[:], rest)
			rest = rest[m:]
			for i := range blk {
				blk[i] ^= in[i]
			}
			c.Encrypt(blk[:], blk[:])
		}
		return binary.BigEndian.Uint64(blk[:8])
	}
	for _, w := range []string{"", "a", "thirteen char", "exactly-13-ch", strings.Repeat("x", 14), strings.Repeat("y", 29), strings.Repeat("z", 30), strings.Repeat("é", 40)} {
		for _, class := range []byte{classHeader, classBody, classVocab} {
			if got, want := s.termKey(class, w), ref(class, w); got != want {
				t.Errorf("termKey(%c, %q) = %x, want %x", class, w, got, want)
			}
		}
	}
}
