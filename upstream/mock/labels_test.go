package mock

import (
	"context"
	"slices"
	"testing"

	"github.com/mailbridge/mailbridge/upstream"
)

func TestSystemLabels(t *testing.T) {
	_, sess := newAccount(t)
	boxes, err := sess.Mailboxes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []upstream.Mailbox{
		{ID: upstream.Inbox, Name: "Inbox", Kind: upstream.KindSystem},
		{ID: upstream.Drafts, Name: "Drafts", Kind: upstream.KindSystem},
		{ID: upstream.Sent, Name: "Sent", Kind: upstream.KindSystem},
		{ID: upstream.Archive, Name: "Archive", Kind: upstream.KindSystem},
		{ID: upstream.Spam, Name: "Spam", Kind: upstream.KindSystem},
		{ID: upstream.Trash, Name: "Trash", Kind: upstream.KindSystem},
	}
	if !slices.Equal(boxes, want) {
		t.Fatalf("Mailboxes = %+v", boxes)
	}
}

func TestLabelLifecycle(t *testing.T) {
	_, sess := newAccount(t)
	ctx := context.Background()

	work, err := sess.CreateMailbox(ctx, "Work", "")
	if err != nil {
		t.Fatal(err)
	}
	projects, err := sess.CreateMailbox(ctx, "Work/Projects", "")
	if err != nil {
		t.Fatal(err)
	}
	if work.Kind != upstream.KindUser || work.ID == projects.ID || work.ID == "" {
		t.Fatalf("created %+v and %+v", work, projects)
	}
	for _, bad := range []string{"Work", "work", "INBOX", "trash", "", " x", "a//b", "/a", "a/", "a\tb"} {
		_, err := sess.CreateMailbox(ctx, bad, "")
		wantKind(t, err, upstream.Permanent)
	}

	m := mustImport(t, sess, upstream.ImportRequest{MailboxIDs: []string{upstream.Inbox, work.ID}})

	if err := sess.RenameMailbox(ctx, work.ID, "Job", ""); err != nil {
		t.Fatal(err)
	}
	wantKind(t, sess.RenameMailbox(ctx, work.ID, "Work/Projects", ""), upstream.Permanent)
	wantKind(t, sess.RenameMailbox(ctx, upstream.Inbox, "Eingang", ""), upstream.Permanent)
	wantKind(t, sess.RenameMailbox(ctx, "nope", "x", ""), upstream.NotFound)
	if err := sess.RenameMailbox(ctx, work.ID, "Job", ""); err != nil {
		t.Fatalf("rename to the same name: %v", err)
	}

	boxes, _ := sess.Mailboxes(ctx)
	names := []string{}
	for _, b := range boxes[len(systemLabels):] {
		names = append(names, b.Name)
	}
	if !slices.Equal(names, []string{"Job", "Work/Projects"}) {
		t.Fatalf("user labels = %v", names)
	}

	wantKind(t, sess.DeleteMailbox(ctx, upstream.Trash), upstream.Permanent)
	wantKind(t, sess.DeleteMailbox(ctx, "nope"), upstream.NotFound)
	if err := sess.DeleteMailbox(ctx, work.ID); err != nil {
		t.Fatal(err)
	}
	if got := mustMeta(t, sess, m.ID).MailboxIDs; !slices.Equal(got, []string{upstream.Inbox}) {
		t.Fatalf("labels after deleting one = %v", got)
	}
	wantKind(t, sess.DeleteMailbox(ctx, work.ID), upstream.NotFound)
}
