package syncer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"go.uber.org/goleak"

	"github.com/mailbridge/mailbridge/crypto"
	"github.com/mailbridge/mailbridge/store"
	"github.com/mailbridge/mailbridge/syncer"
	"github.com/mailbridge/mailbridge/upstream"
	"github.com/mailbridge/mailbridge/upstream/mock"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(child(dir))
	}
	goleak.VerifyTestMain(m)
}

const (
	user = "demo"
	pass = "demo password"
)

func cacheKey() []byte { return bytes.Repeat([]byte{0x42}, 32) }

// newMock starts a mock upstream (persistent if dir is set) with the demo
// account and n seeded messages.
func newMock(t testing.TB, dir string, n int) *mock.Server {
	t.Helper()
	srv, err := mock.New(mock.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	err = srv.AddUser(mock.UserSpec{
		Username:  user,
		Password:  pass,
		Addresses: []upstream.Address{{Email: mock.DemoEmail, Name: "Demo User"}},
		Key:       mock.DemoKey(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		if err := srv.Seed(user, n, 1); err != nil {
			t.Fatal(err)
		}
	}
	return srv
}

func login(t testing.TB, srv *mock.Server) upstream.Session {
	t.Helper()
	sess, err := srv.Login(context.Background(), user, pass)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess
}

func keys() openpgp.EntityList { return openpgp.EntityList{mock.DemoKey()} }

// env is a syncer between a mock upstream and a store in a temp dir.
type env struct {
	srv  *mock.Server
	sess upstream.Session
	st   *store.Store
	path string
	opts syncer.Options
	log  *logRecorder

	sy     *syncer.Syncer
	cancel context.CancelFunc
	done   chan error
}

func newEnv(t testing.TB, seed int) *env {
	t.Helper()
	srv := newMock(t, "", seed)
	e := &env{srv: srv, sess: login(t, srv), path: filepath.Join(t.TempDir(), "cache.db"), log: &logRecorder{}}
	e.open(t)
	return e
}

func (e *env) open(t testing.TB) {
	t.Helper()
	st, err := store.Open(store.Options{Path: e.path, Key: cacheKey()})
	if err != nil {
		t.Fatal(err)
	}
	e.st = st
	t.Cleanup(func() { st.Close() })
	e.opts = syncer.Options{
		Session:     e.sess,
		Store:       st,
		Keys:        keys(),
		Logger:      slog.New(e.log),
		Workers:     4,
		PageSize:    50,
		PollTimeout: 5 * time.Second,
		MaxBackoff:  200 * time.Millisecond,
	}
}

// start runs a syncer until stop or the end of the test.
func (e *env) start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.sy = syncer.New(e.opts)
	e.cancel = cancel
	e.done = make(chan error, 1)
	sy := e.sy
	go func() { e.done <- sy.Run(ctx) }()
	t.Cleanup(func() { e.stop(t) })
}

func (e *env) stop(t testing.TB) {
	t.Helper()
	if e.cancel == nil {
		return
	}
	e.cancel()
	if err := <-e.done; err != nil {
		t.Errorf("Run: %v", err)
	}
	e.cancel = nil
}

func (e *env) waitSynced(t testing.TB) {
	t.Helper()
	select {
	case <-e.sy.Synced():
	case err := <-e.done:
		t.Fatalf("Run ended before the sync: %v", err)
	case <-time.After(time.Minute):
		t.Fatalf("no initial sync after a minute: %+v", e.sy.Progress())
	}
}

// waitFor polls cond until it holds. The minute is a guard against a hung
// test, not a performance assertion.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// msgState is one message as both sides should agree on it.
type msgState struct {
	labels string // sorted upstream label IDs
	flags  upstream.Flags
}

func (m msgState) String() string { return fmt.Sprintf("[%s %05b]", m.labels, m.flags) }

// upstreamState is the mock's view: message ID -> labels and flags.
func upstreamState(t testing.TB, srv *mock.Server) map[string]msgState {
	t.Helper()
	snap, err := srv.Snapshot(user)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]msgState, len(snap.Messages))
	for _, m := range snap.Messages {
		ls := slices.Clone(m.MailboxIDs)
		slices.Sort(ls)
		out[m.ID] = msgState{labels: strings.Join(ls, ","), flags: m.Flags}
	}
	return out
}

var flagBits = map[string]upstream.Flags{
	`\Seen`: upstream.FlagSeen, `\Flagged`: upstream.FlagFlagged, `\Answered`: upstream.FlagAnswered,
	`\Draft`: upstream.FlagDraft, `$Forwarded`: upstream.FlagForwarded,
}

// cacheState is the store's view in the same terms, and an error if a
// message has no upstream ID yet or appears twice in a mailbox.
func cacheState(st *store.Store) (map[string]msgState, error) {
	mbs, err := st.Mailboxes()
	if err != nil {
		return nil, err
	}
	labels := map[string][]string{}
	flags := map[string]upstream.Flags{}
	for _, mb := range mbs {
		if mb.Role == store.RoleAll {
			continue
		}
		if mb.UpstreamID == "" {
			return nil, fmt.Errorf("mailbox %q not pushed yet", mb.Name)
		}
		es, err := st.Entries(mb.ID)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			up, err := st.UpstreamID(e.MsgID)
			if err != nil {
				return nil, err
			}
			if up == "" {
				return nil, errors.New("a message is not imported yet")
			}
			if slices.Contains(labels[up], mb.UpstreamID) {
				return nil, fmt.Errorf("message %s twice in %s", up, mb.Name)
			}
			labels[up] = append(labels[up], mb.UpstreamID)
			var f upstream.Flags
			for _, name := range e.Flags {
				f |= flagBits[name]
			}
			flags[up] = f
		}
	}
	out := make(map[string]msgState, len(labels))
	for id, ls := range labels {
		slices.Sort(ls)
		out[id] = msgState{labels: strings.Join(ls, ","), flags: flags[id]}
	}
	return out, nil
}

// converged waits until the outbox is empty and the cache shows exactly
// the upstream's messages, labels and flags.
func converged(t testing.TB, st *store.Store, srv *mock.Server) map[string]msgState {
	t.Helper()
	var last string
	var up map[string]msgState
	waitFor2(t, "the cache to converge", func() bool {
		n, err := st.OutboxLen()
		if err != nil || n > 0 {
			last = fmt.Sprintf("outbox %d %v", n, err)
			return false
		}
		up = upstreamState(t, srv)
		local, err := cacheState(st)
		if err != nil {
			last = err.Error()
			return false
		}
		if !mapsEqual(up, local) {
			last = diffStates(up, local)
			return false
		}
		return true
	}, func() string { return last })
	return up
}

func waitFor2(t testing.TB, what string, cond func() bool, why func() string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s: %s", what, why())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mapsEqual(a, b map[string]msgState) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func diffStates(up, local map[string]msgState) string {
	var out []string
	for k, v := range up {
		if w, ok := local[k]; !ok {
			out = append(out, "missing locally "+k)
		} else if w != v {
			out = append(out, fmt.Sprintf("%s upstream %v local %v", k, v, w))
		}
	}
	for k := range local {
		if _, ok := up[k]; !ok {
			out = append(out, "only local "+k)
		}
	}
	slices.Sort(out)
	if len(out) > 5 {
		out = append(out[:5], fmt.Sprintf("... %d more", len(out)-5))
	}
	return strings.Join(out, "; ")
}

// decryptAll decrypts every upstream message as the syncer would, by
// upstream ID.
func decryptAll(t testing.TB, srv *mock.Server, sess upstream.Session) map[string][]byte {
	t.Helper()
	msgs, err := srv.Messages(user)
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(addr string) openpgp.EntityList {
		armored, err := sess.PublicKeys(context.Background(), addr)
		if err != nil {
			return nil
		}
		ks, _ := crypto.ReadKeys(armored)
		return ks
	}
	out := make(map[string][]byte, len(msgs))
	for _, m := range msgs {
		out[m.ID] = crypto.Decrypt(m.Raw, keys(), lookup).Message
	}
	return out
}

// cachedBodies returns every cached message body by upstream ID, failing
// the test if one is cached twice.
func cachedBodies(t testing.TB, st *store.Store) map[string][]byte {
	t.Helper()
	mbs, err := st.Mailboxes()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	out := map[string][]byte{}
	for _, mb := range mbs {
		es, err := st.Entries(mb.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if seen[e.MsgID] {
				continue
			}
			seen[e.MsgID] = true
			up, err := st.UpstreamID(e.MsgID)
			if err != nil {
				t.Fatal(err)
			}
			if _, dup := out[up]; dup {
				t.Fatalf("upstream message %s is cached twice", up)
			}
			body, err := st.Body(e.MsgID)
			if err != nil {
				t.Fatal(err)
			}
			out[up] = body
		}
	}
	return out
}

func mailbox(t testing.TB, st *store.Store, name string) store.Mailbox {
	t.Helper()
	mb, err := st.MailboxByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return mb
}

// logRecorder is a slog handler that keeps messages, to see which path
// the syncer took.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.msgs = append(l.msgs, r.Message)
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if m == msg {
			n++
		}
	}
	return n
}
