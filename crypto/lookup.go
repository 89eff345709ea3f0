package crypto

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// KeySource says where the keys chosen for a recipient came from.
type KeySource int

const (
	// KeysNone means the recipient has no usable key: mail to it cannot be
	// encrypted.
	KeysNone KeySource = iota
	// KeysServer means the keys are the ones the key server publishes.
	KeysServer
	// KeysPinned means the key server had no usable key and the keys are
	// the ones the user pinned locally for the address.
	KeysPinned
)

func (s KeySource) String() string {
	switch s {
	case KeysServer:
		return "key server"
	case KeysPinned:
		return "pinned"
	}
	return "none"
}

// RecipientKeys is the outcome of a key lookup for one address.
type RecipientKeys struct {
	Email  string
	Keys   openpgp.EntityList // usable for encryption now; empty for KeysNone
	Source KeySource
}

// FetchKeys asks a key server for the armored public keys of email. It
// returns nil and no error when the server knows no key for the address.
// The caller supplies it, so this package never touches the network.
type FetchKeys func(ctx context.Context, email string) ([]byte, error)

// UnusableKeyError reports an address whose key server publishes keys that
// cannot be used (unreadable, expired or revoked), with no usable pinned
// key either. Mail for such a recipient must not go out in clear: the
// sender meant it to be encrypted.
type UnusableKeyError struct {
	Email  string
	Reason string
}

func (e *UnusableKeyError) Error() string {
	return fmt.Sprintf("crypto: the published key of %s %s", e.Email, e.Reason)
}

// KeyLookupOptions configures a KeyLookup. Zero values pick the defaults.
type KeyLookupOptions struct {
	// TTL is how long a key server answer that has keys is reused; 0 means
	// 10 minutes.
	TTL time.Duration
	// NegativeTTL is how long a "no key" answer is reused. It is short by
	// default (1 minute): a recipient who has just published a key should
	// not get mail in clear for long.
	NegativeTTL time.Duration
	// MaxEntries bounds the cache; 0 means 10,000 addresses.
	MaxEntries int
	// Now returns the current time; nil means time.Now. Tests inject a
	// clock here to expire entries without waiting.
	Now func() time.Time
}

// KeyLookup decides which keys encrypt mail for a recipient, and caches
// what the key server says. It is mailbridge's key lookup policy:
//
//  1. the key server's keys, if any of them can encrypt now;
//  2. otherwise the keys the user pinned locally, if any can encrypt now;
//  3. otherwise none: the recipient gets mail unencrypted, unless the key
//     server published keys that cannot be used, which is an
//     *UnusableKeyError (fail closed).
//
// Only key server answers are cached; pinned keys are local and passed in
// on every call, so a newly pinned key takes effect at once. Failed fetches
// are not cached. A KeyLookup is safe for concurrent use.
type KeyLookup struct {
	ttl, negTTL time.Duration
	max         int
	now         func() time.Time

	mu    sync.Mutex
	cache map[string]cachedKeys
}

// cachedKeys is one key server answer. keys holds every published entity,
// usable or not: usability depends on the time of use.
type cachedKeys struct {
	keys      openpgp.EntityList
	published bool // the server returned key material, even if unreadable
	readErr   string
	expires   time.Time
}

// NewKeyLookup returns an empty KeyLookup.
func NewKeyLookup(opts KeyLookupOptions) *KeyLookup {
	l := &KeyLookup{ttl: opts.TTL, negTTL: opts.NegativeTTL, max: opts.MaxEntries, now: opts.Now,
		cache: map[string]cachedKeys{}}
	if l.ttl <= 0 {
		l.ttl = 10 * time.Minute
	}
	if l.negTTL <= 0 {
		l.negTTL = time.Minute
	}
	if l.max <= 0 {
		l.max = 10000
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l
}

// Lookup returns the keys to encrypt to for email, following the policy
// described on KeyLookup. fetch is called only when the cache has no fresh
// answer; its errors are returned wrapped, so callers can inspect them.
func (l *KeyLookup) Lookup(ctx context.Context, email string, fetch FetchKeys, pinned openpgp.EntityList) (RecipientKeys, error) {
	c, err := l.server(ctx, email, fetch)
	if err != nil {
		return RecipientKeys{}, err
	}
	now := l.now()
	if usable := usableAt(c.keys, now); len(usable) > 0 {
		return RecipientKeys{Email: email, Keys: usable, Source: KeysServer}, nil
	}
	if usable := usableAt(pinned, now); len(usable) > 0 {
		return RecipientKeys{Email: email, Keys: usable, Source: KeysPinned}, nil
	}
	if c.published {
		reason := "is expired or revoked"
		if c.readErr != "" {
			reason = "cannot be read (" + c.readErr + ")"
		}
		return RecipientKeys{}, &UnusableKeyError{Email: email, Reason: reason}
	}
	return RecipientKeys{Email: email, Source: KeysNone}, nil
}

// server returns the key server's answer for email, from the cache when
// it is fresh.
func (l *KeyLookup) server(ctx context.Context, email string, fetch FetchKeys) (cachedKeys, error) {
	k := strings.ToLower(email)
	l.mu.Lock()
	c, ok := l.cache[k]
	l.mu.Unlock()
	if ok && l.now().Before(c.expires) {
		return c, nil
	}

	armored, err := fetch(ctx, email)
	if err != nil {
		return cachedKeys{}, fmt.Errorf("crypto: key lookup for %s: %w", email, err)
	}
	c = cachedKeys{expires: l.now().Add(l.negTTL)}
	if len(armored) > 0 {
		c.published = true
		c.expires = l.now().Add(l.ttl)
		if c.keys, err = ReadKeys(armored); err != nil {
			// Short, fixed text: the parser's message is not for clients.
			c.readErr = "malformed key data"
		}
	}
	l.store(k, c)
	return c, nil
}

func (l *KeyLookup) store(k string, c cachedKeys) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.cache[k]; !ok && len(l.cache) >= l.max {
		now := l.now()
		for key, e := range l.cache {
			if !now.Before(e.expires) {
				delete(l.cache, key)
			}
		}
		// Still full of fresh entries: drop an arbitrary one. The cache
		// only saves round trips, so losing an entry costs one lookup.
		for key := range l.cache {
			if len(l.cache) < l.max {
				break
			}
			delete(l.cache, key)
		}
	}
	l.cache[k] = c
}

// Forget drops the cached answer for email, so the next Lookup asks the
// key server again (for example after the user changed a contact's keys).
func (l *KeyLookup) Forget(email string) {
	l.mu.Lock()
	delete(l.cache, strings.ToLower(email))
	l.mu.Unlock()
}

// usableAt keeps the entities that can encrypt at now. One expired key
// among several published ones must not block the message.
func usableAt(list openpgp.EntityList, now time.Time) openpgp.EntityList {
	var out openpgp.EntityList
	for _, e := range list {
		if e == nil {
			continue
		}
		if _, ok := e.EncryptionKey(now); ok {
			out = append(out, e)
		}
	}
	return out
}
