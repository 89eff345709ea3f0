package store

import (
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/mailbridge/mailbridge/upstream"
)

// Header fields SEARCH names keys after have their own index terms: a word
// of one field must not answer a key on another, and a single-word key is
// settled by the index alone.
func TestSearchFieldTerms(t *testing.T) {
	s, _ := seeded(t)
	in := func(id, raw string) Incoming {
		return Incoming{Meta: upstream.MessageMeta{ID: id, MailboxIDs: []string{upstream.Inbox}}, Body: []byte(raw)}
	}
	must(t, s.Apply(Changes{Messages: []Incoming{
		in("m1", "From: Hanako Tanaka <hanako@example.jp>\r\nTo: bob@example.org\r\nSubject: lunch\r\n\r\nhi\r\n"),
		in("m2", "From: bob@example.org\r\nTo: Hanako Tanaka <hanako@example.jp>\r\nSubject: re: lunch\r\n\r\nok\r\n"),
		in("m3", "From: carol@example.net (Carol Tanaka-Smith)\r\nCc: Bob <bob@example.org>\r\nBcc: dave@example.com\r\n"+
			"X-Note: tanaka\r\nSubject: Tanaka report\r\n\r\nbody\r\n"),
	}}))
	inbox := box(t, s, "INBOX").ID
	hdr := func(k, v string) *imap.SearchCriteria {
		return &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: k, Value: v}}}
	}
	for _, tc := range []struct {
		key, q string
		want   []uint32
	}{
		{"From", "tanaka", []uint32{1, 3}},
		{"FROM", "ANAK", []uint32{1, 3}}, // substring of a word, any case
		{"To", "tanaka", []uint32{2}},
		{"Cc", "bob", []uint32{3}},
		{"Bcc", "dave", []uint32{3}},
		{"Subject", "tanaka", []uint32{3}},
		{"Subject", "re: lunch", []uint32{2}},
		{"From", "hanako tanaka", []uint32{1}}, // confirmed against the text
		{"From", "tanaka smith", nil},          // both words there, not the phrase
		{"From", "tanaka-smith", []uint32{3}},
		{"X-Note", "tanaka", []uint32{3}}, // other fields: the shared header class
		{"From", "", []uint32{1, 2, 3}},
		{"Bcc", "", []uint32{3}},
	} {
		got, err := s.Search(inbox, hdr(tc.key, tc.q))
		must(t, err)
		if !slices.Equal(got, tc.want) {
			t.Errorf("HEADER %s %q = %v, want %v", tc.key, tc.q, got, tc.want)
		}
	}
	must(t, s.view(func(tx *bolt.Tx) error {
		for _, c := range []byte{classFrom, classTo, classCc, classBcc, classSubject} {
			set, sure, err := s.candidates(tx, "example", []byte{c})
			if err != nil {
				return err
			}
			if set == nil || !sure {
				t.Errorf("class %c: set %v, sure %v", c, set, sure)
			}
		}
		return nil
	}))
}
