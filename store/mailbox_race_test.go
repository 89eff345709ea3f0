package store

import (
	"slices"
	"testing"

	"github.com/mailbridge/mailbridge/upstream"
)

// The upstream's event for a label this cache created comes while a
// rename of it is still queued: the event has the old name, and the
// local one, which the queued rename takes upstream, stands. Found by
// TestDovecotDifferential: RENAME right after CREATE showed the old and
// the new tree together, and the next RENAME failed.
func TestMailboxEventDoesNotUndoQueuedRename(t *testing.T) {
	userNames := func(s *Store) []string {
		t.Helper()
		mbs, err := s.Mailboxes()
		must(t, err)
		var out []string
		for _, mb := range mbs {
			if mb.Role == RoleNone {
				out = append(out, mb.Name+"="+mb.UpstreamID)
			}
		}
		slices.Sort(out)
		return out
	}
	for _, bound := range []bool{false, true} {
		s, _ := openTest(t)
		must(t, s.Apply(Changes{Mailboxes: systemBoxes}))
		_, err := s.CreateMailbox("X/a")
		must(t, err)
		_, err = s.CreateMailbox("X/a/kid")
		must(t, err)
		creates := pending(t, s) // X, X/a, X/a/kid
		if len(creates) != 3 {
			t.Fatalf("ops: %+v", creates)
		}
		ids := map[string]string{"X": "N0", "X/a": "N1", "X/a/kid": "N2"}
		if bound {
			// The pusher recorded the creates before the events came.
			for _, op := range creates {
				must(t, s.CompleteOp(op.Seq, ids[op.Name]))
			}
		}
		must(t, s.RenameMailbox("X/a", "X/b"))
		// The creates' events, each with the create's OpID.
		var c Changes
		for _, op := range creates {
			c.Mailboxes = append(c.Mailboxes, upstream.Mailbox{ID: ids[op.Name], Name: op.Name, Kind: upstream.KindUser})
			c.MailboxOpIDs = append(c.MailboxOpIDs, op.OpID)
			c.OpIDs = append(c.OpIDs, op.OpID)
		}
		must(t, s.Apply(c))
		want := []string{"Home=L2", "Work=L1", "X/b/kid=N2", "X/b=N1", "X=N0"}
		if got := userNames(s); !slices.Equal(got, want) {
			t.Errorf("bound %v: after the creates' events: %q, want %q", bound, got, want)
		}
		if !bound {
			// The pusher's own record of the creates comes late.
			for _, op := range creates {
				must(t, s.CompleteOp(op.Seq, ids[op.Name]))
			}
		}
		// The renames go up as renames of the labels the creates made.
		renames := pending(t, s)
		var got []string
		for _, op := range renames {
			got = append(got, op.Kind.String()+" "+op.MailboxID+" "+op.Name)
		}
		if want := []string{"rename-mailbox N1 X/b", "rename-mailbox N2 X/b/kid"}; !slices.Equal(got, want) {
			t.Errorf("bound %v: ops after the creates: %q, want %q", bound, got, want)
		}
		// Their echoes change nothing, and a rename made elsewhere
		// after them is followed.
		c = Changes{Mailboxes: []upstream.Mailbox{{ID: "N1", Name: "X/b", Kind: upstream.KindUser}, {ID: "N2", Name: "X/b/kid", Kind: upstream.KindUser}}}
		for _, op := range renames {
			c.OpIDs = append(c.OpIDs, op.OpID)
			c.MailboxOpIDs = append(c.MailboxOpIDs, op.OpID)
		}
		must(t, s.Apply(c))
		must(t, s.Apply(Changes{Mailboxes: []upstream.Mailbox{{ID: "N1", Name: "Y", Kind: upstream.KindUser}}}))
		// A late echo of an op long done changes nothing either.
		must(t, s.Apply(Changes{Mailboxes: []upstream.Mailbox{{ID: "N1", Name: "X/a", Kind: upstream.KindUser}},
			MailboxOpIDs: []string{creates[1].OpID}}))
		if got, want := userNames(s), []string{"Home=L2", "Work=L1", "X/b/kid=N2", "X=N0", "Y=N1"}; !slices.Equal(got, want) {
			t.Errorf("bound %v: at the end: %q, want %q", bound, got, want)
		}
		if ops := pending(t, s); len(ops) != 0 {
			t.Errorf("bound %v: ops left: %+v", bound, ops)
		}
	}
}
