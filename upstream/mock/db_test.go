package mock

import (
	"context"
	"testing"

	"github.com/mailbridge/mailbridge/upstream"
)

// Reads keep the decoded account record (recordCache); every write must
// still show in the next read.
func TestReadsSeeEveryWrite(t *testing.T) {
	_, sess := newAccount(t)
	ctx := context.Background()
	for i := range 3 {
		q, err := sess.Quota(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(4 * i); q.Used != want {
			t.Fatalf("quota used %d after %d imports, want %d", q.Used, i, want)
		}
		before, err := sess.LatestEventID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		mustImport(t, sess, upstream.ImportRequest{Raw: []byte("abcd")})
		after, err := sess.LatestEventID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if after == before {
			t.Fatalf("import %d: latest event still %s", i, after)
		}
	}
}
