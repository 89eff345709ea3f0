package bridge_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
)

// TestQuotaFromUpstream: GETQUOTAROOT and GETQUOTA show the mock
// service's numbers, in KiB.
func TestQuotaFromUpstream(t *testing.T) {
	up := newMock(t, 5)
	info, br, _ := runBridge(t, t.TempDir(), up, true)
	c := login(t, br, info)

	sess, err := up.Login(context.Background(), liveUser, livePass)
	if err != nil {
		t.Fatal(err)
	}
	q, err := sess.Quota(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if q.Used == 0 || q.Limit == 0 {
		t.Fatalf("mock quota %+v", q)
	}
	quota := fmt.Sprintf(`* QUOTA "" (STORAGE %d %d)`, (q.Used+1023)/1024, q.Limit/1024)

	lines, err := c.OK("GETQUOTAROOT INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{`* QUOTAROOT "INBOX" ""`, quota}; !slices.Equal(lines, want) {
		t.Fatalf("GETQUOTAROOT: %q, want %q", lines, want)
	}
	lines, err = c.OK(`GETQUOTA ""`)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(lines, []string{quota}) {
		t.Fatalf("GETQUOTA: %q, want %q", lines, quota)
	}
}
