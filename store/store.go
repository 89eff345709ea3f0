package store

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Options configure a Store.
type Options struct {
	// Path is the account's bbolt file; it is created if missing.
	Path string
	// Key is the 32-byte per-account cache key. It seals every body,
	// header, subject, address, mailbox and keyword name in the file.
	Key []byte
	// Logger receives operational logs, never mail content; nil discards.
	Logger *slog.Logger
	// UIDValidityFloor is the highest UIDVALIDITY an earlier cache of the
	// same account handed out (see LastUIDValidity). A new cache starts
	// above it, so clients notice that a lost or reset cache renumbered
	// its mailboxes even when it is rebuilt within the same second.
	UIDValidityFloor uint32
}

// initialMmap is the mapping bbolt starts with on 64-bit systems.
const initialMmap = 1 << 30

// Store is one account's local cache. It is safe for concurrent use: reads
// run in parallel, writes are serialised.
type Store struct {
	db   *bolt.DB
	seal *sealer
	// idxCipher keys the search index's hashes (termKey).
	idxCipher cipher.Block
	log       *slog.Logger
	vocab     vocabulary
	uidFloor  uint32
	// opPrefix begins the ID of every op this file queues (wtx.opID).
	opPrefix string

	// wmu serialises write transactions together with the notification
	// of their changes, so that watchers see changes in commit order.
	wmu sync.Mutex
	// queued holds the writes waiting for wmu (group.go).
	queueMu sync.Mutex
	queued  []*write

	// committed is every mailbox record as last committed (mboxcache.go).
	committed mailboxCache

	watchMu  sync.Mutex
	watchers map[int]func(Change)
	nextW    int

	outboxSig chan struct{}

	// idxq batches the index terms of appended messages (read_deferindex.go).
	idxq indexQueue

	// scratch recycles Analyze's buffers (*analyzeScratch): a few tens of
	// KiB per message otherwise, the largest allocation of a sync after
	// decryption.
	scratch sync.Pool

	// slabs holds sealed values while their transaction is open.
	slabs slabPool

	// readSince counts the bytes read from the mapping since the last
	// ReleaseMemory (release.go).
	readSince atomic.Int64
}

// Open opens or creates the cache file, checks the key and upgrades the
// schema. A wrong key fails with ErrBadKey.
func Open(opts Options) (*Store, error) {
	seal, err := newSealer(opts.Key)
	if err != nil {
		return nil, err
	}
	idxKey, err := indexKey(opts.Key)
	if err != nil {
		return nil, err
	}
	idxCipher, err := aes.NewCipher(idxKey)
	if err != nil {
		return nil, fmt.Errorf("store: index key: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bopts := &bolt.Options{
		// Another process holding the file fails Open instead of hanging.
		Timeout: time.Second,
		// Every commit writes the whole freelist. The map type sorts it
		// each time, which at 100,000 messages cost a sixth of an
		// APPEND; the array type keeps it sorted: 378 -> 478 APPENDs/s
		// there, and building the cache was no slower.
		FreelistType: bolt.FreelistArrayType,
	}
	if strconv.IntSize == 64 {
		// Address space only, not memory: while the file fits, a growing
		// file is not remapped, so the writer neither copies every node
		// it holds nor waits for all readers to finish (which a remap
		// needs).
		bopts.InitialMmapSize = initialMmap
	}
	db, err := bolt.Open(opts.Path, 0o600, bopts)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", opts.Path, err)
	}
	s := &Store{
		uidFloor:  opts.UIDValidityFloor,
		db:        db,
		seal:      seal,
		idxCipher: idxCipher,
		log:       log,
		watchers:  make(map[int]func(Change)),
		outboxSig: make(chan struct{}, 1),
	}
	if err := db.Update(s.initSchema); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	// No writer runs yet, so the file is what the cache must hold.
	if err := db.View(func(tx *bolt.Tx) error { return s.committed.load(tx, seal) }); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	if err := s.indexLeftovers(); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return s, nil
}

// Close closes the cache file. Calls after Close fail.
func (s *Store) Close() error {
	if err := s.closeIndexQueue(); err != nil {
		s.log.Warn("store: index appended messages", "err", err)
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// view runs fn in a read transaction.
func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	return s.db.View(fn)
}

// Watch calls fn after every committed change, in commit order, from the
// committing goroutine; fn must not block or write to the store. The
// returned stop function unregisters fn.
func (s *Store) Watch(fn func(Change)) (stop func()) {
	s.watchMu.Lock()
	id := s.nextW
	s.nextW++
	s.watchers[id] = fn
	s.watchMu.Unlock()
	return func() {
		s.watchMu.Lock()
		delete(s.watchers, id)
		s.watchMu.Unlock()
	}
}

func (s *Store) notify(changes []Change) {
	if len(changes) == 0 {
		return
	}
	s.watchMu.Lock()
	fns := make([]func(Change), 0, len(s.watchers))
	for _, fn := range s.watchers {
		fns = append(fns, fn)
	}
	s.watchMu.Unlock()
	for _, c := range changes {
		for _, fn := range fns {
			fn(c)
		}
	}
}

// OutboxSignal returns a channel that receives a value (without blocking
// the writer; capacity 1) whenever ops are queued.
func (s *Store) OutboxSignal() <-chan struct{} { return s.outboxSig }
