package imapsrv

import (
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapserver"
)

// listPattern answers as go-imap's MatchList does, which it replaces
// because that one takes exponential time.
func TestListPatternMatchesLikeGoIMAP(t *testing.T) {
	names := []string{"", "INBOX", "INBOX/a", "Work", "Work/2024", "Work/2024/Q1", "Workshop", "a/b/c", "a%b", "a*b", "Ünïcode/ß", "/", "x/"}
	refs := []string{"", "Work", "Work/", "INBOX", "a/b", "Nope"}
	patterns := []string{"", "*", "%", "%/%", "*/*", "Work", "Work*", "Work%", "Work/%", "Work/*", "%/2024", "*4", "%4", "W%k", "W*k*",
		"**", "%%", "%*", "*%", "%*%", "a%b", "a*b", "/Work", "/*", "*/", "%/", "Ü*", "*ß", "INBOX*", "a/%/c", "*b*c", "%b%"}
	for _, name := range names {
		for _, ref := range refs {
			for _, pat := range patterns {
				want := imapserver.MatchList(name, delim, ref, pat)
				if got := compileList(ref, pat).match(name); got != want {
					t.Errorf("name %q ref %q pattern %q: %v, go-imap %v", name, ref, pat, got, want)
				}
			}
		}
	}
}

// A pattern of many wildcards must not backtrack: this one never
// finishes with go-imap's MatchList. (Fails by hanging the test, not by
// a timed assertion.)
func TestListPatternManyWildcards(t *testing.T) {
	p := compileList("", strings.Repeat("%*", 20000)+"x")
	name := strings.Repeat("a/", 200)
	if p.match(name) {
		t.Errorf("matched %q", name)
	}
	if !p.match(name + "x") {
		t.Errorf("did not match %q", name+"x")
	}
	// Wildcards between literals cannot be collapsed away.
	p = compileList("", strings.Repeat("*a", 200)+"b")
	if name := strings.Repeat("a", 300); p.match(name) {
		t.Errorf("matched %q", name)
	}
	if name := strings.Repeat("a", 300) + "b"; !p.match(name) {
		t.Errorf("did not match %q", name)
	}
}

// Every short pattern against every short name, as go-imap answers.
func TestListPatternExhaustive(t *testing.T) {
	words := func(alphabet string, maxLen int) []string {
		l := []string{""}
		for prev := l; maxLen > 0; maxLen-- {
			var next []string
			for _, w := range prev {
				for _, c := range alphabet {
					next = append(next, w+string(c))
				}
			}
			l = append(l, next...)
			prev = next
		}
		return l
	}
	names := words("ab/", 4)
	for _, ref := range []string{"", "a", "a/"} {
		for _, pat := range words("ab/%*", 4) {
			p := compileList(ref, pat)
			for _, name := range names {
				if got, want := p.match(name), imapserver.MatchList(name, delim, ref, pat); got != want {
					t.Fatalf("name %q ref %q pattern %q: %v, go-imap %v", name, ref, pat, got, want)
				}
			}
		}
	}
}
