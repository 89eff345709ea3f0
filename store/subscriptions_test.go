package store

import (
	"bytes"
	"os"
	"slices"
	"testing"
)

// A client's DELETE keeps the mailbox's subscription, sealed, across a
// restart; a new mailbox of that name takes it, and so does a rename onto
// it; unsubscribing drops it.
func TestOrphanSubscriptions(t *testing.T) {
	s, path := seeded(t)
	for _, name := range []string{"Orphaned Folder", "Other"} {
		_, err := s.CreateMailbox(name)
		must(t, err)
		must(t, s.SetSubscribed(name, true))
		must(t, s.DeleteMailbox(name))
	}
	must(t, s.Close())
	raw, err := os.ReadFile(path)
	must(t, err)
	if bytes.Contains(raw, []byte("Orphaned Folder")) {
		t.Error("the orphan subscription is in the file in the clear")
	}
	s = reopen(t, path)
	orphans, err := s.OrphanSubscriptions()
	must(t, err)
	if !slices.Equal(orphans, []string{"Orphaned Folder", "Other"}) {
		t.Fatalf("orphans after reopen: %q", orphans)
	}
	mb, err := s.CreateMailbox("Orphaned Folder")
	must(t, err)
	if !mb.Subscribed {
		t.Error("a new mailbox does not take its name's subscription")
	}
	_, err = s.CreateMailbox("Renamed")
	must(t, err)
	must(t, s.RenameMailbox("Renamed", "Other"))
	if mb, err := s.MailboxByName("Other"); err != nil || !mb.Subscribed {
		t.Errorf("a mailbox renamed onto a subscribed name: %+v %v", mb, err)
	}
	orphans, err = s.OrphanSubscriptions()
	must(t, err)
	if len(orphans) != 0 {
		t.Errorf("orphans left: %q", orphans)
	}
	must(t, s.DeleteMailbox("Other"))
	must(t, s.SetSubscribed("Other", false))
	must(t, s.SetSubscribed("Never", false))
	if orphans, _ = s.OrphanSubscriptions(); len(orphans) != 0 {
		t.Errorf("orphans after UNSUBSCRIBE: %q", orphans)
	}
}
