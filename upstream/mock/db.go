package mock

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/mailbridge/mailbridge/upstream"
)

// Bucket layout. Top level: meta, users (userID -> userRecord), names
// (username -> userID), addrs (lower-case email -> userID), tokens
// (sha256(token) -> userID, or pendingPrefix+userID while the login waits
// for its second factor), keys (lower-case email -> armored public keys
// published with PublishKey), and one bucket per account named "u:"+userID
// holding the sub-buckets below.
var (
	bktMeta   = []byte("meta")
	bktUsers  = []byte("users")
	bktNames  = []byte("names")
	bktAddrs  = []byte("addrs")
	bktTokens = []byte("tokens")
	bktKeys   = []byte("keys")

	bktLabels = []byte("labels") // label ID -> upstream.Mailbox
	bktMsgs   = []byte("msgs")   // message ID -> upstream.MessageMeta
	bktRaw    = []byte("raw")    // message ID -> stored bytes
	bktEvents = []byte("events") // big-endian seq -> upstream.Event
	bktOps    = []byte("ops")    // OpID -> message ID

	keySchema = []byte("schema")
)

const schemaVersion = "1"

// userRecord is one account as stored.
type userRecord struct {
	ID         string
	Username   string
	PassSalt   []byte
	PassHash   []byte
	Addresses  []upstream.Address
	PrivateKey []byte // armored, locked with the password
	PublicKey  []byte // armored
	TOTPSecret []byte `json:",omitempty"` // set when the account needs a second factor
	NextMsg    uint64 // counter for message IDs
	NextLabel  uint64 // counter for user label IDs
	LastEvent  uint64 // sequence number of the newest event
	Used       int64  // sum of stored message sizes
}

func (s *Server) initDB() error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bktMeta, bktUsers, bktNames, bktAddrs, bktTokens, bktKeys} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bktMeta)
		switch v := meta.Get(keySchema); {
		case v == nil:
			return meta.Put(keySchema, []byte(schemaVersion))
		case string(v) != schemaVersion:
			return fmt.Errorf("unsupported schema version %q", v)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mock: init state: %w", err)
	}
	return nil
}

// account is one user's state inside a bbolt transaction. Mutations queue
// events; write flushes them and the record when the transaction ends.
type account struct {
	rec    *userRecord
	b      *bolt.Bucket
	events []upstream.Event
	dirty  bool
}

func (a *account) bucket(name []byte) *bolt.Bucket { return a.b.Bucket(name) }

// emit queues an event, stored with the next sequence number at commit.
func (a *account) emit(ev upstream.Event) {
	a.events = append(a.events, ev)
	a.dirty = true
}

// wtx is a write transaction over any number of accounts.
type wtx struct {
	tx       *bolt.Tx
	accounts map[string]*account
	order    []string // accounts in first-touch order, for determinism
	// result is returned by write after a successful commit, for calls
	// that apply part of a request and report the rest as failed.
	result error
}

func loadAccount(tx *bolt.Tx, userID string) (*account, error) {
	v := tx.Bucket(bktUsers).Get([]byte(userID))
	if v == nil {
		return nil, upstream.Errorf(upstream.AuthFailed, "no such account")
	}
	rec := new(userRecord)
	if err := json.Unmarshal(v, rec); err != nil {
		return nil, fmt.Errorf("decode account: %w", err)
	}
	return openAccount(tx, userID, rec)
}

func openAccount(tx *bolt.Tx, userID string, rec *userRecord) (*account, error) {
	b := tx.Bucket(userBucket(userID))
	if b == nil {
		return nil, fmt.Errorf("account %s has no data bucket", userID)
	}
	return &account{rec: rec, b: b}, nil
}

// account returns the state of userID, loading it on first use.
func (w *wtx) account(userID string) (*account, error) {
	if a, ok := w.accounts[userID]; ok {
		return a, nil
	}
	a, err := loadAccount(w.tx, userID)
	if err != nil {
		return nil, err
	}
	w.accounts[userID] = a
	w.order = append(w.order, userID)
	return a, nil
}

// write runs fn in one bbolt write transaction, then stores queued events
// and changed records, commits (fsync when persistent) and wakes the long
// polls of every account that got events. Errors that are not upstream
// errors come from the storage and are reported as Temporary.
func (s *Server) write(fn func(w *wtx) error) error {
	if s.closed() {
		return &upstream.Error{Kind: upstream.Temporary, Err: errClosed}
	}
	var (
		woken  []string
		result error
	)
	err := s.db.Update(func(tx *bolt.Tx) error {
		w := &wtx{tx: tx, accounts: map[string]*account{}}
		if err := fn(w); err != nil {
			return err
		}
		result = w.result
		for _, id := range w.order {
			a := w.accounts[id]
			if !a.dirty {
				continue
			}
			if err := s.flushEvents(a); err != nil {
				return err
			}
			if err := putJSON(tx.Bucket(bktUsers), []byte(id), a.rec); err != nil {
				return err
			}
			if len(a.events) > 0 {
				woken = append(woken, id)
			}
		}
		return nil
	})
	if err != nil {
		return asUpstream(err)
	}
	for _, id := range woken {
		s.hub.notify(id)
	}
	return result
}

// read runs fn in a read transaction on one account.
func (s *Server) read(userID string, fn func(a *account) error) error {
	if s.closed() {
		return &upstream.Error{Kind: upstream.Temporary, Err: errClosed}
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bktUsers).Get([]byte(userID))
		if v == nil {
			return upstream.Errorf(upstream.AuthFailed, "no such account")
		}
		rec, err := s.recs.get(userID, v)
		if err != nil {
			return err
		}
		a, err := openAccount(tx, userID, rec)
		if err != nil {
			return err
		}
		return fn(a)
	})
	return asUpstream(err)
}

// recordCache keeps the decoded record of each account for read calls:
// decoding it (keys and all) cost more than the rest of a GetMessage, and a
// sync makes one call per message. An entry is used only while the stored
// bytes are equal to the bytes it was decoded from, so every writer, however
// it stores the record, invalidates it.
type recordCache struct {
	mu sync.Mutex
	m  map[string]cachedRecord
}

type cachedRecord struct {
	raw []byte
	rec userRecord
}

// get returns a copy of the record stored as raw. Readers may change the
// copy's fields, not the contents of its slices.
func (c *recordCache) get(userID string, raw []byte) (*userRecord, error) {
	c.mu.Lock()
	e, ok := c.m[userID]
	c.mu.Unlock()
	if ok && bytes.Equal(e.raw, raw) {
		rec := e.rec
		return &rec, nil
	}
	e = cachedRecord{raw: bytes.Clone(raw)}
	if err := json.Unmarshal(raw, &e.rec); err != nil {
		return nil, fmt.Errorf("decode account: %w", err)
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[string]cachedRecord)
	}
	c.m[userID] = e
	c.mu.Unlock()
	rec := e.rec
	return &rec, nil
}

// flushEvents stores the queued events of a and drops those beyond the
// retention window.
func (s *Server) flushEvents(a *account) error {
	b := a.bucket(bktEvents)
	for _, ev := range a.events {
		a.rec.LastEvent++
		if err := putJSON(b, seqKey(a.rec.LastEvent), ev); err != nil {
			return err
		}
	}
	if a.rec.LastEvent <= uint64(s.opts.EventRetention) {
		return nil
	}
	cut := a.rec.LastEvent - uint64(s.opts.EventRetention)
	var old [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= cut; k, _ = c.Next() {
		old = append(old, k)
	}
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func userBucket(userID string) []byte { return []byte("u:" + userID) }

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return b.Put(key, data)
}

func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	data := b.Get(key)
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return true, fmt.Errorf("decode %s: %w", key, err)
	}
	return true, nil
}

// getMeta loads a message's metadata; ok is false when it does not exist.
func (a *account) getMeta(id string) (upstream.MessageMeta, bool, error) {
	var m upstream.MessageMeta
	ok, err := getJSON(a.bucket(bktMsgs), []byte(id), &m)
	return m, ok, err
}

func (a *account) putMeta(m upstream.MessageMeta) error {
	a.dirty = true
	return putJSON(a.bucket(bktMsgs), []byte(m.ID), m)
}

// newMessageID returns the next ordinary message ID. Zero padding keeps
// byte order equal to creation order.
func (a *account) newMessageID() string {
	a.rec.NextMsg++
	a.dirty = true
	return "m" + pad(a.rec.NextMsg)
}

func pad(n uint64) string {
	s := strconv.FormatUint(n, 10)
	const width = 10
	for len(s) < width {
		s = "0" + s
	}
	return s
}

// asUpstream keeps upstream errors as they are and reports anything else
// (storage trouble) as Temporary.
func asUpstream(err error) error {
	if err == nil {
		return nil
	}
	var ue *upstream.Error
	if errors.As(err, &ue) {
		return err
	}
	return &upstream.Error{Kind: upstream.Temporary, Msg: "storage", Err: err}
}
