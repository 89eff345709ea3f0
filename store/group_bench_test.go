package store

import (
	"fmt"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// BenchmarkConcurrentFlags is ten writers changing flags at once, as ten
// clients' STOREs do; ns/op is per change.
func BenchmarkConcurrentFlags(b *testing.B) {
	s, _ := seeded(b)
	inbox := box(b, s, "INBOX")
	const writers = 10
	var wg sync.WaitGroup
	next := make(chan int)
	for w := range writers {
		wg.Go(func() {
			for i := range next {
				if _, err := s.SetFlags(inbox.ID, []uint32{1}, imap.StoreFlagsAdd, []string{fmt.Sprintf("$W%dI%d", w, i%8)}); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for i := 0; b.Loop(); i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}
