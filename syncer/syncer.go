// Package syncer keeps an account's local cache and its upstream mailbox
// in step: the initial sync, the event loop that applies upstream changes
// as they happen, and the worker that pushes the changes clients make
// (queued in the store's outbox) to the upstream.
//
// The syncer never speaks IMAP; it reads and writes the store, decrypts
// with the crypto package and calls the upstream.
package syncer

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/mailbridge/mailbridge/store"
	"github.com/mailbridge/mailbridge/upstream"
)

// Options configures a Syncer. Zero values are sane defaults.
type Options struct {
	Session upstream.Session
	Store   *store.Store
	// Keys are the account's unlocked private keys: they decrypt incoming
	// mail, and Keys[0] encrypts and signs what clients append.
	Keys   openpgp.EntityList
	Logger *slog.Logger

	// Workers is how many messages are fetched and decrypted at once
	// (default: twice the number of CPUs, since half the time is network).
	Workers int
	// PageSize is how many message records are listed per upstream call.
	PageSize int
	// PollTimeout bounds one long poll of the event stream.
	PollTimeout time.Duration
	// MaxInFlight bounds the bytes of messages between being listed and
	// being stored during a sync (default 64 MiB), which bounds the
	// sync's memory whatever the mailbox size.
	MaxInFlight int64
	// MaxBackoff caps the wait between retries of a failing upstream
	// (default 30 s); a rate limit's retry-after may ask for longer.
	MaxBackoff time.Duration
}

// Syncer syncs one account. Run drives it; the other methods are safe to
// call from any goroutine.
type Syncer struct {
	opts  Options
	log   *slog.Logger
	keys  *senderKeys
	ready chan struct{}
	once  sync.Once

	done, total, failed atomic.Int64
	phase               atomic.Value // string
	lastErr             atomic.Value // string
	started             atomic.Int64 // unix nanos of the initial sync start
}

// New returns a Syncer; call Run to start it.
func New(opts Options) *Syncer {
	if opts.Workers <= 0 {
		opts.Workers = 2 * runtime.GOMAXPROCS(0)
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 500
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 64 << 20
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.PollTimeout <= 0 {
		opts.PollTimeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Syncer{
		opts:  opts,
		log:   opts.Logger,
		ready: make(chan struct{}),
	}
	s.keys = newSenderKeys(s)
	s.phase.Store("starting")
	s.lastErr.Store("")
	return s
}

// Progress is a snapshot of what the syncer is doing.
type Progress struct {
	Phase  string // "starting", "initial sync", "resync", "live"
	Done   int64  // messages synced in the current (re)sync
	Total  int64  // messages the current (re)sync has found so far
	Failed int64  // messages that could not be fetched or decrypted and were stored with an explanation
	// ETA estimates the time left for the current (re)sync, or 0.
	ETA       time.Duration
	LastError string
}

// Progress returns the current progress.
func (s *Syncer) Progress() Progress {
	p := Progress{
		Phase:     s.phase.Load().(string),
		Done:      s.done.Load(),
		Total:     s.total.Load(),
		Failed:    s.failed.Load(),
		LastError: s.lastErr.Load().(string),
	}
	if start := s.started.Load(); start > 0 && p.Done > 0 && p.Total > p.Done {
		elapsed := time.Since(time.Unix(0, start))
		p.ETA = time.Duration(float64(elapsed) / float64(p.Done) * float64(p.Total-p.Done))
	}
	return p
}

// Synced is closed once the cache holds the whole mailbox for the first
// time (after the initial sync, or at once if it had finished before).
func (s *Syncer) Synced() <-chan struct{} { return s.ready }

// Run syncs until ctx ends: the initial sync if the cache has not finished
// one, then the event loop and the outbox worker side by side. Failures of
// the upstream are retried; Run returns only when ctx ends or the upstream
// refuses the session for good (an Auth error).
func (s *Syncer) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Go(func() { errc <- s.pushLoop(ctx) })
	wg.Go(func() { errc <- s.eventLoop(ctx) })

	err := <-errc
	cancel()
	wg.Wait()
	if ctx.Err() != nil && !errors.Is(err, errAuth) {
		return nil
	}
	return err
}

var errAuth = errors.New("syncer: the upstream refused the session")

func (s *Syncer) setErr(err error) {
	if err == nil {
		s.lastErr.Store("")
		return
	}
	s.lastErr.Store(err.Error())
}

func (s *Syncer) markSynced() { s.once.Do(func() { close(s.ready) }) }
