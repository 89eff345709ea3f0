package store

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/emersion/go-imap/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/mailbridge/mailbridge/upstream"
)

// A search the index narrows to a few messages looks them up through
// their records instead of walking the mailbox: both ways must find the
// same entries, with the same largest UID, whatever else the messages
// are in and whatever was deleted.
func TestCandidateEntriesAsWalked(t *testing.T) {
	s, _ := seeded(t)
	var in []Incoming
	for i := range 40 {
		m := msg(fmt.Sprintf("m%d", i), upstream.Inbox)
		if i%3 == 0 {
			m.Meta.MailboxIDs = append(m.Meta.MailboxIDs, upstream.Archive)
		}
		if i%5 == 0 {
			m.Body = fmt.Appendf(nil, "Subject: rare %d\r\nFrom: Quentin <q@example.test>\r\n\r\nzebra crossing %d\r\n", i, i)
		}
		in = append(in, m)
	}
	must(t, s.Apply(Changes{Messages: in, Deleted: []string{"m10", "m35"}}))
	for _, name := range []string{"INBOX", "Archive", "Trash"} {
		mb := box(t, s, name)
		for _, c := range []*imap.SearchCriteria{
			{Body: []string{"zebra"}},
			{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "quentin"}}},
			{Text: []string{"crossing"}, Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "rare"}}},
			{Body: []string{"nowhere to be found"}},
		} {
			must(t, s.view(func(tx *bolt.Tx) error {
				ev := &evaluator{s: s, tx: tx, keys: map[textKey]*keyIndex{}}
				if err := ev.prepare(c); err != nil {
					return err
				}
				keep := ev.required(c)
				ids := fewCandidates(keep)
				if ids == nil {
					t.Fatalf("%s %+v: no candidates to look up", name, c)
				}
				walked, walkedMax, err := walkEntries(tx, mb.ID, keep)
				must(t, err)
				direct, directMax, err := candidateEntries(tx, mb.ID, ids)
				must(t, err)
				if len(walked) == 0 && len(direct) == 0 {
					walked, direct = nil, nil
				}
				if !reflect.DeepEqual(walked, direct) || walkedMax != directMax {
					t.Errorf("%s %+v:\nwalked %+v (max %d)\ndirect %+v (max %d)", name, c, walked, walkedMax, direct, directMax)
				}
				return nil
			}))
		}
	}
}
