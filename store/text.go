package store

import (
	"html"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text as search sees it: case-folded, so that matching is a plain
// substring test, and cut into tokens for the index.

// fold maps s to its case-insensitive form: each rune through upper then
// lower case, which merges the simple case folds (Σ σ ς, K and the Kelvin
// sign) the way IMAP's i;unicode-casemap comparator expects.
func fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	// Mixed text: ASCII bytes are lowered in place, only the other runes
	// go through the Unicode tables (strings.Map was the search's main cost).
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			out = append(out, c)
		} else {
			out = utf8.AppendRune(out, unicode.ToLower(unicode.ToUpper(r)))
		}
		i += size
	}
	return string(out)
}

// Tokens are runs of letters and digits. Runs longer than maxToken runes
// (long words, and scripts written without spaces) are indexed as
// overlapping windows of maxToken runes, each starting tokenStep runes
// after the last, so that every substring of up to tokenStep runes lies
// whole inside one indexed token.
const (
	maxToken  = 64
	tokenStep = 32
)

func isTokenRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// eachToken calls fn for every token of folded text s.
func eachToken(s string, fn func(tok string)) {
	start := -1
	for i := 0; i < len(s); {
		var tok bool
		size := 1
		if c := s[i]; c < utf8.RuneSelf {
			tok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z'
		} else {
			var r rune
			r, size = utf8.DecodeRuneInString(s[i:])
			tok = isTokenRune(r)
		}
		if tok {
			if start < 0 {
				start = i
			}
		} else if start >= 0 {
			emitRun(s[start:i], fn)
			start = -1
		}
		i += size
	}
	if start >= 0 {
		emitRun(s[start:], fn)
	}
}

func emitRun(run string, fn func(string)) {
	if utf8.RuneCountInString(run) <= maxToken {
		fn(run)
		return
	}
	// Byte offsets of every rune, to cut windows on rune boundaries.
	offs := make([]int, 0, len(run)+1)
	for i := range run {
		offs = append(offs, i)
	}
	offs = append(offs, len(run))
	n := len(offs) - 1
	for s := 0; ; s += tokenStep {
		e := min(s+maxToken, n)
		fn(run[offs[s]:offs[e]])
		if e == n {
			return
		}
	}
}

// queryTokens returns the tokens of a folded search string, each cut to
// tokenStep runes (the longest piece sure to lie inside one indexed
// window), and whether the string is exactly one token needing no cut:
// then any message with an indexed token containing it matches for sure.
func queryTokens(q string) (toks []string, exact bool) {
	eachToken(q, func(t string) {
		if utf8.RuneCountInString(t) > tokenStep {
			i := 0
			for n := 0; n < tokenStep; n++ {
				_, size := utf8.DecodeRuneInString(t[i:])
				i += size
			}
			t = t[:i]
		}
		toks = append(toks, t)
	})
	exact = len(toks) == 1 && toks[0] == q
	return toks, exact
}

func htmlUnescape(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	return html.UnescapeString(s)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// indexFold finds an ASCII lower-case sub in s ignoring ASCII case.
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if hasPrefixFold(s[i:], sub) {
			return i
		}
	}
	return -1
}

// wordSet collects the distinct tokens of a message with the classes they
// occur in. It is an open-addressing table over an inline FNV-1a hash:
// with a few thousand tokens per message, Go's map was the largest cost of
// analysing a message.
type wordSet struct {
	slots []wordSlot
	n     int
}

type wordSlot struct {
	word    string
	hash    uint64
	classes byte
}

// init empties the set, reusing its table when it is big enough.
func (ws *wordSet) init(hint int) {
	size := 64
	for size < 2*hint {
		size <<= 1
	}
	ws.n = 0
	if len(ws.slots) >= size && len(ws.slots) <= 4*size {
		clear(ws.slots)
		return
	}
	ws.slots = make([]wordSlot, size)
}

func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h | 1 // never 0: 0 marks an empty slot
}

func (ws *wordSet) add(word string, class byte) { ws.addHashed(word, fnv64(word), class) }

// addHashed adds a word whose fnv64 hash the caller computed already.
func (ws *wordSet) addHashed(word string, h uint64, class byte) {
	if 2*(ws.n+1) > len(ws.slots) {
		old := ws.slots
		ws.slots = make([]wordSlot, 2*len(old))
		ws.n = 0
		for _, sl := range old {
			if sl.hash != 0 {
				ws.insert(sl.word, sl.hash, sl.classes)
			}
		}
	}
	ws.insert(word, h, class)
}

func (ws *wordSet) insert(word string, h uint64, class byte) {
	mask := uint64(len(ws.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		sl := &ws.slots[i]
		if sl.hash == 0 {
			*sl = wordSlot{word: word, hash: h, classes: class}
			ws.n++
			return
		}
		if sl.hash == h && sl.word == word {
			sl.classes |= class
			return
		}
	}
}

func (ws *wordSet) words() []string {
	out := make([]string, 0, ws.n)
	for _, sl := range ws.slots {
		if sl.hash != 0 {
			out = append(out, sl.word)
		}
	}
	return out
}

func (ws *wordSet) classOf(word string) byte {
	h := fnv64(word)
	mask := uint64(len(ws.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		sl := &ws.slots[i]
		if sl.hash == 0 {
			return 0
		}
		if sl.hash == h && sl.word == word {
			return sl.classes
		}
	}
}

// FNV-1a, as fnv64 computes it.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// Token bytes of ASCII as two 64-bit masks (bytes 0-63 and 64-127):
// digits, and upper- and lower-case letters.
const (
	tokenLo = 0x3ff << '0'
	tokenHi = 0x3ffffff<<('A'-64) | 0x3ffffff<<('a'-64)
)

func isTokenByte(c byte) bool {
	if c < 64 {
		return tokenLo>>c&1 != 0
	}
	return c < 128 && tokenHi>>(c-64)&1 != 0
}

// addTokens adds every token of folded text s, as eachToken cuts them, in
// one pass that hashes each token while it is read: analysing a message is
// mostly this loop.
func (ws *wordSet) addTokens(s string, class byte) {
	start, ascii := -1, true
	h := uint64(fnvOffset)
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if !isTokenByte(c) {
				if start >= 0 {
					ws.addRun(s[start:i], h, ascii, class)
					start = -1
				}
				i++
				continue
			}
			if start < 0 {
				start, ascii, h = i, true, fnvOffset
			}
			// The rest of an ASCII run in a tight loop: most text is
			// this. isTokenByte is false beyond ASCII, which ends it.
			for ; i < len(s) && isTokenByte(s[i]); i++ {
				h = (h ^ uint64(s[i])) * fnvPrime
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if isTokenRune(r) {
			if start < 0 {
				start, h = i, fnvOffset
			}
			ascii = false
			for j := i; j < i+size; j++ {
				h = (h ^ uint64(s[j])) * fnvPrime
			}
		} else if start >= 0 {
			ws.addRun(s[start:i], h, ascii, class)
			start = -1
		}
		i += size
	}
	if start >= 0 {
		ws.addRun(s[start:], h, ascii, class)
	}
}

// addRun adds one run of token runes, cut into windows if it is long.
func (ws *wordSet) addRun(run string, h uint64, ascii bool, class byte) {
	if ascii && len(run) <= maxToken || !ascii && utf8.RuneCountInString(run) <= maxToken {
		ws.addHashed(run, h|1, class)
		return
	}
	emitRun(run, func(t string) { ws.add(t, class) })
}

// foldBytes is fold for text in a byte slice, copied once: spans that are
// already folded are copied whole, and only upper-case ASCII and other
// runes are looked at one by one.
func foldBytes(b []byte) string {
	var out strings.Builder
	out.Grow(len(b))
	done := 0
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c < utf8.RuneSelf && (c < 'A' || c > 'Z'):
			i++
			continue
		case c < utf8.RuneSelf:
			out.Write(b[done:i])
			out.WriteByte(c + 'a' - 'A')
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				i++
				continue
			}
			f := unicode.ToLower(unicode.ToUpper(r))
			if f == r {
				i += size
				continue
			}
			out.Write(b[done:i])
			out.WriteRune(f)
			i += size
		}
		done = i
	}
	out.Write(b[done:])
	return out.String()
}
