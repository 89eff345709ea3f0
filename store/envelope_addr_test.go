package store

import (
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// RFC 5322 section 3.4 allows comments before and around every address;
// net/mail takes only one at the end, and dropped the rest of the address
// (found by TestDovecotDifferential).
func TestAddressesWithComments(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []imap.Address
	}{
		{"(a comment) commented@example.test (Commented Person), <angle-only@example.test>", []imap.Address{
			{Name: "Commented Person", Mailbox: "commented", Host: "example.test"},
			{Mailbox: "angle-only", Host: "example.test"},
		}},
		{"(c) Name <a@b.test>", []imap.Address{{Name: "Name", Mailbox: "a", Host: "b.test"}}},
		{"a(c)@b.test", []imap.Address{{Mailbox: "a", Host: "b.test"}}},
		{`"x (not a comment)" <a@b.test>, (nested (one)) c@d.test`, []imap.Address{
			{Name: "x (not a comment)", Mailbox: "a", Host: "b.test"},
			{Mailbox: "c", Host: "d.test"},
		}},
		{`(esc \) paren) a@b.test`, []imap.Address{{Mailbox: "a", Host: "b.test"}}},
	} {
		if got := addressList(c.in); !slices.Equal(got, c.want) {
			t.Errorf("addressList(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
}
