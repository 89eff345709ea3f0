package store

import (
	"encoding/binary"
	"html"
	"slices"
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
			out = utf8.AppendRune(out, foldRune(r))
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
// occur in: analysing a message is mostly filling it, a few thousand
// tokens per message. It is an open-addressing table whose slots hold a
// word's first 8 bytes, so that short words, most of them, are hashed
// and compared without a loop or a call. The words themselves are copied
// into one arena, so the table holds no pointers and the text it was read
// from can be reused.
type wordSet struct {
	slots   []wordSlot
	arena   []byte   // the words, one after the other
	ends    []uint32 // where each word ends in arena
	classes []byte   // the classes of each word
}

type wordSlot struct {
	head uint64 // the word's first 8 bytes, little-endian, zero-padded
	word uint32 // index into ends and classes
	n    uint16 // bytes; 0: empty slot
}

// init empties the set, reusing its table when it is big enough.
func (ws *wordSet) init(hint int) {
	size := 64
	for size < 2*hint {
		size <<= 1
	}
	ws.arena, ws.ends, ws.classes = ws.arena[:0], ws.ends[:0], ws.classes[:0]
	if len(ws.slots) >= size && len(ws.slots) <= 4*size {
		clear(ws.slots)
		return
	}
	ws.slots = make([]wordSlot, size)
}

// wordHash hashes a word of n bytes starting with head (as load8 reads
// it) and continuing with tail, its bytes after the first 8.
func wordHash(head uint64, n int, tail []byte) uint64 {
	h := (head ^ uint64(n)<<56) * hashMul
	for len(tail) > 0 {
		m := min(len(tail), 8)
		h = (h ^ h>>29 ^ load8(tail, 0, m)) * hashMul
		tail = tail[m:]
	}
	return h ^ h>>32
}

// hashMul is 2^64 divided by the golden ratio, odd: multiplying by it
// spreads a word's bits over the high half.
const hashMul = 0x9e3779b97f4a7c15

// load8 returns the n <= 8 bytes of b at i as a little-endian word.
func load8(b []byte, i, n int) uint64 {
	if i+8 <= len(b) {
		return binary.LittleEndian.Uint64(b[i:]) & (^uint64(0) >> (64 - 8*n))
	}
	return loadShort(b, i, n)
}

// loadShort is load8 near the end of b.
func loadShort(b []byte, i, n int) uint64 {
	var v uint64
	for j := range n {
		v |= uint64(b[i+j]) << (8 * j)
	}
	return v
}

func (ws *wordSet) add(word string, class byte) { ws.addWord([]byte(word), 0, len(word), class) }

// addWord adds the word b[i:j], 0 < j-i < 1<<16.
func (ws *wordSet) addWord(b []byte, i, j int, class byte) {
	if 2*(len(ws.ends)+1) > len(ws.slots) {
		ws.grow()
	}
	n := j - i
	head := load8(b, i, min(n, 8))
	var h uint64
	if n <= 8 {
		h = (head ^ uint64(n)<<56) * hashMul
		h ^= h >> 32
	} else {
		h = wordHash(head, n, b[i+8:j])
	}
	mask := uint64(len(ws.slots) - 1)
	for k := h & mask; ; k = (k + 1) & mask {
		sl := &ws.slots[k]
		if sl.n == 0 {
			*sl = wordSlot{head: head, word: uint32(len(ws.ends)), n: uint16(n)}
			ws.arena = append(ws.arena, b[i:j]...)
			ws.ends = append(ws.ends, uint32(len(ws.arena)))
			ws.classes = append(ws.classes, class)
			return
		}
		if sl.head == head && int(sl.n) == n && (n <= 8 || string(ws.arena[ws.ends[sl.word]-uint32(n)+8:ws.ends[sl.word]]) == string(b[i+8:j])) {
			ws.classes[sl.word] |= class
			return
		}
	}
}

// grow doubles the table.
func (ws *wordSet) grow() {
	old := ws.slots
	ws.slots = make([]wordSlot, 2*len(old))
	mask := uint64(len(ws.slots) - 1)
	for _, sl := range old {
		if sl.n == 0 {
			continue
		}
		end := ws.ends[sl.word]
		tail := ws.arena[end-uint32(sl.n)+min(uint32(sl.n), 8) : end]
		k := wordHash(sl.head, int(sl.n), tail) & mask
		for ws.slots[k].n != 0 {
			k = (k + 1) & mask
		}
		ws.slots[k] = sl
	}
}

// words returns the words as one string and where each ends in it, in
// the order they were added. Neither holds a pointer per word, which the
// garbage collector would have to follow while the words wait for their
// batch.
func (ws *wordSet) words() (string, []uint32) {
	return string(ws.arena), slices.Clone(ws.ends)
}

// tokenByte tells the ASCII bytes that are token runes: digits and
// letters. Bytes from 0x80 start other runes and are looked at as such.
var tokenByte = func() (t [256]bool) {
	for c := range 128 {
		t[c] = c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	return t
}()

// addTokens adds every token of folded text b, as eachToken cuts them.
func (ws *wordSet) addTokens(b []byte, class byte) {
	start, ascii := -1, true
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if !tokenByte[c] {
				if start >= 0 {
					ws.addRun(b, start, i, ascii, class)
					start = -1
				}
				i++
				continue
			}
			if start < 0 {
				start, ascii = i, true
			}
			// The rest of an ASCII run in a tight loop: most text is
			// this. tokenByte is false beyond ASCII, which ends it.
			for i++; i < len(b) && tokenByte[b[i]]; i++ {
			}
			if i < len(b) && b[i] >= utf8.RuneSelf {
				continue // the run may go on in other letters
			}
			// It ends at the end or at an ASCII separator, which goes too.
			if ascii && i-start <= maxToken {
				ws.addWord(b, start, i, class)
			} else {
				ws.addRun(b, start, i, ascii, class)
			}
			start = -1
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if isTokenRune(r) {
			if start < 0 {
				start = i
			}
			ascii = false
		} else if start >= 0 {
			ws.addRun(b, start, i, ascii, class)
			start = -1
		}
		i += size
	}
	if start >= 0 {
		ws.addRun(b, start, len(b), ascii, class)
	}
}

// addRun adds the run of token runes b[i:j], cut into windows if it is
// long.
func (ws *wordSet) addRun(b []byte, i, j int, ascii bool, class byte) {
	if j-i <= maxToken || !ascii && utf8.RuneCount(b[i:j]) <= maxToken {
		ws.addWord(b, i, j, class)
		return
	}
	emitRun(string(b[i:j]), func(t string) { ws.add(t, class) })
}

// foldAppend appends fold(b) to dst. ASCII goes 8 bytes at a time, only
// other runes are looked at one by one.
func foldAppend(dst, b []byte) []byte {
	const ones = 0x0101010101010101
	dst = slices.Grow(dst, len(b))
	for i := 0; i < len(b); {
		if i+8 <= len(b) {
			if v := binary.LittleEndian.Uint64(b[i:]); v&(0x80*ones) == 0 {
				// A byte below 0x80 plus 0x80-'A' has its top bit set
				// from 'A' on, plus 0x80-'Z'-1 from after 'Z' on: the
				// difference marks upper case, and 0x20 lowers it.
				upper := (v + (0x80-'A')*ones) &^ (v + (0x80-'Z'-1)*ones) & (0x80 * ones)
				dst = binary.LittleEndian.AppendUint64(dst, v|upper>>2)
				i += 8
				continue
			}
		}
		c := b[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if f := foldRune(r); f != r && (r != utf8.RuneError || size > 1) {
			dst = utf8.AppendRune(dst, f)
		} else {
			dst = append(dst, b[i:i+size]...)
		}
		i += size
	}
	return dst
}

// foldRune is the case fold of r, as fold has it. The two-byte runes
// (Latin, Greek, Cyrillic, Hebrew, Arabic) come from a table: through
// the Unicode tables they cost more than the rest of folding together.
func foldRune(r rune) rune {
	if 0 <= r && r < rune(len(twoByteFolds)) {
		return twoByteFolds[r]
	}
	return unicode.ToLower(unicode.ToUpper(r))
}

var twoByteFolds = func() (t [0x800]rune) {
	for r := range t {
		t[r] = unicode.ToLower(unicode.ToUpper(rune(r)))
	}
	return t
}()
