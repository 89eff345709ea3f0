// Package mock is an in-memory (optionally persistent), Proton-like upstream
// mail service implementing upstream.Backend. It stores encrypted messages
// with labels and flags, keeps a per-account event log served by long
// polling, answers key-server lookups, injects faults (latency, errors, rate
// limits, lost responses), offers an optional TOTP second factor per user
// (UserSpec.TOTPSecret) and seeds realistic, deterministic mail.
//
// It exists for tests, benchmarks, the `mailbridge demo` command and the
// development backend (`--upstream mock`); no production code path uses it
// otherwise.
//
// All state lives in one bbolt file. With Options.Dir set the file is kept
// there and every acknowledged change is fsynced before the call returns, so
// a restarted Server (even after SIGKILL) sees what its callers were told
// happened, like a real remote service. Without Dir the file lives in a
// temporary directory removed by Close, and is not synced.
package mock

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mailbridge/mailbridge/upstream"
)

// Options configures a Server. The zero value is a memory-only server.
type Options struct {
	// Dir keeps the state across restarts; "" keeps it only until Close.
	Dir string
	// Logger receives operational logs; nil discards them. Logs never
	// contain passwords, keys or message content.
	Logger *slog.Logger
	// EventRetention is how many events per account are kept; a cursor
	// older than that gets RefreshRequired. 0 means 1000.
	EventRetention int
	// QuotaLimit is each account's storage limit in bytes; 0 means 10 GiB.
	QuotaLimit int64
	// DeliverHook, if set, is called once per envelope recipient of every
	// message handed out by Send, after the send is stored. It may be
	// called concurrently.
	DeliverHook func(Delivery)
}

// Delivery is one message handed out by Send to one envelope recipient.
type Delivery struct {
	// ID is unique per delivery: the sender's copy's message ID and the
	// recipient's position, fit for a file name.
	ID        string
	From      string
	Recipient string
	Raw       []byte // exactly what the sender passed as SendRequest.Raw
}

// Server is the mock upstream service. It is safe for concurrent use.
type Server struct {
	opts   Options
	log    *slog.Logger
	db     *bolt.DB
	tmpDir string // removed by Close when the server is memory-only

	done      chan struct{}
	closeOnce sync.Once

	hub hub
	// recs keeps decoded account records for read calls (db.go).
	recs recordCache

	faultMu sync.Mutex
	faults  Faults
	rng     *rand.Rand

	outMu    sync.Mutex
	outbound []Delivery
}

var _ upstream.Backend = (*Server)(nil)

const (
	defaultRetention = 1000
	defaultQuota     = 10 << 30
	dbFile           = "mock.db"
)

// New opens a Server. With opts.Dir it creates the directory if needed and
// reopens the state left there by an earlier Server.
func New(opts Options) (*Server, error) {
	if opts.EventRetention <= 0 {
		opts.EventRetention = defaultRetention
	}
	if opts.QuotaLimit <= 0 {
		opts.QuotaLimit = defaultQuota
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts: opts,
		log:  log,
		done: make(chan struct{}),
		// Fault injection needs no secrecy; a fixed seed keeps single-
		// threaded test runs reproducible.
		rng: rand.New(rand.NewPCG(0x6d6f636b, 0x75707374)),
	}
	dir := opts.Dir
	bopts := &bolt.Options{Timeout: 5 * time.Second}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "mailbridge-mock-*")
		if err != nil {
			return nil, fmt.Errorf("mock: temp dir: %w", err)
		}
		s.tmpDir, dir = tmp, tmp
		bopts.NoSync = true
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mock: state dir: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, dbFile), 0o600, bopts)
	if err != nil {
		s.removeTemp()
		return nil, fmt.Errorf("mock: open state: %w", err)
	}
	s.db = db
	if err := s.initDB(); err != nil {
		db.Close()
		s.removeTemp()
		return nil, err
	}
	return s, nil
}

// Close stops the server: pending long polls return, later calls fail. A
// memory-only server forgets everything.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.done)
		if cerr := s.db.Close(); cerr != nil {
			err = fmt.Errorf("mock: close state: %w", cerr)
		}
		s.removeTemp()
	})
	return err
}

func (s *Server) removeTemp() {
	if s.tmpDir != "" {
		if err := os.RemoveAll(s.tmpDir); err != nil {
			s.log.Warn("mock: remove temp dir", "err", err)
		}
	}
}

// closed reports whether Close has been called.
func (s *Server) closed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// errClosed is returned by calls on a closed Server.
var errClosed = errors.New("mock: server closed")

// Outbound returns every delivery Send has handed out since New, oldest
// first. It is not persisted.
func (s *Server) Outbound() []Delivery {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	out := make([]Delivery, len(s.outbound))
	copy(out, s.outbound)
	return out
}

func (s *Server) recordDeliveries(ds []Delivery) {
	if len(ds) == 0 {
		return
	}
	s.outMu.Lock()
	s.outbound = append(s.outbound, ds...)
	s.outMu.Unlock()
	if s.opts.DeliverHook != nil {
		for _, d := range ds {
			s.opts.DeliverHook(d)
		}
	}
}
