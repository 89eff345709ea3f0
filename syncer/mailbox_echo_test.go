package syncer_test

import (
	"context"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/store"
	"github.com/mailbridge/mailbridge/upstream/mock"
)

// A mailbox renamed on both sides, the local rename pushed first and the
// remote one after it: the remote name reached the upstream last, so the
// cache follows it (docs/ARCHITECTURE.md, Failure rules), although both
// events come in one batch, the echo of our own rename first.
func TestRemoteRenameAfterOwnEchoInOneBatch(t *testing.T) {
	e := newEnv(t, 40)
	e.start(t)
	e.waitSynced(t)
	e.stop(t)
	ctx := context.Background()

	if err := e.st.RenameMailbox("Work", "Local"); err != nil {
		t.Fatal(err)
	}
	ops, err := e.st.PendingOps(100)
	if err != nil || len(ops) == 0 {
		t.Fatalf("ops %+v %v", ops, err)
	}
	// The pusher's work, done by hand: push the renames, record them.
	var done []store.Completed
	for _, op := range ops {
		if op.Kind != store.OpRenameMailbox {
			t.Fatalf("op %+v", op)
		}
		if err := e.sess.RenameMailbox(ctx, op.MailboxID, op.Name, op.OpID); err != nil {
			t.Fatal(err)
		}
		done = append(done, store.Completed{Seq: op.Seq})
	}
	if err := e.st.CompleteOps(done); err != nil {
		t.Fatal(err)
	}
	// Someone renames the label elsewhere afterwards.
	if err := e.sess.RenameMailbox(ctx, mock.LabelWork, "Remote", ""); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := e.st.MailboxByName("Remote")
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			mbs, _ := e.st.Mailboxes()
			var names []string
			for _, mb := range mbs {
				names = append(names, mb.Name+"="+mb.UpstreamID)
			}
			t.Fatalf("the cache did not follow the upstream's rename to Remote: %q", names)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
