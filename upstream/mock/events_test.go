package mock

import (
	"context"
	"strconv"
	"testing"

	"github.com/mailbridge/mailbridge/upstream"
)

func TestEventsOfEveryMutation(t *testing.T) {
	s, sess := newAccount(t)
	ctx := context.Background()
	start, err := sess.LatestEventID(ctx)
	if err != nil {
		t.Fatal(err)
	}

	box, _ := sess.CreateMailbox(ctx, "Work", "")
	_ = sess.RenameMailbox(ctx, box.ID, "Job", "")
	m := mustImport(t, sess, upstream.ImportRequest{OpID: "imp", MailboxIDs: []string{box.ID}})
	_ = sess.UpdateMessages(ctx, []string{m.ID}, upstream.Update{OpID: "upd", SetFlags: upstream.FlagSeen})
	_ = sess.DeleteMailbox(ctx, box.ID)
	_ = sess.DeleteMessages(ctx, []string{m.ID})
	sent, _ := sess.Send(ctx, upstream.SendRequest{OpID: "snd", From: testEmail, Recipients: []string{testEmail}, Raw: []byte("x"), SentCopy: []byte("x")})
	delivered, err := s.Deliver(testUser, []byte("Subject: hi\r\n\r\nhello\r\n"), nil, FormatWhole)
	if err != nil {
		t.Fatal(err)
	}

	batch, err := sess.Events(ctx, start)
	if err != nil {
		t.Fatal(err)
	}
	type ev struct {
		kind upstream.EventKind
		id   string
		op   string
	}
	want := []ev{
		{upstream.MailboxCreated, box.ID, ""},
		{upstream.MailboxUpdated, box.ID, ""},
		{upstream.MessageCreated, m.ID, "imp"},
		{upstream.MessageUpdated, m.ID, "upd"},
		{upstream.MessageUpdated, m.ID, ""}, // label removed by DeleteMailbox
		{upstream.MailboxDeleted, box.ID, ""},
		{upstream.MessageDeleted, m.ID, ""},
		{upstream.MessageCreated, sent.ID, "snd"},
		{upstream.MessageCreated, "", ""}, // the copy delivered to ourselves
		{upstream.MessageCreated, delivered, ""},
	}
	if len(batch.Events) != len(want) {
		t.Fatalf("got %d events: %+v", len(batch.Events), batch.Events)
	}
	for i, w := range want {
		e := batch.Events[i]
		if e.Kind != w.kind || (w.id != "" && e.ID != w.id) || e.OpID != w.op {
			t.Errorf("event %d = %v %s op %q, want %v %s op %q", i, e.Kind, e.ID, e.OpID, w.kind, w.id, w.op)
		}
		if (e.Kind == upstream.MessageCreated || e.Kind == upstream.MessageUpdated) && (e.Message == nil || e.Message.ID != e.ID) {
			t.Errorf("event %d lacks its message", i)
		}
		if (e.Kind == upstream.MailboxCreated || e.Kind == upstream.MailboxUpdated) && (e.Mailbox == nil || e.Mailbox.ID != e.ID) {
			t.Errorf("event %d lacks its mailbox", i)
		}
	}
	if batch.Events[1].Mailbox.Name != "Job" || !batch.Events[3].Message.Flags.Has(upstream.FlagSeen) {
		t.Error("events do not carry the new state")
	}
	latest, _ := sess.LatestEventID(ctx)
	if batch.Cursor != latest || batch.More {
		t.Fatalf("cursor %s more %v, latest %s", batch.Cursor, batch.More, latest)
	}
}

func TestEventsLongPollWakesUp(t *testing.T) {
	s, sess := newAccount(t)
	ctx := context.Background()
	cur, _ := sess.LatestEventID(ctx)

	type result struct {
		b   upstream.EventBatch
		err error
	}
	done := make(chan result)
	go func() {
		b, err := sess.Events(ctx, cur)
		done <- result{b, err}
	}()
	// The poll may or may not have started waiting; either way it must
	// return this event.
	id, err := s.Deliver(testUser, []byte("Subject: x\r\n\r\nbody\r\n"), nil, FormatWhole)
	if err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || len(r.b.Events) != 1 || r.b.Events[0].ID != id {
		t.Fatalf("Events = %+v, %v", r.b, r.err)
	}
}

func TestEventsContextEnds(t *testing.T) {
	_, sess := newAccount(t)
	ctx, cancel := context.WithCancel(context.Background())
	cur, _ := sess.LatestEventID(ctx)
	done := make(chan error)
	var b upstream.EventBatch
	go func() {
		var err error
		b, err = sess.Events(ctx, cur)
		done <- err
	}()
	cancel()
	if err := <-done; err != nil {
		// Cancelled before the call started: a Temporary context error.
		if upstream.KindOf(err) != upstream.Temporary {
			t.Fatal(err)
		}
		return
	}
	if len(b.Events) != 0 || b.Cursor != cur {
		t.Fatalf("batch after cancel = %+v", b)
	}
}

func TestEventsBatchesAndRetention(t *testing.T) {
	s := newServer(t, Options{EventRetention: 250})
	addDemo(t, s)
	sess := login(t, s)
	ctx := context.Background()

	for i := range 220 {
		mustImport(t, sess, upstream.ImportRequest{Raw: []byte{byte(i)}})
	}
	b, err := sess.Events(ctx, "0")
	if err != nil || len(b.Events) != maxBatch || !b.More || b.Cursor != strconv.Itoa(maxBatch) {
		t.Fatalf("first batch: %d events, more %v, cursor %s, %v", len(b.Events), b.More, b.Cursor, err)
	}
	n := len(b.Events)
	for b.More {
		if b, err = sess.Events(ctx, b.Cursor); err != nil {
			t.Fatal(err)
		}
		n += len(b.Events)
	}
	if n != 220 || b.Cursor != "220" {
		t.Fatalf("read %d events up to %s", n, b.Cursor)
	}

	for i := range 100 {
		mustImport(t, sess, upstream.ImportRequest{Raw: []byte{byte(i)}})
	}
	// 320 events, 250 kept: 71..320. Cursor 70 still works, 69 does not.
	if _, err := sess.Events(ctx, "70"); err != nil {
		t.Fatalf("cursor at the window's edge: %v", err)
	}
	for _, c := range []string{"69", "0", "321", "", "abc", "-1"} {
		_, err := sess.Events(ctx, c)
		wantKind(t, err, upstream.RefreshRequired)
	}
}

func TestForceRefresh(t *testing.T) {
	s, sess := newAccount(t)
	ctx := context.Background()
	cur, _ := sess.LatestEventID(ctx)

	done := make(chan error)
	go func() {
		_, err := sess.Events(ctx, cur)
		done <- err
	}()
	s.ForceRefresh(testUser)
	wantKind(t, <-done, upstream.RefreshRequired)

	mustImport(t, sess, upstream.ImportRequest{})
	if b, err := sess.Events(ctx, cur); err != nil || len(b.Events) != 1 {
		t.Fatalf("after the forced refresh: %+v, %v", b, err)
	}
}

func TestEventsEndWithSessionAndServer(t *testing.T) {
	s, sess := newAccount(t)
	ctx := context.Background()
	cur, _ := sess.LatestEventID(ctx)
	other := login(t, s)

	done := make(chan error, 2)
	go func() {
		_, err := sess.Events(ctx, cur)
		done <- err
	}()
	go func() {
		_, err := other.Events(ctx, cur)
		done <- err
	}()
	sess.Close()
	wantKind(t, <-done, upstream.Permanent)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wantKind(t, <-done, upstream.Temporary)
}
