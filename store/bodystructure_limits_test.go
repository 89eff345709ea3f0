package store

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// nestedPrefixBoundaries is a message whose multiparts nest depth deep,
// each boundary a prefix of the next one's ("b1", "b10"...).
func nestedPrefixBoundaries(depth int) string {
	b := func(i int) string { return fmt.Sprintf("b%d", i) }
	inner := "--" + b(depth) + "\r\nContent-Type: text/plain\r\n\r\nleaf\r\n--" + b(depth) + "--\r\n"
	for i := depth - 1; i >= 0; i-- {
		inner = "--" + b(i) + "\r\nContent-Type: multipart/mixed; boundary=\"" + b(i+1) + "\"\r\n\r\n" + inner + "--" + b(i) + "--\r\n"
	}
	return "Subject: deep\r\nContent-Type: multipart/mixed; boundary=\"" + b(0) + "\"\r\n\r\n" + inner
}

func countParts(bs imap.BodyStructure) (n int) {
	bs.Walk(func([]int, imap.BodyStructure) bool { n++; return true })
	return n
}

// A delimiter line of "b1" followed by "0" is not a delimiter of "b1":
// taking it for one listed every later part again, so that a 3 KB
// message of 45 such levels had a 22 MB BODYSTRUCTURE.
func TestPrefixBoundariesDoNotMultiplyParts(t *testing.T) {
	for _, depth := range []int{3, 20, 45} {
		s, _ := openTest(t)
		a := s.Analyze([]byte(nestedPrefixBoundaries(depth)))
		p, err := decodeParsedBinary(a.parsed)
		if err != nil {
			t.Fatal(err)
		}
		// One multipart per level and the leaf; past the nesting limit
		// the rest is one opaque part.
		want := depth + 2
		if depth >= maxDepth {
			want = maxDepth + 1
		}
		if n := countParts(p.BodyStructure); n != want {
			t.Errorf("depth %d: %d parts, want %d", depth, n, want)
		}
	}
}

// However many parts a message has, its BODYSTRUCTURE lists at most
// maxParts of them.
func TestBodyStructurePartsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("Subject: many\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n")
	for range 3 * maxParts {
		b.WriteString("--x\r\n\r\n.\r\n")
	}
	b.WriteString("--x--\r\n")
	s, _ := openTest(t)
	a := s.Analyze([]byte(b.String()))
	p, err := decodeParsedBinary(a.parsed)
	if err != nil {
		t.Fatal(err)
	}
	if n := countParts(p.BodyStructure); n > maxParts {
		t.Errorf("%d parts listed, limit %d", n, maxParts)
	}
}
