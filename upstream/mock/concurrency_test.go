package mock

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/mailbridge/mailbridge/upstream"
)

// TestConcurrentUse runs writers, readers and a long-polling event reader
// at once; with -race it checks the locking, and at the end that the event
// stream saw every change exactly once.
func TestConcurrentUse(t *testing.T) {
	s, sess := newAccount(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start, _ := sess.LatestEventID(ctx)

	const writers, perWriter = 4, 25
	created := make(chan string, writers*perWriter)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			own, err := s.Login(ctx, testUser, testPass)
			if err != nil {
				t.Error(err)
				cancel()
				return
			}
			defer own.Close()
			for i := range perWriter {
				m, err := own.Import(ctx, upstream.ImportRequest{OpID: fmt.Sprintf("w%d-%d", w, i), Raw: []byte("x"), MailboxIDs: []string{upstream.Inbox}})
				if err != nil {
					t.Error(err)
					cancel()
					return
				}
				if err := own.UpdateMessages(ctx, []string{m.ID}, upstream.Update{SetFlags: upstream.FlagSeen}); err != nil {
					t.Error(err)
				}
				created <- m.ID
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			if _, err := sess.ListMessages(ctx, "", 20); err != nil {
				t.Error(err)
			}
			if _, err := sess.Mailboxes(ctx); err != nil {
				t.Error(err)
			}
		}
	})

	// Read events until every message was created and updated.
	counts := map[upstream.EventKind]int{}
	cursor := start
	for counts[upstream.MessageUpdated] < writers*perWriter {
		b, err := sess.Events(ctx, cursor)
		if err != nil || ctx.Err() != nil {
			wg.Wait()
			t.Fatalf("events: %v (writers failed: %v)", err, ctx.Err())
		}
		for _, e := range b.Events {
			counts[e.Kind]++
		}
		cursor = b.Cursor
	}
	wg.Wait()
	close(created)
	if counts[upstream.MessageCreated] != writers*perWriter || len(created) != writers*perWriter {
		t.Fatalf("events %v, %d created", counts, len(created))
	}
}
