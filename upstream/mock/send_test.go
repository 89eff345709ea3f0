package mock

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/mailbridge/mailbridge/upstream"
)

// TestSendWithoutSentCopy is the second half of a split send: recipients
// get it, Sent gets nothing, and a retry delivers nothing twice.
func TestSendWithoutSentCopy(t *testing.T) {
	s, sess := newAccount(t)
	ctx := context.Background()
	before, _ := s.Messages(testUser)

	req := upstream.SendRequest{OpID: "half", From: testEmail, Recipients: []string{"a@elsewhere.test"}, Raw: []byte("plain")}
	for range 2 {
		meta, err := sess.Send(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if meta.ID != "" {
			t.Fatalf("a send without a Sent copy stored message %s", meta.ID)
		}
	}
	after, _ := s.Messages(testUser)
	if len(after) != len(before) {
		t.Fatalf("%d messages stored, want none", len(after)-len(before))
	}
	if out := s.Outbound(); len(out) != 1 || string(out[0].Raw) != "plain" {
		t.Fatalf("deliveries = %+v", out)
	}
}

// TestSendRefusedRecipients: the upstream names the recipients it refuses
// and delivers nothing.
func TestSendRefusedRecipients(t *testing.T) {
	s, sess := newAccount(t)
	_, err := sess.Send(context.Background(), upstream.SendRequest{
		From: testEmail, Recipients: []string{"ok@elsewhere.test", "nobody" + RefusedDomain},
		Raw: []byte("x"), SentCopy: []byte("x"),
	})
	var re *upstream.RecipientError
	if !errors.As(err, &re) || !slices.Equal(re.RejectedRecipients(), []string{"nobody" + RefusedDomain}) {
		t.Fatalf("err = %v", err)
	}
	if out := s.Outbound(); len(out) != 0 {
		t.Fatalf("delivered %d copies despite the refusal", len(out))
	}
}
