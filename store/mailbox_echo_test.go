package store

import (
	"testing"

	"github.com/mailbridge/mailbridge/upstream"
)

// Renamed on both sides, the remote rename first: the local rename
// reached the upstream last, so its name stands (docs/ARCHITECTURE.md,
// Failure rules), although the pusher recorded it before the remote
// rename's event came and its echo comes after that (found in review).
func TestOwnRenameEchoAfterRemoteRename(t *testing.T) {
	s, _ := seeded(t)
	must(t, s.RenameMailbox("Work", "Local"))
	ops := pending(t, s)
	if len(ops) != 1 || ops[0].Kind != OpRenameMailbox {
		t.Fatalf("ops: %+v", ops)
	}
	// Upstream: renamed to Remote elsewhere (event 1), then our push
	// renames it to Local (event 2, our OpID); the pusher records it.
	must(t, s.CompleteOp(ops[0].Seq, ""))
	must(t, s.Apply(Changes{Mailboxes: []upstream.Mailbox{{ID: "L1", Name: "Remote", Kind: upstream.KindUser}}}))
	must(t, s.Apply(Changes{
		Mailboxes:    []upstream.Mailbox{{ID: "L1", Name: "Local", Kind: upstream.KindUser}},
		MailboxOpIDs: []string{ops[0].OpID},
		OpIDs:        []string{ops[0].OpID},
	}))
	mb, err := s.MailboxByName("Local")
	if err != nil || mb.UpstreamID != "L1" {
		mbs, _ := s.Mailboxes()
		var names []string
		for _, m := range mbs {
			names = append(names, m.Name+"="+m.UpstreamID)
		}
		t.Fatalf("upstream L1 is Local, the cache has %q", names)
	}
}

// One batch with the echo of this cache's rename and, after it, a rename
// made elsewhere: each event keeps its own OpID, so the foreign one is
// followed.
func TestForeignRenameAfterOwnEchoInOneBatch(t *testing.T) {
	s, _ := seeded(t)
	must(t, s.RenameMailbox("Work", "Local"))
	ops := pending(t, s)
	must(t, s.CompleteOp(ops[0].Seq, ""))
	// What syncer.changes builds from [echo "Local", foreign "Remote"].
	must(t, s.Apply(Changes{
		Mailboxes: []upstream.Mailbox{
			{ID: "L1", Name: "Local", Kind: upstream.KindUser},
			{ID: "L1", Name: "Remote", Kind: upstream.KindUser},
		},
		MailboxOpIDs: []string{ops[0].OpID, ""},
		OpIDs:        []string{ops[0].OpID},
	}))
	if mb, err := s.MailboxByName("Remote"); err != nil || mb.UpstreamID != "L1" {
		t.Fatalf("upstream L1 is Remote: %v %+v", err, mb)
	}
}
