package bridge

import (
	"testing"
	"time"
)

func TestReleaseDue(t *testing.T) {
	for _, c := range []struct {
		ago  time.Duration
		read int64
		want bool
	}{
		{time.Since(time.Time{}), 0, true},                // never released
		{releaseMemoryEvery, 0, true},                     // the idle round
		{releaseMemoryEvery - time.Second, 0, false},      // not yet
		{releaseCheckEvery, releaseAfterRead, true},       // a big read
		{releaseCheckEvery, releaseAfterRead - 1, false},  // a small one
		{releaseMemoryEvery - time.Second, 1 << 30, true}, // a huge one
	} {
		if got := releaseDue(c.ago, c.read); got != c.want {
			t.Errorf("releaseDue(%v, %d) = %v, want %v", c.ago, c.read, got, c.want)
		}
	}
}
