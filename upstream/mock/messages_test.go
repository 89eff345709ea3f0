package mock

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/upstream"
)

func TestListAndGet(t *testing.T) {
	_, sess := newAccount(t)
	ctx := context.Background()
	var ids []string
	for i := range 7 {
		raw := fmt.Appendf(nil, "message %d", i)
		ids = append(ids, mustImport(t, sess, upstream.ImportRequest{Raw: raw, MailboxIDs: []string{upstream.Inbox}}).ID)
	}
	if !slices.IsSorted(ids) {
		t.Fatalf("IDs not in creation order: %v", ids)
	}

	var got []string
	after := ""
	for {
		page, err := sess.ListMessages(ctx, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 3 {
			t.Fatalf("page of %d", len(page))
		}
		for _, m := range page {
			got = append(got, m.ID)
		}
		after = page[len(page)-1].ID
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("listed %v, want %v", got, ids)
	}

	msg, err := sess.GetMessage(ctx, ids[4])
	if err != nil {
		t.Fatal(err)
	}
	if string(msg.Raw) != "message 4" || msg.Size != 9 || !slices.Equal(msg.MailboxIDs, []string{upstream.Inbox}) {
		t.Fatalf("GetMessage = %+v", msg)
	}
	_, err = sess.GetMessage(ctx, "nope")
	wantKind(t, err, upstream.NotFound)
}

func TestImport(t *testing.T) {
	_, sess := newAccount(t)
	ctx := context.Background()
	date := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

	m := mustImport(t, sess, upstream.ImportRequest{
		OpID: "op-1", MailboxIDs: []string{upstream.Inbox, upstream.Trash}, Flags: upstream.FlagSeen, Date: date,
	})
	if !m.Date.Equal(date) || m.Flags != upstream.FlagSeen || !slices.Equal(m.MailboxIDs, []string{upstream.Trash}) {
		t.Fatalf("imported %+v", m)
	}
	again := mustImport(t, sess, upstream.ImportRequest{OpID: "op-1", Raw: []byte("other")})
	if again.ID != m.ID {
		t.Fatalf("retried import made %s, first %s", again.ID, m.ID)
	}
	_, err := sess.Import(ctx, upstream.ImportRequest{Raw: []byte("x"), MailboxIDs: []string{"nope"}})
	wantKind(t, err, upstream.NotFound)
	_, err = sess.Import(ctx, upstream.ImportRequest{})
	wantKind(t, err, upstream.Permanent)
}

func TestUpdateMessages(t *testing.T) {
	_, sess := newAccount(t)
	ctx := context.Background()
	work, _ := sess.CreateMailbox(ctx, "Work", "")
	m := mustImport(t, sess, upstream.ImportRequest{MailboxIDs: []string{upstream.Inbox}})

	steps := []struct {
		u      upstream.Update
		labels []string
		flags  upstream.Flags
	}{
		{upstream.Update{AddMailboxes: []string{work.ID}, SetFlags: upstream.FlagSeen | upstream.FlagFlagged},
			[]string{upstream.Inbox, work.ID}, upstream.FlagSeen | upstream.FlagFlagged},
		// Additions first: moving Inbox -> Archive.
		{upstream.Update{AddMailboxes: []string{upstream.Archive}, RemoveMailboxes: []string{upstream.Inbox}, ClearFlags: upstream.FlagFlagged},
			[]string{upstream.Archive, work.ID}, upstream.FlagSeen},
		// Adding and removing the same label leaves it removed.
		{upstream.Update{AddMailboxes: []string{upstream.Inbox}, RemoveMailboxes: []string{upstream.Inbox}},
			[]string{upstream.Archive, work.ID}, upstream.FlagSeen},
		// Trash removes every other label.
		{upstream.Update{AddMailboxes: []string{upstream.Trash}}, []string{upstream.Trash}, upstream.FlagSeen},
		{upstream.Update{AddMailboxes: []string{upstream.Spam}, SetFlags: upstream.FlagAnswered},
			[]string{upstream.Spam}, upstream.FlagSeen | upstream.FlagAnswered},
	}
	for i, st := range steps {
		if err := sess.UpdateMessages(ctx, []string{m.ID}, st.u); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		got := mustMeta(t, sess, m.ID)
		want := slices.Sorted(slices.Values(st.labels))
		if !slices.Equal(got.MailboxIDs, want) || got.Flags != st.flags {
			t.Fatalf("step %d: labels %v flags %v, want %v %v", i, got.MailboxIDs, got.Flags, want, st.flags)
		}
	}

	// Unknown labels fail everything; unknown messages fail only themselves.
	err := sess.UpdateMessages(ctx, []string{m.ID}, upstream.Update{AddMailboxes: []string{"nope"}})
	wantKind(t, err, upstream.NotFound)
	err = sess.UpdateMessages(ctx, []string{"gone", m.ID}, upstream.Update{ClearFlags: upstream.FlagSeen})
	wantKind(t, err, upstream.NotFound)
	if mustMeta(t, sess, m.ID).Flags.Has(upstream.FlagSeen) {
		t.Fatal("known message not updated next to an unknown one")
	}
}

func TestDeleteMessages(t *testing.T) {
	_, sess := newAccount(t)
	ctx := context.Background()
	a := mustImport(t, sess, upstream.ImportRequest{Raw: []byte("aaaa")})
	b := mustImport(t, sess, upstream.ImportRequest{Raw: []byte("bb")})

	if err := sess.DeleteMessages(ctx, []string{a.ID}); err != nil {
		t.Fatal(err)
	}
	_, err := sess.GetMessage(ctx, a.ID)
	wantKind(t, err, upstream.NotFound)
	q, _ := sess.Quota(ctx)
	if q.Used != 2 {
		t.Fatalf("quota used %d after delete, want 2", q.Used)
	}
	wantKind(t, sess.DeleteMessages(ctx, []string{a.ID, b.ID}), upstream.NotFound)
	if _, err := sess.GetMessage(ctx, b.ID); upstream.KindOf(err) != upstream.NotFound {
		t.Fatal("known message not deleted next to an unknown one")
	}
}

func TestSend(t *testing.T) {
	var (
		mu     sync.Mutex
		hooked []Delivery
	)
	s := newServer(t, Options{DeliverHook: func(d Delivery) {
		mu.Lock()
		hooked = append(hooked, d)
		mu.Unlock()
	}})
	addDemo(t, s)
	if err := s.AddUser(UserSpec{Username: "bob", Password: "pw", Addresses: []upstream.Address{{Email: "bob@example.test"}}}); err != nil {
		t.Fatal(err)
	}
	sess := login(t, s)
	ctx := context.Background()

	req := upstream.SendRequest{
		OpID: "send-1", From: "Alias@example.test",
		Recipients: []string{"carol@elsewhere.test", "BOB@example.test"},
		Raw:        []byte("encrypted for recipients"), SentCopy: []byte("encrypted for me"),
	}
	_, err := sess.Send(ctx, upstream.SendRequest{From: "stranger@example.test", Recipients: req.Recipients, Raw: req.Raw})
	wantKind(t, err, upstream.Permanent)
	_, err = sess.Send(ctx, upstream.SendRequest{From: testEmail, Raw: req.Raw})
	wantKind(t, err, upstream.Permanent)

	meta, err := sess.Send(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(meta.MailboxIDs, []string{upstream.Sent}) || meta.Flags != upstream.FlagSeen {
		t.Fatalf("sent copy meta %+v", meta)
	}
	msg, _ := sess.GetMessage(ctx, meta.ID)
	if string(msg.Raw) != "encrypted for me" {
		t.Fatalf("sent copy = %q", msg.Raw)
	}
	again, err := sess.Send(ctx, req)
	if err != nil || again.ID != meta.ID {
		t.Fatalf("retried send: %+v, %v", again, err)
	}

	out := s.Outbound()
	if len(out) != 2 || out[0].Recipient != "carol@elsewhere.test" || out[1].Recipient != "BOB@example.test" {
		t.Fatalf("Outbound = %+v", out)
	}
	if out[0].ID == out[1].ID || out[0].ID == "" {
		t.Fatalf("delivery IDs %q, %q", out[0].ID, out[1].ID)
	}
	for _, d := range out {
		if d.From != req.From || !bytes.Equal(d.Raw, req.Raw) {
			t.Fatalf("delivery %+v", d)
		}
	}
	mu.Lock()
	if len(hooked) != 2 {
		t.Fatalf("hook saw %d deliveries", len(hooked))
	}
	mu.Unlock()

	bobs, err := s.Messages("bob")
	if err != nil {
		t.Fatal(err)
	}
	if len(bobs) != 1 || string(bobs[0].Raw) != string(req.Raw) || !slices.Equal(bobs[0].MailboxIDs, []string{upstream.Inbox}) {
		t.Fatalf("bob's mailbox: %+v", bobs)
	}
}
