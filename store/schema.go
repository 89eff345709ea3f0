package store

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Buckets, all top level. Integer keys are big-endian so that cursor order
// is numeric order and inserts stay sequential.
const (
	bktMeta      = "meta"      // schema version, key check, cursor, last UIDVALIDITY
	bktMailboxes = "mailboxes" // mailbox ID u64 -> sealed JSON Mailbox
	bktMessages  = "messages"  // message ID u64 -> msgRec (clear: IDs, flags, date, size, memberships)
	bktMsgUp     = "msgup"     // upstream message ID -> message ID u64
	bktBodies    = "bodies"    // message ID u64 -> sealed RFC 822 message
	bktEntries   = "entries"   // mailbox ID u64 + UID u32 -> entryRec
	bktKeywords  = "keywords"  // keyword ID u32 -> sealed keyword name
	bktOutbox    = "outbox"    // seq u64 -> sealed JSON opRec
	bktOpIDs     = "opids"     // OpID -> seq u64 of an op queued before version 4
	bktRefs      = "refs"      // kind byte + local ID u64 -> 'p' seq u64 (create/import queued) or 'b' upstream ID (bound)
	bktPending   = "pending"   // message ID u64 -> u32 number of queued ops that touch the message

	// Since version 2.
	bktParsed   = "parsed"   // message ID u64 -> sealed JSON parsedWire (envelope, body structure, header)
	bktPostings = "postings" // term key u64 + chunk u32 -> message IDs (uvarint deltas)
	bktVocab    = "vocab"    // word key u64 -> sealed word
	bktGone     = "gone"     // upstream message ID -> seq u64 of the queued OpDelete
)

// Keys in bktMeta.
var (
	keyVersion     = []byte("version")
	keyCheck       = []byte("check")
	keyCursor      = []byte("cursor")
	keyUIDValidity = []byte("uidvalidity")
	keyOpPrefix    = []byte("opprefix")   // 8 random bytes: see wtx.opID
	keyOrphanSubs  = []byte("orphansubs") // sealed: see subscriptions.go
)

// checkValue is sealed into bktMeta when the file is created, so that a
// wrong key is detected by Open rather than by some later read.
const checkValue = "mailbridge store key check v1"

// A migration upgrades the file from version-1 to version.
type migration struct {
	version uint32
	up      func(w *wtx) error
}

// migrations lists every schema upgrade in order; the last one's version
// is the current schema. Append, never edit: old files replay the tail.
func migrations() []migration {
	return []migration{
		{version: 1, up: migrateV1},
		{version: 2, up: migrateV2},
		{version: 3, up: migrateV3},
		{version: 4, up: migrateV4},
	}
}

// migrateV4 gives the file its op prefix. From now on an op's ID names
// its seq, and bktOpIDs only holds the ops queued before. Older programs
// would not find the new ops' echoes, so the version keeps them out.
func migrateV4(w *wtx) error {
	meta := w.tx.Bucket([]byte(bktMeta))
	if meta.Get(keyOpPrefix) != nil {
		return nil
	}
	p := make([]byte, 8)
	_, _ = rand.Read(p) // never fails (Go 1.24+)
	return meta.Put(keyOpPrefix, p)
}

// migrateV3 adds the per-field terms (FROM, TO, CC, BCC, SUBJECT) of every
// indexed message, from its stored header block: those searches are
// answered from the index from now on. The words are in the vocabulary
// already, as header words.
func migrateV3(w *wtx) error {
	return w.parsed.ForEach(func(k, _ []byte) error {
		id := decodeU64(k)
		hb, err := w.s.headerTx(w.tx, id)
		if err != nil {
			return err
		}
		for _, t := range w.s.fieldTerms(hb) {
			w.queueTerm(t, id, noWord)
		}
		return nil
	})
}

// migrateV2 adds the parsed form, search document and index of every
// cached message (parse once, at sync time, from now on).
func migrateV2(w *wtx) error {
	for _, name := range []string{bktParsed, bktPostings, bktVocab, bktGone} {
		if _, err := w.tx.CreateBucketIfNotExists([]byte(name)); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	w.loadBuckets()
	return w.bodies.ForEach(func(k, v []byte) error {
		body, err := w.s.seal.open(bktBodies, k, v)
		if err != nil {
			return err
		}
		return w.putAnalysis(decodeU64(k), w.s.Analyze(body))
	})
}

func migrateV1(w *wtx) error {
	for _, name := range []string{bktMailboxes, bktMessages, bktMsgUp, bktBodies, bktEntries,
		bktKeywords, bktOutbox, bktOpIDs, bktRefs, bktPending} {
		if _, err := w.tx.CreateBucketIfNotExists([]byte(name)); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	w.loadBuckets()
	if w.byRole(RoleAll) == nil {
		if _, err := w.newMailbox(AllMailName, RoleAll, "", true); err != nil {
			return err
		}
	}
	return nil
}

// initSchema checks the key and runs pending migrations, in one transaction.
func (s *Store) initSchema(tx *bolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists([]byte(bktMeta))
	if err != nil {
		return fmt.Errorf("store: create meta bucket: %w", err)
	}
	if sealed := meta.Get(keyCheck); sealed != nil {
		plain, err := s.seal.open(bktMeta, keyCheck, sealed)
		if err != nil {
			return err
		}
		if !bytes.Equal(plain, []byte(checkValue)) {
			return fmt.Errorf("%w: key check mismatch", ErrBadKey)
		}
	} else {
		if err := meta.Put(keyCheck, s.seal.seal(bktMeta, keyCheck, []byte(checkValue))); err != nil {
			return fmt.Errorf("store: write key check: %w", err)
		}
	}

	var version uint32
	if v := meta.Get(keyVersion); len(v) == 4 {
		version = binary.BigEndian.Uint32(v)
	}
	ms := migrations()
	if latest := ms[len(ms)-1].version; version > latest {
		return fmt.Errorf("store: cache schema version %d is newer than this program's %d", version, latest)
	}
	for _, m := range ms {
		if m.version <= version {
			continue
		}
		w, err := s.newWtx(tx)
		if err != nil {
			return err
		}
		if err := m.up(w); err != nil {
			return fmt.Errorf("store: migrate to version %d: %w", m.version, err)
		}
		if err := w.flush(); err != nil {
			return err
		}
		if err := meta.Put(keyVersion, binary.BigEndian.AppendUint32(nil, m.version)); err != nil {
			return fmt.Errorf("store: write schema version: %w", err)
		}
		version = m.version
		s.log.Info("cache schema upgraded", "version", version)
	}
	p := meta.Get(keyOpPrefix)
	if len(p) != 8 {
		return fmt.Errorf("store: op prefix missing")
	}
	s.opPrefix = hex.EncodeToString(p)
	return nil
}

func u64key(v uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), v) }

func entryKey(mbox uint64, uid uint32) []byte {
	k := make([]byte, 0, 12)
	k = binary.BigEndian.AppendUint64(k, mbox)
	return binary.BigEndian.AppendUint32(k, uid)
}
