package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/mailbridge/mailbridge/upstream"
)

func TestAppendImportComplete(t *testing.T) {
	s, path := seeded(t)
	inbox := box(t, s, "INBOX")
	raw := []byte("Subject: message new\r\n\r\nhello\r\n")
	date := time.Unix(1700000123, 0)
	uid, validity, err := s.Append(inbox.ID, raw, []string{`\Seen`, "$Kw", `\Deleted`}, date)
	must(t, err)
	if uid != 1 || validity != inbox.UIDValidity {
		t.Fatalf("APPENDUID = %d %d", uid, validity)
	}
	es := entries(t, s, "INBOX")
	if len(es) != 1 || !slices.Equal(es[0].Flags, []string{`\Seen`, `\Deleted`, "$Kw"}) || !es[0].Date.Equal(date) || es[0].Size != int64(len(raw)) {
		t.Fatalf("entries = %+v", es)
	}
	wantBodies(t, s, "All Mail", "new")
	must(t, s.Close())
	s = reopen(t, path) // the import survives a restart

	ops := pending(t, s)
	if len(ops) != 1 {
		t.Fatalf("ops = %+v", ops)
	}
	op := ops[0]
	if op.Kind != OpImport || !bytes.Equal(op.Plain, raw) || !slices.Equal(op.MailboxIDs, []string{"inbox"}) || op.Flags != upstream.FlagSeen || !op.Date.Equal(date) {
		t.Fatalf("import op = %+v", op)
	}
	must(t, s.CompleteOp(op.Seq, "up1"))
	if ok, _ := s.HasMessage("up1"); !ok {
		t.Fatal("CompleteOp did not bind the upstream ID")
	}
	must(t, s.CompleteOp(op.Seq, "up1")) // idempotent
	// The echo, even without its OpID, updates instead of duplicating.
	must(t, s.Apply(Changes{Messages: []Incoming{{Meta: upstream.MessageMeta{ID: "up1", MailboxIDs: []string{"inbox"}, Flags: upstream.FlagSeen}, Body: raw}}}))
	wantBodies(t, s, "INBOX", "new")
	if n, _ := s.OutboxLen(); n != 0 {
		t.Fatalf("OutboxLen = %d", n)
	}
}

func TestImportEchoBeforeComplete(t *testing.T) {
	s, _ := seeded(t)
	inbox := box(t, s, "INBOX")
	raw := []byte("Subject: message new\r\n\r\nhello\r\n")
	_, _, err := s.Append(inbox.ID, raw, nil, time.Time{})
	must(t, err)
	op := pending(t, s)[0]
	echo := Incoming{Meta: upstream.MessageMeta{ID: "up1", MailboxIDs: []string{"inbox"}}, Body: raw, OpID: op.OpID}
	var rec recorder
	defer s.Watch(rec.add)()
	must(t, s.Apply(Changes{Messages: []Incoming{echo}, OpIDs: []string{op.OpID}}))
	wantBodies(t, s, "INBOX", "new")
	if rec.count(ChangeAdded, 0) != 0 {
		t.Fatalf("the echo added a message: %+v", rec.take())
	}
	if n, _ := s.OutboxLen(); n != 0 {
		t.Fatalf("OutboxLen = %d after the echo", n)
	}
	must(t, s.CompleteOp(op.Seq, "up1"))
	wantBodies(t, s, "INBOX", "new")
	ids, _ := s.MessageIDs()
	if !slices.Equal(ids, []string{"up1"}) {
		t.Fatalf("MessageIDs = %v", ids)
	}
}

func TestDependentOpsWait(t *testing.T) {
	s, _ := seeded(t)
	must(t, s.Apply(Changes{Messages: []Incoming{msg("a", "inbox")}}))
	sub, err := s.CreateMailbox("Proj/Sub/")
	must(t, err)
	if sub.Name != "Proj/Sub" || sub.UpstreamID != "" || sub.Subscribed {
		t.Fatalf("created %+v", sub)
	}
	box(t, s, "Proj") // implied parent
	_, _, err = s.Copy(box(t, s, "INBOX").ID, []uint32{1}, sub.ID)
	must(t, err)
	_, _, err = s.Append(sub.ID, []byte("Subject: message new\r\n\r\n"), nil, time.Time{})
	must(t, err)
	_, err = s.SetFlags(sub.ID, []uint32{2}, imap.StoreFlagsAdd, []string{`\Seen`})
	must(t, err)

	ops := pending(t, s)
	if len(ops) != 2 || ops[0].Kind != OpCreateMailbox || ops[0].Name != "Proj" || ops[1].Name != "Proj/Sub" {
		t.Fatalf("ops before creation = %+v", ops)
	}
	if ops[0].Seq >= ops[1].Seq {
		t.Fatal("ops out of order")
	}
	if n, _ := s.OutboxLen(); n != 5 {
		t.Fatalf("OutboxLen = %d, want 5", n)
	}
	must(t, s.CompleteOp(ops[0].Seq, "L10"))
	must(t, s.CompleteOp(ops[1].Seq, "L11"))
	if box(t, s, "Proj/Sub").UpstreamID != "L11" {
		t.Fatal("CompleteOp did not bind the label ID")
	}
	ops = pending(t, s)
	if len(ops) != 2 || ops[0].Kind != OpUpdate || !slices.Equal(ops[0].Update.AddMailboxes, []string{"L11"}) ||
		ops[1].Kind != OpImport || !slices.Equal(ops[1].MailboxIDs, []string{"L11"}) {
		t.Fatalf("ops after creation = %+v", ops)
	}
	must(t, s.CompleteOp(ops[0].Seq, ""))
	must(t, s.CompleteOp(ops[1].Seq, "up9"))
	ops = pending(t, s)
	if len(ops) != 1 || ops[0].Update.SetFlags != upstream.FlagSeen || !slices.Equal(ops[0].MessageIDs, []string{"up9"}) {
		t.Fatalf("ops after import = %+v", ops)
	}
	if first, _ := s.PendingOps(0); len(first) != 0 {
		t.Fatal("PendingOps(0) returned ops")
	}
}

func TestFailOpDropsDependents(t *testing.T) {
	s, _ := seeded(t)
	inbox := box(t, s, "INBOX")
	_, _, err := s.Append(inbox.ID, []byte("Subject: message new\r\n\r\n"), nil, time.Time{})
	must(t, err)
	_, err = s.SetFlags(inbox.ID, []uint32{1}, imap.StoreFlagsAdd, []string{`\Seen`})
	must(t, err)
	ops := pending(t, s)
	if len(ops) != 1 {
		t.Fatalf("ops = %+v", ops)
	}
	must(t, s.FailOp(ops[0].Seq, "refused"))
	if ops := pending(t, s); len(ops) != 0 {
		t.Fatalf("ops after the import failed = %+v", ops)
	}
	if n, _ := s.OutboxLen(); n != 0 {
		t.Fatalf("OutboxLen = %d", n)
	}
}

// While its own ops are queued, upstream news about a message does not
// undo the local change; once they are echoed, upstream news applies.
func TestPendingOpsWin(t *testing.T) {
	s, _ := seeded(t)
	must(t, s.Apply(Changes{Messages: []Incoming{msg("a", "inbox")}}))
	inbox := box(t, s, "INBOX")
	_, err := s.SetFlags(inbox.ID, []uint32{1}, imap.StoreFlagsAdd, []string{`\Seen`})
	must(t, err)
	_, _, err = s.Move(inbox.ID, []uint32{1}, box(t, s, "Work").ID)
	must(t, err)
	stale := upstream.MessageMeta{ID: "a", MailboxIDs: []string{"inbox"}}
	must(t, s.Apply(Changes{Updated: []upstream.MessageMeta{stale}}))
	wantBodies(t, s, "Work", "a")
	if f := entries(t, s, "Work")[0].Flags; !slices.Equal(f, []string{`\Seen`}) {
		t.Fatalf("flags = %v", f)
	}

	ops := pending(t, s)
	echo := upstream.MessageMeta{ID: "a", MailboxIDs: []string{"L1"}, Flags: upstream.FlagSeen}
	must(t, s.Apply(Changes{Updated: []upstream.MessageMeta{echo}, OpIDs: []string{ops[0].OpID, ops[1].OpID}}))
	if n, _ := s.OutboxLen(); n != 0 {
		t.Fatalf("OutboxLen = %d after the echo", n)
	}
	must(t, s.Apply(Changes{Updated: []upstream.MessageMeta{stale}}))
	wantBodies(t, s, "INBOX", "a")
	wantBodies(t, s, "Work")
}

func TestCreateEchoBindsByName(t *testing.T) {
	s, _ := seeded(t)
	mb, err := s.CreateMailbox("Proj")
	must(t, err)
	must(t, s.Apply(Changes{Mailboxes: []upstream.Mailbox{{ID: "L10", Name: "Proj"}}}))
	got := box(t, s, "Proj")
	if got.ID != mb.ID || got.UpstreamID != "L10" {
		t.Fatalf("Proj = %+v", got)
	}
	if ops := pending(t, s); len(ops) != 0 {
		t.Fatalf("the create op was not dropped: %+v", ops)
	}
	if n, _ := s.OutboxLen(); n != 0 {
		t.Fatalf("OutboxLen = %d", n)
	}
}

func TestRenameWithChildren(t *testing.T) {
	s, _ := seeded(t)
	must(t, s.Apply(Changes{Mailboxes: []upstream.Mailbox{{ID: "L5", Name: "A"}, {ID: "L6", Name: "A/B"}, {ID: "L7", Name: "AB"}}}))
	b := box(t, s, "A/B")
	must(t, s.RenameMailbox("A", "X/Y"))
	if got := box(t, s, "X/Y/B"); got.ID != b.ID || got.UIDValidity != b.UIDValidity {
		t.Fatalf("child = %+v", got)
	}
	box(t, s, "AB") // not a child
	ops := pending(t, s)
	if len(ops) != 3 || ops[0].Kind != OpRenameMailbox || ops[0].MailboxID != "L5" || ops[0].Name != "X/Y" ||
		ops[1].MailboxID != "L6" || ops[1].Name != "X/Y/B" || ops[2].Kind != OpCreateMailbox || ops[2].Name != "X" {
		t.Fatalf("ops = %+v", ops)
	}
	wantErr(t, s.RenameMailbox("X/Y", "X/Y/Z"), ErrNotAllowed)
}

func TestOutboxSignalAndOrder(t *testing.T) {
	s, _ := seeded(t)
	must(t, s.Apply(Changes{Messages: []Incoming{msg("a", "inbox"), msg("b", "inbox")}}))
	sig := s.OutboxSignal()
	select {
	case <-sig:
		t.Fatal("signal without ops")
	default:
	}
	inbox := box(t, s, "INBOX")
	for _, f := range []string{`\Seen`, `\Flagged`, `\Answered`} {
		_, err := s.SetFlags(inbox.ID, []uint32{1}, imap.StoreFlagsAdd, []string{f})
		must(t, err)
	}
	select {
	case <-sig:
	default:
		t.Fatal("no signal after ops were queued")
	}
	ops, err := s.PendingOps(2)
	must(t, err)
	if len(ops) != 2 || ops[0].Update.SetFlags != upstream.FlagSeen || ops[1].Update.SetFlags != upstream.FlagFlagged || ops[0].OpID == ops[1].OpID {
		t.Fatalf("ops = %+v", ops)
	}
	must(t, s.FailOp(ops[0].Seq, "test"))
	ops = pending(t, s)
	if len(ops) != 2 || ops[0].Update.SetFlags != upstream.FlagFlagged {
		t.Fatalf("ops after FailOp = %+v", ops)
	}
}

// The syncer's path for the echo of an import: no download, no body.
func TestIsOwnImportEchoWithoutBody(t *testing.T) {
	s, _ := seeded(t)
	inbox := box(t, s, "INBOX")
	_, _, err := s.Append(inbox.ID, []byte("Subject: message new\r\n\r\n"), nil, time.Time{})
	must(t, err)
	_, err = s.SetFlags(inbox.ID, []uint32{1}, imap.StoreFlagsAdd, []string{`\Flagged`})
	must(t, err)
	ops, err := s.PendingOps(10)
	must(t, err)
	if own, err := s.IsOwnImport(ops[0].OpID); err != nil || !own {
		t.Fatalf("IsOwnImport(import) = %v, %v", own, err)
	}
	for _, id := range []string{"nope", ""} {
		if own, _ := s.IsOwnImport(id); own {
			t.Fatalf("IsOwnImport(%q) = true", id)
		}
	}
	echo := Incoming{Meta: upstream.MessageMeta{ID: "up1", MailboxIDs: []string{"inbox"}}, OpID: ops[0].OpID}
	must(t, s.Apply(Changes{Messages: []Incoming{echo}, OpIDs: []string{ops[0].OpID}}))
	wantBodies(t, s, "INBOX", "new")
	if own, _ := s.IsOwnImport(ops[0].OpID); own {
		t.Fatal("still an own import after its echo")
	}
	// The flag op, waiting for the import, now resolves to the upstream ID.
	ops = pending(t, s)
	if len(ops) != 1 || !slices.Equal(ops[0].MessageIDs, []string{"up1"}) {
		t.Fatalf("ops = %+v", ops)
	}
	// An echo whose import is unknown and that has no body is not stored.
	must(t, s.Apply(Changes{Messages: []Incoming{{Meta: upstream.MessageMeta{ID: "up2", MailboxIDs: []string{"inbox"}}, OpID: "gone"}}}))
	if ok, _ := s.HasMessage("up2"); ok {
		t.Fatal("a message without a body was stored")
	}
}

// A message expunged for good here must not come back from a resync
// listing that still shows it before the delete is pushed.
func TestExpungedNotReaddedBeforePush(t *testing.T) {
	s, _ := seeded(t)
	must(t, s.Apply(Changes{Messages: []Incoming{msg("a", "trash"), msg("b", "trash")}}))
	trash := box(t, s, "Trash")
	_, err := s.SetFlags(trash.ID, []uint32{1}, imap.StoreFlagsAdd, []string{`\Deleted`})
	must(t, err)
	_, err = s.Expunge(trash.ID, nil)
	must(t, err)
	must(t, s.Apply(Changes{Messages: []Incoming{msg("a", "trash")}}))
	wantBodies(t, s, "Trash", "b")
	ops := pending(t, s)
	if len(ops) != 1 || ops[0].Kind != OpDelete {
		t.Fatalf("ops = %+v", ops)
	}
	must(t, s.CompleteOp(ops[0].Seq, ""))
	// Once the delete is done upstream, the ID is an ordinary one again.
	must(t, s.Apply(Changes{Messages: []Incoming{msg("a", "trash")}}))
	wantBodies(t, s, "Trash", "a", "b")
}

// An import the upstream performed but the pusher did not record (a
// retryable failure earlier in its run of eight, a cancel, or a crash
// before CompleteOps), then the message deleted for good here: the
// delete must still reach the upstream, and the echo must not bring the
// message back.
func TestImportDoneUpstreamThenDeletedHere(t *testing.T) {
	s, _ := seeded(t)
	trash := box(t, s, "Trash")
	raw := []byte("Subject: message x\r\n\r\nbody\r\n")
	_, _, err := s.Append(trash.ID, raw, nil, time.Time{})
	must(t, err)
	ops := pending(t, s)
	if len(ops) != 1 || ops[0].Kind != OpImport {
		t.Fatalf("ops %+v", ops)
	}
	imp := ops[0]
	// The upstream stored it as "U1" (events of it not applied yet); the
	// pusher ended its batch before CompleteOps.

	es := entries(t, s, "Trash")
	_, err = s.SetFlags(trash.ID, []uint32{es[0].UID}, imap.StoreFlagsAdd, []string{`\Deleted`})
	must(t, err)
	_, err = s.Expunge(trash.ID, nil)
	must(t, err)

	// The import is sent again, with the body it kept, so that the
	// upstream answers with the message's ID; the delete waits for it.
	ops = pending(t, s)
	if len(ops) != 1 || ops[0].Kind != OpImport || ops[0].OpID != imp.OpID || !bytes.Equal(ops[0].Plain, raw) {
		t.Fatalf("after the expunge: %+v", ops)
	}

	// The echo: the syncer asks IsOwnImport, which is false once the op is
	// gone, so it downloads the message and hands it over with its body.
	own, err := s.IsOwnImport(imp.OpID)
	must(t, err)
	t.Logf("IsOwnImport = %v", own)
	in := Incoming{Meta: upstream.MessageMeta{ID: "U1", MailboxIDs: []string{upstream.Trash}, Date: time.Unix(1700000000, 0)}, OpID: imp.OpID}
	if !own {
		in.Body = raw
	}
	must(t, s.Apply(Changes{Messages: []Incoming{in}}))
	if es := entries(t, s, "Trash"); len(es) != 0 {
		t.Errorf("the expunged message is back in Trash: %+v", es)
	}
	must(t, s.CompleteOp(imp.Seq, "U1"))
	if ops = pending(t, s); len(ops) != 1 || ops[0].Kind != OpDelete || len(ops[0].MessageIDs) != 1 || ops[0].MessageIDs[0] != "U1" {
		t.Fatalf("after the import: %+v", ops)
	}
}

// Op IDs name their seq under a per-file prefix; ops queued before that
// (version 3 files) keep their random IDs and are found through bktOpIDs.
func TestOpIDsNameTheirSeq(t *testing.T) {
	s, path := seeded(t)
	inbox := box(t, s, "INBOX")
	_, _, err := s.Append(inbox.ID, []byte("Subject: message new\r\n\r\n"), nil, time.Time{})
	must(t, err)
	_, _, err = s.Append(inbox.ID, []byte("Subject: message old\r\n\r\n"), nil, time.Time{})
	must(t, err)
	ops := pending(t, s)
	if len(ops) != 2 || ops[0].OpID == ops[1].OpID || len(ops[0].OpID) != 32 {
		t.Fatalf("op IDs = %q, %q", ops[0].OpID, ops[1].OpID)
	}

	// The second import becomes one queued before version 4.
	const legacy = "0123456789abcdef0123456789abcdef"
	must(t, s.db.Update(func(tx *bolt.Tx) error {
		k := u64key(ops[1].Seq)
		op, err := decodeOp(s.seal, k, tx.Bucket([]byte(bktOutbox)).Get(k))
		if err != nil {
			return err
		}
		op.OpID = legacy
		plain, _ := json.Marshal(op)
		if err := tx.Bucket([]byte(bktOutbox)).Put(k, s.seal.seal(bktOutbox, k, plain)); err != nil {
			return err
		}
		return tx.Bucket([]byte(bktOpIDs)).Put([]byte(legacy), k)
	}))
	for _, id := range []string{ops[0].OpID, legacy} {
		if own, err := s.IsOwnImport(id); err != nil || !own {
			t.Fatalf("IsOwnImport(%s) = %v, %v", id, own, err)
		}
	}
	// Our prefix with the seq of no op, or of an op with another ID.
	for _, id := range []string{s.opPrefix + "00000000000000ff", s.opPrefix + fmt.Sprintf("%016x", ops[1].Seq), s.opPrefix + "zz"} {
		if own, _ := s.IsOwnImport(id); own {
			t.Fatalf("IsOwnImport(%s) = true", id)
		}
	}

	echoes := []Incoming{
		{Meta: upstream.MessageMeta{ID: "up1", MailboxIDs: []string{"inbox"}}, OpID: ops[0].OpID},
		{Meta: upstream.MessageMeta{ID: "up2", MailboxIDs: []string{"inbox"}}, OpID: legacy},
	}
	must(t, s.Apply(Changes{Messages: echoes, OpIDs: []string{ops[0].OpID, legacy}}))
	wantBodies(t, s, "INBOX", "new", "old")
	if n, _ := s.OutboxLen(); n != 0 {
		t.Fatalf("OutboxLen = %d after the echoes", n)
	}
	must(t, s.db.View(func(tx *bolt.Tx) error {
		if n := tx.Bucket([]byte(bktOpIDs)).Stats().KeyN; n != 0 {
			t.Errorf("bktOpIDs holds %d keys", n)
		}
		return nil
	}))

	// Another file, another prefix: a rebuilt cache never reuses an ID.
	other, _ := seeded(t)
	if other.opPrefix == s.opPrefix || len(s.opPrefix) != 16 {
		t.Fatalf("op prefixes %q and %q", s.opPrefix, other.opPrefix)
	}
	prefix := s.opPrefix
	must(t, s.Close())
	if s = reopen(t, path); s.opPrefix != prefix {
		t.Fatalf("op prefix %q after reopening, was %q", s.opPrefix, prefix)
	}
}
