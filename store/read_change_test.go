package store

import (
	"testing"
	"time"
)

// A ChangeAdded carries what Entries would list for the message, for
// APPEND and for synced mail alike.
func TestChangeAddedCarriesEntry(t *testing.T) {
	s, _ := seeded(t)
	var rec recorder
	defer s.Watch(rec.add)()
	inbox := box(t, s, "INBOX")
	date := time.Date(2021, 5, 6, 7, 8, 9, 0, time.UTC)
	_, _, err := s.Append(inbox.ID, []byte("Subject: hi\r\n\r\nbody\r\n"), []string{`\Seen`}, date)
	must(t, err)
	must(t, s.Apply(Changes{Messages: []Incoming{msg("synced", "inbox")}}))

	byUID := make(map[uint32]Entry)
	for _, e := range entries(t, s, "INBOX") {
		byUID[e.UID] = e
	}
	n := 0
	for _, c := range rec.take() {
		if c.Kind != ChangeAdded || c.Mailbox != inbox.ID {
			continue
		}
		n++
		e, ok := byUID[c.UID]
		if !ok {
			t.Fatalf("change for UID %d not listed", c.UID)
		}
		if c.MsgID != e.MsgID || c.Size != e.Size || !c.Date.Equal(e.Date) || c.MsgID == 0 {
			t.Errorf("UID %d: change has msg %d size %d date %v, entry %d %d %v",
				c.UID, c.MsgID, c.Size, c.Date, e.MsgID, e.Size, e.Date)
		}
	}
	if n != 2 {
		t.Fatalf("%d INBOX additions reported, want 2", n)
	}
}
