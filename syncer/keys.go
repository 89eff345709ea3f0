package syncer

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/mailbridge/mailbridge/crypto"
	"github.com/mailbridge/mailbridge/upstream"
)

// senderKeys looks up the public keys that verify a sender's signature,
// asking the upstream key server once per address and remembering the
// answer (including "none") for a while, so an initial sync of thousands
// of messages from a few senders makes a few lookups.
type senderKeys struct {
	s    *Syncer
	sess upstream.Session
	ttl  time.Duration

	mu    sync.Mutex
	cache map[string]keyEntry
}

type keyEntry struct {
	keys    openpgp.EntityList
	fetched time.Time
}

func newSenderKeys(s *Syncer) *senderKeys {
	return &senderKeys{s: s, sess: s.opts.Session, ttl: time.Hour, cache: make(map[string]keyEntry)}
}

// lookup is a crypto.SenderKeys. A lookup that fails for a passing reason
// is not cached, so the next message tries again.
func (k *senderKeys) lookup(ctx context.Context, addr string) openpgp.EntityList {
	addr = strings.ToLower(strings.TrimSpace(addr))
	if addr == "" {
		return nil
	}
	k.mu.Lock()
	e, ok := k.cache[addr]
	k.mu.Unlock()
	if ok && time.Since(e.fetched) < k.ttl {
		return e.keys
	}

	// A passing failure retried here keeps a flaky key server from
	// marking a good signature as unverifiable for good.
	armored, err := retry(ctx, k.s, fetchAttempts, func() ([]byte, error) { return k.sess.PublicKeys(ctx, addr) })
	var keys openpgp.EntityList
	switch {
	case err == nil:
		keys, err = crypto.ReadKeys(armored)
		if err != nil {
			keys = nil // a broken key is as good as none: the verdict says unknown key
		}
	case upstream.KindOf(err) != upstream.NotFound:
		return nil
	}
	k.mu.Lock()
	k.cache[addr] = keyEntry{keys: keys, fetched: time.Now()}
	k.mu.Unlock()
	return keys
}
