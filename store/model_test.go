package store

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailbridge/mailbridge/upstream"
)

func TestApplyNewMessages(t *testing.T) {
	s, _ := seeded(t)
	must(t, s.Apply(Changes{Messages: []Incoming{msg("a", "inbox", "L1"), msg("s", "spam"), msg("t", "trash", "L1"), msg("x", "unknown-label")}}))
	wantBodies(t, s, "INBOX", "a")
	wantBodies(t, s, "Work", "a", "t") // the upstream's label set is mirrored as it is
	wantBodies(t, s, "Spam", "s")
	wantBodies(t, s, "All Mail", "a", "x")
	// Trash keeps a message out of All Mail whatever its other labels.
	wantBodies(t, s, "Trash", "t")
	if mb := box(t, s, "All Mail"); mb.Messages != 2 {
		t.Fatalf("All Mail count = %d", mb.Messages)
	}
}

func TestApplyUpdates(t *testing.T) {
	s, _ := seeded(t)
	must(t, s.Apply(Changes{Messages: []Incoming{msg("a", "inbox"), msg("b", "inbox")}}))
	var rec recorder
	defer s.Watch(rec.add)()
	inbox, work := box(t, s, "INBOX"), box(t, s, "Work")

	must(t, s.Apply(Changes{Updated: []upstream.MessageMeta{{ID: "a", MailboxIDs: []string{"L1"}, Flags: upstream.FlagSeen}}}))
	wantBodies(t, s, "INBOX", "b")
	wantBodies(t, s, "Work", "a")
	wantBodies(t, s, "All Mail", "a", "b")
	if got := entries(t, s, "Work")[0]; got.UID != 1 || !slices.Equal(got.Flags, []string{`\Seen`}) {
		t.Fatalf("Work entry = %+v", got)
	}
	if rec.count(ChangeExpunged, inbox.ID) != 1 || rec.count(ChangeAdded, work.ID) != 1 {
		t.Fatalf("changes = %+v", rec.take())
	}
	// Flags alone: every mailbox holding the message reports it.
	rec.take()
	must(t, s.Apply(Changes{Updated: []upstream.MessageMeta{{ID: "a", MailboxIDs: []string{"L1"}, Flags: upstream.FlagFlagged}}}))
	if rec.count(ChangeFlags, 0) != 2 {
		t.Fatalf("flag changes = %+v, want Work and All Mail", rec.take())
	}
	if got := entries(t, s, "All Mail"); !slices.Equal(got[0].Flags, []string{`\Flagged`}) {
		t.Fatalf("All Mail flags = %v", got[0].Flags)
	}
	// Back into INBOX: a new UID, never the old one.
	must(t, s.Apply(Changes{Updated: []upstream.MessageMeta{{ID: "a", MailboxIDs: []string{"inbox"}}}}))
	if uid := uidOf(t, s, "INBOX", "a"); uid != 3 {
		t.Fatalf("UID of a back in INBOX = %d, want 3", uid)
	}
}

func TestApplyDeletes(t *testing.T) {
	s, _ := seeded(t)
	must(t, s.Apply(Changes{Messages: []Incoming{msg("a", "inbox", "L1"), msg("b", "L1", "L2")}}))
	must(t, s.Apply(Changes{Deleted: []string{"a"}}))
	wantBodies(t, s, "INBOX")
	wantBodies(t, s, "All Mail", "b")
	if ok, _ := s.HasMessage("a"); ok {
		t.Fatal("deleted message still cached")
	}
	// A label deleted upstream: its messages keep their other labels.
	var rec recorder
	defer s.Watch(rec.add)()
	must(t, s.Apply(Changes{DeletedMailboxes: []string{"L1"}}))
	if _, err := s.MailboxByName("Work"); err == nil {
		t.Fatal("Work still exists")
	}
	wantBodies(t, s, "Home", "b")
	wantBodies(t, s, "All Mail", "b")
	if rec.count(ChangeMailboxes, 0) != 1 || rec.count(ChangeExpunged, 0) != 1 {
		t.Fatalf("changes = %+v", rec.take())
	}
}

func TestApplyMailboxRename(t *testing.T) {
	s, _ := seeded(t)
	work := box(t, s, "Work")
	must(t, s.Apply(Changes{Mailboxes: []upstream.Mailbox{{ID: "L1", Name: "Job"}, {ID: upstream.Inbox, Name: "Posteingang", Kind: upstream.KindSystem}}}))
	if got := box(t, s, "Job"); got.ID != work.ID || got.UIDValidity != work.UIDValidity {
		t.Fatalf("renamed mailbox = %+v, was %+v", got, work)
	}
	box(t, s, "INBOX")
	// Two labels that IMAP would show under one name stay apart.
	must(t, s.Apply(Changes{Mailboxes: []upstream.Mailbox{{ID: "L7", Name: "Job"}}}))
	box(t, s, "Job (2)")
}

func TestCopy(t *testing.T) {
	s, _ := seeded(t)
	must(t, s.Apply(Changes{Messages: []Incoming{msg("a", "inbox"), msg("b", "inbox", "L1")}}))
	inbox, work := box(t, s, "INBOX"), box(t, s, "Work")

	src, dst, err := s.Copy(inbox.ID, []uint32{2, 1, 99}, work.ID)
	must(t, err)
	if !slices.Equal(src, []uint32{1, 2}) || !slices.Equal(dst, []uint32{2, 3}) {
		t.Fatalf("COPYUID = %v -> %v, want [1 2] -> [2 3]", src, dst)
	}
	wantBodies(t, s, "INBOX", "a", "b")
	wantBodies(t, s, "Work", "a", "b")
	ops := pending(t, s)
	if len(ops) != 1 || ops[0].Kind != OpUpdate || !slices.Equal(ops[0].MessageIDs, []string{"a"}) ||
		!slices.Equal(ops[0].Update.AddMailboxes, []string{"L1"}) || len(ops[0].Update.RemoveMailboxes) != 0 {
		t.Fatalf("ops = %+v, want one update adding L1 to a", ops)
	}
	if ops[0].Update.OpID != ops[0].OpID || ops[0].OpID == "" {
		t.Fatalf("op IDs = %q/%q", ops[0].OpID, ops[0].Update.OpID)
	}

	// Onto its own mailbox: a new UID, no upstream change.
	_, dst, err = s.Copy(inbox.ID, []uint32{1}, inbox.ID)
	must(t, err)
	if !slices.Equal(dst, []uint32{3}) || !slices.Equal(uids(entries(t, s, "INBOX")), []uint32{2, 3}) {
		t.Fatalf("copy onto itself: dst %v, INBOX %v", dst, uids(entries(t, s, "INBOX")))
	}
	if n := len(pending(t, s)); n != 1 {
		t.Fatalf("copy onto itself queued ops: %d", n)
	}
	_, _, err = s.Copy(inbox.ID, []uint32{2}, box(t, s, "All Mail").ID)
	wantErr(t, err, ErrNotAllowed)
}

func TestMove(t *testing.T) {
	s, _ := seeded(t)
	must(t, s.Apply(Changes{Messages: []Incoming{msg("a", "inbox", "L2")}}))
	inbox, work := box(t, s, "INBOX"), box(t, s, "Work")
	src, dst, err := s.Move(inbox.ID, []uint32{1}, work.ID)
	must(t, err)
	if !slices.Equal(src, []uint32{1}) || !slices.Equal(dst, []uint32{1}) {
		t.Fatalf("COPYUID = %v -> %v", src, dst)
	}
	wantBodies(t, s, "INBOX")
	wantBodies(t, s, "Work", "a")
	wantBodies(t, s, "Home", "a")
	ops := pending(t, s)
	if len(ops) != 1 || !slices.Equal(ops[0].Update.AddMailboxes, []string{"L1"}) || !slices.Equal(ops[0].Update.RemoveMailboxes, []string{"inbox"}) {
		t.Fatalf("ops = %+v", ops)
	}

	// Into Trash: every other label goes.
	_, _, err = s.Move(work.ID, []uint32{1}, box(t, s, "Trash").ID)
	must(t, err)
	wantBodies(t, s, "Work")
	wantBodies(t, s, "Home")
	wantBodies(t, s, "All Mail")
	wantBodies(t, s, "Trash", "a")
	ops = pending(t, s)
	if len(ops) != 2 || !slices.Equal(ops[1].Update.AddMailboxes, []string{"trash"}) || !slices.Equal(ops[1].Update.RemoveMailboxes, []string{"L1", "L2"}) {
		t.Fatalf("ops = %+v", ops)
	}

	// Onto itself: new UID, old one gone, nothing upstream.
	trash := box(t, s, "Trash")
	_, dst, err = s.Move(trash.ID, []uint32{1}, trash.ID)
	must(t, err)
	if !slices.Equal(dst, []uint32{2}) || !slices.Equal(uids(entries(t, s, "Trash")), []uint32{2}) || len(pending(t, s)) != 2 {
		t.Fatalf("move onto itself: dst %v, Trash %v", dst, uids(entries(t, s, "Trash")))
	}
	_, _, err = s.Move(trash.ID, []uint32{2}, box(t, s, "All Mail").ID)
	wantErr(t, err, ErrNotAllowed)
}

func TestMoveFromAllMail(t *testing.T) {
	s, _ := seeded(t)
	must(t, s.Apply(Changes{Messages: []Incoming{msg("a", "inbox")}}))
	all := box(t, s, "All Mail")
	_, _, err := s.Move(all.ID, []uint32{1}, box(t, s, "Work").ID)
	must(t, err)
	// The source UID is gone even though the message stays in All Mail.
	if got := uids(entries(t, s, "All Mail")); !slices.Equal(got, []uint32{2}) {
		t.Fatalf("All Mail UIDs = %v, want [2]", got)
	}
	wantBodies(t, s, "INBOX", "a")
	wantBodies(t, s, "Work", "a")
}

func markDeleted(t *testing.T, s *Store, mailbox string, uid ...uint32) {
	t.Helper()
	_, err := s.SetFlags(box(t, s, mailbox).ID, uid, imap.StoreFlagsAdd, []string{`\Deleted`})
	must(t, err)
}

func TestExpunge(t *testing.T) {
	s, _ := seeded(t)
	must(t, s.Apply(Changes{Messages: []Incoming{msg("a", "inbox", "L1"), msg("b", "inbox"), msg("c", "inbox")}}))
	inbox := box(t, s, "INBOX")
	markDeleted(t, s, "INBOX", 1, 2)
	// \Deleted is per entry.
	if got := entries(t, s, "Work")[0].Flags; len(got) != 0 {
		t.Fatalf("Work flags = %v, want none", got)
	}
	got, err := s.Expunge(inbox.ID, nil)
	must(t, err)
	if !slices.Equal(got, []uint32{1, 2}) {
		t.Fatalf("expunged %v", got)
	}
	wantBodies(t, s, "INBOX", "c")
	wantBodies(t, s, "Work", "a")
	wantBodies(t, s, "Trash", "b") // left without a label
	wantBodies(t, s, "All Mail", "a", "c")
	ops := pending(t, s)
	if len(ops) != 2 ||
		!slices.Equal(ops[0].MessageIDs, []string{"a"}) || !slices.Equal(ops[0].Update.RemoveMailboxes, []string{"inbox"}) || len(ops[0].Update.AddMailboxes) != 0 ||
		!slices.Equal(ops[1].MessageIDs, []string{"b"}) || !slices.Equal(ops[1].Update.AddMailboxes, []string{"trash"}) || !slices.Equal(ops[1].Update.RemoveMailboxes, []string{"inbox"}) {
		t.Fatalf("ops = %+v", ops)
	}

	// In Trash: deleted for good.
	markDeleted(t, s, "Trash", 1)
	got, err = s.Expunge(box(t, s, "Trash").ID, []uint32{1})
	must(t, err)
	if !slices.Equal(got, []uint32{1}) {
		t.Fatalf("expunged %v", got)
	}
	if ok, _ := s.HasMessage("b"); ok {
		t.Fatal("b still cached")
	}
	ops = pending(t, s)
	if last := ops[len(ops)-1]; last.Kind != OpDelete || !slices.Equal(last.MessageIDs, []string{"b"}) {
		t.Fatalf("last op = %+v, want delete of b", last)
	}

	// uids limit the expunge; entries without \Deleted stay.
	markDeleted(t, s, "INBOX", 3)
	got, err = s.Expunge(inbox.ID, []uint32{1, 2})
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("expunged %v outside the given UIDs", got)
	}
}

func TestExpungeAllMailMovesToTrash(t *testing.T) {
	s, _ := seeded(t)
	must(t, s.Apply(Changes{Messages: []Incoming{msg("a", "inbox", "L1")}}))
	markDeleted(t, s, "All Mail", 1)
	got, err := s.Expunge(box(t, s, "All Mail").ID, nil)
	must(t, err)
	if !slices.Equal(got, []uint32{1}) {
		t.Fatalf("expunged %v", got)
	}
	wantBodies(t, s, "All Mail")
	wantBodies(t, s, "INBOX")
	wantBodies(t, s, "Trash", "a")
	ops := pending(t, s)
	if len(ops) != 1 || !slices.Equal(ops[0].Update.AddMailboxes, []string{"trash"}) || !slices.Equal(ops[0].Update.RemoveMailboxes, []string{"inbox", "L1"}) {
		t.Fatalf("ops = %+v", ops)
	}
}

func TestSetFlags(t *testing.T) {
	s, path := seeded(t)
	must(t, s.Apply(Changes{Messages: []Incoming{msg("a", "inbox", "L1"), msg("b", "inbox")}}))
	inbox := box(t, s, "INBOX")
	var rec recorder
	defer s.Watch(rec.add)()

	es, err := s.SetFlags(inbox.ID, []uint32{1, 2}, imap.StoreFlagsAdd, []string{`\Seen`, "$Label1", `\Recent`})
	must(t, err)
	if len(es) != 2 || !slices.Equal(es[0].Flags, []string{`\Seen`, "$Label1"}) {
		t.Fatalf("entries = %+v", es)
	}
	// Flags are per message: Work shows them too, and reports them.
	if got := entries(t, s, "Work")[0].Flags; !slices.Equal(got, []string{`\Seen`, "$Label1"}) {
		t.Fatalf("Work flags = %v", got)
	}
	if n := rec.count(ChangeFlags, box(t, s, "Work").ID); n != 1 {
		t.Fatalf("Work flag changes = %d", n)
	}
	ops := pending(t, s)
	if len(ops) != 1 || ops[0].Update.SetFlags != upstream.FlagSeen || ops[0].Update.ClearFlags != 0 || !slices.Equal(ops[0].MessageIDs, []string{"a", "b"}) {
		t.Fatalf("ops = %+v", ops)
	}

	// Keywords stay local: no op.
	_, err = s.SetFlags(inbox.ID, []uint32{1}, imap.StoreFlagsAdd, []string{"$Todo"})
	must(t, err)
	if n := len(pending(t, s)); n != 1 {
		t.Fatalf("a keyword queued an op")
	}

	// FLAGS (replace) computes set and clear per message.
	_, err = s.SetFlags(inbox.ID, []uint32{1, 2}, imap.StoreFlagsSet, []string{`\Flagged`, "$Forwarded"})
	must(t, err)
	ops = pending(t, s)
	if len(ops) != 2 || ops[1].Update.SetFlags != upstream.FlagFlagged|upstream.FlagForwarded || ops[1].Update.ClearFlags != upstream.FlagSeen {
		t.Fatalf("ops = %+v", ops)
	}
	_, err = s.SetFlags(inbox.ID, []uint32{2}, imap.StoreFlagsDel, []string{`\flagged`})
	must(t, err)
	must(t, s.Close())

	s = reopen(t, path)
	es = entries(t, s, "INBOX")
	if !slices.Equal(es[0].Flags, []string{`\Flagged`, "$Forwarded"}) || !slices.Equal(es[1].Flags, []string{"$Forwarded"}) {
		t.Fatalf("flags after reopen = %v / %v", es[0].Flags, es[1].Flags)
	}
	_, err = s.SetFlags(inbox.ID, []uint32{1}, imap.StoreFlagsAdd, []string{"$todo"})
	must(t, err)
	// Keywords match case-insensitively and keep their first spelling.
	if es = entries(t, s, "INBOX"); !slices.Equal(es[0].Flags, []string{`\Flagged`, "$Forwarded", "$Todo"}) {
		t.Fatalf("keyword after reopen = %v", es[0].Flags)
	}
}

func TestMailboxRules(t *testing.T) {
	s, _ := seeded(t)
	for _, name := range []string{"INBOX", "inbox", "Sent", "Trash", "All Mail"} {
		wantErr(t, s.DeleteMailbox(name), ErrNotAllowed)
	}
	wantErr(t, s.RenameMailbox("INBOX", "Old"), ErrNotAllowed)
	wantErr(t, s.RenameMailbox("Sent", "Old"), ErrNotAllowed)
	wantErr(t, s.RenameMailbox("Work", "Home"), ErrExists)
	wantErr(t, s.DeleteMailbox("Nope"), ErrNoMailbox)
	_, err := s.CreateMailbox("Work")
	wantErr(t, err, ErrExists)
	_, err = s.CreateMailbox("inbox")
	wantErr(t, err, ErrExists)
	_, _, err = s.Append(box(t, s, "All Mail").ID, []byte("x"), nil, time.Time{})
	wantErr(t, err, ErrNotAllowed)

	must(t, s.SetSubscribed("Work", false))
	if box(t, s, "Work").Subscribed {
		t.Fatal("unsubscribe did not stick")
	}
}

func TestDeleteMailboxKeepsMessages(t *testing.T) {
	s, _ := seeded(t)
	must(t, s.Apply(Changes{Messages: []Incoming{msg("a", "L1"), msg("b", "L1", "inbox")}}))
	must(t, s.DeleteMailbox("Work"))
	wantBodies(t, s, "All Mail", "a", "b")
	wantBodies(t, s, "INBOX", "b")
	ops := pending(t, s)
	if len(ops) != 1 || ops[0].Kind != OpDeleteMailbox || ops[0].MailboxID != "L1" {
		t.Fatalf("ops = %+v", ops)
	}
}

// The upstream's label names are unique whatever their case: a name
// that differs from a mailbox's only by case is taken, or the upstream
// would refuse the label after the client was told OK and the mailbox
// would vanish.
func TestMailboxNamesTakenWhateverTheCase(t *testing.T) {
	s, _ := seeded(t)
	_, err := s.CreateMailbox("Projects/Alpha")
	must(t, err)
	for _, name := range []string{"projects", "PROJECTS/alpha", "projects/New", "archive", "trash"} {
		if _, err := s.CreateMailbox(name); !errors.Is(err, ErrExists) {
			t.Errorf("CreateMailbox(%q): %v, want ErrExists", name, err)
		}
	}
	if err := s.RenameMailbox("Projects/Alpha", "projects/beta"); !errors.Is(err, ErrExists) {
		t.Errorf("rename under a parent taken by case: %v", err)
	}
	// A mailbox may change the case of its own name, children and all.
	must(t, s.RenameMailbox("Projects", "PROJECTS"))
	for _, name := range []string{"PROJECTS", "PROJECTS/Alpha"} {
		if _, err := s.MailboxByName(name); err != nil {
			t.Errorf("after the rename: %s: %v", name, err)
		}
	}
	if err := s.RenameMailbox("PROJECTS", "PROJECTS"); !errors.Is(err, ErrExists) {
		t.Errorf("rename onto itself: %v", err)
	}
	if err := s.RenameMailbox("PROJECTS", "projects/sub"); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("rename into itself, in another case: %v", err)
	}
}
