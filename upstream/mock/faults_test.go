package mock

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/upstream"
)

func TestFaultKinds(t *testing.T) {
	s, sess := newAccount(t)
	ctx := context.Background()

	s.SetFaults(Faults{ErrorRate: 1})
	_, err := sess.Mailboxes(ctx)
	wantKind(t, err, upstream.Temporary)
	_, err = s.Login(ctx, testUser, testPass)
	wantKind(t, err, upstream.Temporary)

	s.SetFaults(Faults{RateLimitRate: 1, RetryAfter: 3 * time.Second})
	_, err = sess.ListMessages(ctx, "", 10)
	wantKind(t, err, upstream.RateLimited)
	if upstream.RetryAfter(err) != 3*time.Second {
		t.Fatalf("RetryAfter = %v", upstream.RetryAfter(err))
	}
	s.SetFaults(Faults{RateLimitRate: 1})
	_, err = sess.Quota(ctx)
	if upstream.RetryAfter(err) != time.Second {
		t.Fatalf("default RetryAfter = %v", upstream.RetryAfter(err))
	}

	// Failing before the call: nothing is applied.
	s.SetFaults(Faults{ErrorRate: 1})
	_, err = sess.CreateMailbox(ctx, "Lost", "")
	wantKind(t, err, upstream.Temporary)
	s.SetFaults(Faults{})
	boxes, _ := sess.Mailboxes(ctx)
	if len(boxes) != len(systemLabels) {
		t.Fatal("a call failed by ErrorRate was applied")
	}

	// Dropped responses: applied, yet reported as Temporary.
	s.SetFaults(Faults{DropRate: 1})
	_, err = sess.CreateMailbox(ctx, "Applied", "")
	wantKind(t, err, upstream.Temporary)
	s.SetFaults(Faults{})
	boxes, _ = sess.Mailboxes(ctx)
	if len(boxes) != len(systemLabels)+1 {
		t.Fatal("a call with a dropped response was not applied")
	}
}

func TestLatencyHonoursContext(t *testing.T) {
	s, sess := newAccount(t)
	s.SetFaults(Faults{Latency: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := sess.Mailboxes(ctx)
		done <- err
	}()
	cancel()
	err := <-done
	if upstream.KindOf(err) != upstream.Temporary || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

// retry calls fn until it succeeds or fails with a non-retryable error.
func retry[T any](t *testing.T, fn func() (T, error)) (T, error) {
	t.Helper()
	for range 1000 {
		v, err := fn()
		if err == nil || !upstream.Retryable(err) {
			return v, err
		}
	}
	t.Fatal("no success in 1000 attempts")
	var zero T
	return zero, nil
}

func TestIdempotencyUnderDrops(t *testing.T) {
	s, sess := newAccount(t)
	ctx := context.Background()
	s.SetFaults(Faults{DropRate: 0.5, ErrorRate: 0.2, RateLimitRate: 0.1, RetryAfter: time.Millisecond})

	const n = 30
	ids := map[string]bool{}
	for i := range n {
		op := fmt.Sprintf("import-%d", i)
		m, err := retry(t, func() (upstream.MessageMeta, error) {
			return sess.Import(ctx, upstream.ImportRequest{OpID: op, Raw: []byte(op), MailboxIDs: []string{upstream.Inbox}})
		})
		if err != nil {
			t.Fatal(err)
		}
		ids[m.ID] = true
	}
	for i := range n {
		op := fmt.Sprintf("send-%d", i)
		m, err := retry(t, func() (upstream.MessageMeta, error) {
			return sess.Send(ctx, upstream.SendRequest{OpID: op, From: testEmail, Recipients: []string{"x@elsewhere.test"}, Raw: []byte(op), SentCopy: []byte(op)})
		})
		if err != nil {
			t.Fatal(err)
		}
		ids[m.ID] = true
	}
	s.SetFaults(Faults{})

	msgs, err := s.Messages(testUser)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2*n || len(ids) != 2*n {
		t.Fatalf("%d messages stored, %d IDs returned; want %d", len(msgs), len(ids), 2*n)
	}
	if out := s.Outbound(); len(out) != n {
		t.Fatalf("%d deliveries, want %d", len(out), n)
	}
}
