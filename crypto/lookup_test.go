package crypto

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// keyServer is a FetchKeys that counts its calls.
type keyServer struct {
	mu    sync.Mutex
	keys  map[string][]byte
	err   error
	calls int
}

func (s *keyServer) fetch(_ context.Context, email string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.err != nil {
		return nil, s.err
	}
	return s.keys[strings.ToLower(email)], nil
}

func (s *keyServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func armoredPublic(t *testing.T, e *openpgp.Entity) []byte {
	t.Helper()
	a, err := ArmorPublicKey(e)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func fingerprints(l openpgp.EntityList) []string {
	var out []string
	for _, e := range l {
		out = append(out, string(e.PrimaryKey.Fingerprint))
	}
	return out
}

func TestKeyLookupPolicyAndCache(t *testing.T) {
	bob, mallory := key(t, "bob"), key(t, "mallory")
	srv := &keyServer{keys: map[string][]byte{"bob@example.net": armoredPublic(t, bob)}}
	clk := &clock{t: time.Now()}
	l := NewKeyLookup(KeyLookupOptions{TTL: time.Hour, NegativeTTL: time.Minute, Now: clk.now})
	ctx := context.Background()

	// The key server wins over a pinned key.
	r, err := l.Lookup(ctx, "Bob@Example.net", srv.fetch, list(mallory))
	if err != nil || r.Source != KeysServer || len(r.Keys) != 1 || !bytes.Equal(r.Keys[0].PrimaryKey.Fingerprint, bob.PrimaryKey.Fingerprint) {
		t.Fatalf("bob: %+v %v, want bob's server key", r, err)
	}
	if _, err := l.Lookup(ctx, "bob@example.net", srv.fetch, nil); err != nil || srv.count() != 1 {
		t.Errorf("second lookup: err %v, %d fetches, want 1 (cached, case-insensitive)", err, srv.count())
	}

	// No server key: pinned keys, then none.
	r, err = l.Lookup(ctx, "carol@example.com", srv.fetch, list(mallory))
	if err != nil || r.Source != KeysPinned || len(r.Keys) != 1 {
		t.Errorf("carol with a pinned key: %+v %v, want the pinned key", r, err)
	}
	r, err = l.Lookup(ctx, "carol@example.com", srv.fetch, nil)
	if err != nil || r.Source != KeysNone || len(r.Keys) != 0 {
		t.Errorf("carol without a pinned key: %+v %v, want none", r, err)
	}
	if srv.count() != 2 {
		t.Errorf("%d fetches, want 2: the negative answer is cached too", srv.count())
	}

	// Carol publishes a key: the negative entry expires after a minute,
	// while bob's stays for an hour.
	srv.mu.Lock()
	srv.keys["carol@example.com"] = armoredPublic(t, mallory)
	srv.mu.Unlock()
	clk.advance(2 * time.Minute)
	r, err = l.Lookup(ctx, "carol@example.com", srv.fetch, nil)
	if err != nil || r.Source != KeysServer {
		t.Errorf("carol after the negative TTL: %+v %v, want her new server key", r, err)
	}
	if _, err := l.Lookup(ctx, "bob@example.net", srv.fetch, nil); err != nil || srv.count() != 3 {
		t.Errorf("bob within the TTL: %d fetches, want 3", srv.count())
	}
	clk.advance(2 * time.Hour)
	if _, err := l.Lookup(ctx, "bob@example.net", srv.fetch, nil); err != nil || srv.count() != 4 {
		t.Errorf("bob after the TTL: %d fetches, want 4", srv.count())
	}
	l.Forget("BOB@example.net")
	if _, err := l.Lookup(ctx, "bob@example.net", srv.fetch, nil); err != nil || srv.count() != 5 {
		t.Errorf("bob after Forget: %d fetches, want 5", srv.count())
	}
}

func TestKeyLookupFailsClosed(t *testing.T) {
	bob, mallory := key(t, "bob"), key(t, "mallory")
	srv := &keyServer{keys: map[string][]byte{
		"bob@example.net":  armoredPublic(t, bob),
		"eve@example.com":  []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot a key\n-----END PGP PUBLIC KEY BLOCK-----\n"),
		"mallory@evil.com": armoredPublic(t, mallory),
	}}
	// Before the keys were created, none of them can encrypt: the same
	// check that refuses an expired or revoked key.
	past := &clock{t: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := NewKeyLookup(KeyLookupOptions{Now: past.now})
	ctx := context.Background()

	var unusable *UnusableKeyError
	if _, err := l.Lookup(ctx, "bob@example.net", srv.fetch, nil); !errors.As(err, &unusable) || !strings.Contains(err.Error(), "expired or revoked") {
		t.Errorf("unusable server key: got %v, want an UnusableKeyError", err)
	}
	if _, err := l.Lookup(ctx, "eve@example.com", srv.fetch, nil); !errors.As(err, &unusable) || !strings.Contains(err.Error(), "cannot be read") {
		t.Errorf("garbage server key: got %v, want an UnusableKeyError", err)
	}

	// A usable pinned key rescues an unusable server key.
	now := NewKeyLookup(KeyLookupOptions{})
	r, err := now.Lookup(ctx, "eve@example.com", srv.fetch, list(mallory))
	if err != nil || r.Source != KeysPinned {
		t.Errorf("garbage server key with a pinned key: %+v %v, want the pinned key", r, err)
	}

	// Fetch failures are returned wrapped and never cached.
	boom := errors.New("key server down")
	srv.err = boom
	if _, err := now.Lookup(ctx, "new@example.com", srv.fetch, nil); !errors.Is(err, boom) {
		t.Errorf("fetch failure: got %v, want it wrapped", err)
	}
	srv.err = nil
	calls := srv.count()
	if r, err := now.Lookup(ctx, "new@example.com", srv.fetch, nil); err != nil || r.Source != KeysNone || srv.count() != calls+1 {
		t.Errorf("after a failure: %+v %v, %d fetches; want a fresh fetch", r, err, srv.count()-calls)
	}
}

func TestKeyLookupBounded(t *testing.T) {
	srv := &keyServer{keys: map[string][]byte{}}
	l := NewKeyLookup(KeyLookupOptions{MaxEntries: 3})
	for _, a := range []string{"a@x", "b@x", "c@x", "d@x", "e@x"} {
		if _, err := l.Lookup(context.Background(), a, srv.fetch, nil); err != nil {
			t.Fatal(err)
		}
	}
	l.mu.Lock()
	n := len(l.cache)
	l.mu.Unlock()
	if n > 3 {
		t.Errorf("%d cache entries, want at most 3", n)
	}
}

func TestAttachPublicKey(t *testing.T) {
	alice := key(t, "alice")
	msg := []byte("From: alice@example.org\r\nTo: carol@example.com\r\nSubject: hi\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\ncaf\xe9\r\nlast line\r\n")
	out, err := AttachPublicKey(msg, alice)
	if err != nil {
		t.Fatal(err)
	}
	hdr, body := splitMessage(out)
	h, _ := parseHeader(hdr)
	mt, params := mediaType(h.get("Content-Type"))
	if mt != "multipart/mixed" || h.get("Subject") != "hi" || h.get("MIME-Version") != "1.0" {
		t.Fatalf("outer header:\n%s", hdr)
	}
	parts, err := splitMultipart(body, params["boundary"])
	if err != nil || len(parts) != 2 {
		t.Fatalf("%d parts, err %v", len(parts), err)
	}
	want := "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\ncaf\xe9\r\nlast line\r\n"
	if string(parts[0]) != want {
		t.Errorf("first part %q, want the original entity %q", parts[0], want)
	}
	kh, kb := splitMessage(parts[1])
	if !bytes.Contains(kh, []byte("application/pgp-keys")) {
		t.Errorf("key part header %q", kh)
	}
	keys, err := ReadKeys(kb)
	if err != nil || len(keys) != 1 || !bytes.Equal(keys[0].PrimaryKey.Fingerprint, alice.PrimaryKey.Fingerprint) || keys[0].PrivateKey != nil {
		t.Errorf("attached key: %v %v, want alice's public key only", fingerprints(keys), err)
	}
}
