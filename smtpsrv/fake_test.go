package smtpsrv

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/mailbridge/mailbridge/upstream"
)

// fakeUpstream records Send calls and answers PublicKeys from a map. It
// deduplicates sends by OpID like the real upstream. The embedded nil
// Session makes every other method panic: submission must not call them.
type fakeUpstream struct {
	upstream.Session

	mu        sync.Mutex
	keys      map[string][]byte // lower-cased address -> armored keys
	lookupErr map[string]error
	failSends []error // returned by the next Send calls, in order
	sends     []upstream.SendRequest
	ops       map[string]bool
	calls     int  // Send calls, including failed and deduplicated ones
	lookups   int  // PublicKeys calls
	discard   bool // keep no copy of sends (benchmarks)
	// reject names recipients Send refuses, with a recipientRejecter
	// error and nothing delivered.
	reject map[string]bool
}

// rejectedError is what the proposed upstream.RecipientError would be.
type rejectedError struct{ addrs []string }

func (e *rejectedError) Error() string                { return "upstream: recipients refused" }
func (e *rejectedError) RejectedRecipients() []string { return e.addrs }

func newFakeUpstream() *fakeUpstream {
	return &fakeUpstream{keys: map[string][]byte{}, lookupErr: map[string]error{}, ops: map[string]bool{}}
}

func (f *fakeUpstream) PublicKeys(_ context.Context, email string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if err := f.lookupErr[strings.ToLower(email)]; err != nil {
		return nil, err
	}
	k, ok := f.keys[strings.ToLower(email)]
	if !ok {
		return nil, upstream.Errorf(upstream.NotFound, "no key for %s", email)
	}
	return k, nil
}

func (f *fakeUpstream) Send(_ context.Context, req upstream.SendRequest) (upstream.MessageMeta, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if len(f.failSends) > 0 {
		err := f.failSends[0]
		f.failSends = f.failSends[1:]
		if err != nil {
			return upstream.MessageMeta{}, err
		}
	}
	if req.OpID == "" {
		return upstream.MessageMeta{}, errors.New("fake: send without OpID")
	}
	if f.ops[req.OpID] {
		return upstream.MessageMeta{ID: req.OpID}, nil
	}
	var refused []string
	for _, r := range req.Recipients {
		if f.reject[strings.ToLower(r)] {
			refused = append(refused, r)
		}
	}
	if len(refused) > 0 {
		return upstream.MessageMeta{}, &rejectedError{addrs: refused}
	}
	f.ops[req.OpID] = true
	if !f.discard {
		f.sends = append(f.sends, req)
	}
	return upstream.MessageMeta{ID: req.OpID, MailboxIDs: []string{upstream.Sent}}, nil
}

// failNext makes the next Send calls fail with errs; a nil entry lets that
// call through.
func (f *fakeUpstream) failNext(errs ...error) {
	f.mu.Lock()
	f.failSends = append(f.failSends, errs...)
	f.mu.Unlock()
}

func (f *fakeUpstream) delivered() []upstream.SendRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]upstream.SendRequest(nil), f.sends...)
}

func (f *fakeUpstream) lookupCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups
}

func (f *fakeUpstream) sendCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

type fakeAccount struct {
	addrs []string
	up    *fakeUpstream
	keys  openpgp.EntityList
}

func (a *fakeAccount) Addresses() []string        { return a.addrs }
func (a *fakeAccount) Upstream() upstream.Session { return a.up }
func (a *fakeAccount) Keys() openpgp.EntityList   { return a.keys }

// policyAccount adds settings and pinned keys to a fake account.
type policyAccount struct {
	*fakeAccount
	policy Policy
	pinned map[string]openpgp.EntityList // lower-cased address
}

func (a *policyAccount) SendPolicy() Policy { return a.policy }
func (a *policyAccount) PinnedKeys(email string) openpgp.EntityList {
	return a.pinned[strings.ToLower(email)]
}

var _ PolicyAccount = (*policyAccount)(nil)

type fakeAuth struct {
	user, pass string
	acct       Account
}

func (f fakeAuth) Authenticate(username, password string) (Account, error) {
	if username != f.user || password != f.pass {
		return nil, errors.New("invalid username or password")
	}
	return f.acct, nil
}
