package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mailbridge/mailbridge/upstream"
)

// ref points at a message or mailbox: by upstream ID when it was known as
// the op was queued, else by local ID, resolved through bktRefs once the
// import or create that gives it an upstream ID is done.
type ref struct {
	L uint64 `json:"l,omitempty"`
	U string `json:"u,omitempty"`
}

// opRec is an outbox op as stored (sealed: it holds names and plaintext).
type opRec struct {
	OpID       string         `json:"id"`
	Kind       OpKind         `json:"k"`
	Msgs       []ref          `json:"m,omitempty"` // OpUpdate, OpDelete
	Add        []ref          `json:"a,omitempty"` // OpUpdate
	Remove     []ref          `json:"r,omitempty"` // OpUpdate
	SetFlags   upstream.Flags `json:"sf,omitempty"`
	ClearFlags upstream.Flags `json:"cf,omitempty"`
	Msg        uint64         `json:"msg,omitempty"` // OpImport: the local message
	Plain      []byte         `json:"p,omitempty"`   // OpImport: only once its message was deleted (keepForImport), or from earlier versions
	Mailboxes  []ref          `json:"mbs,omitempty"` // OpImport
	Flags      upstream.Flags `json:"f,omitempty"`
	Date       time.Time      `json:"d,omitzero"`
	Mailbox    ref            `json:"mb,omitzero"` // mailbox ops
	Name       string         `json:"n,omitempty"`
}

// Kinds of local IDs in bktRefs.
const (
	refMessage = 'm'
	refMailbox = 'x'
)

// States in bktRefs.
const (
	refQueued = 'p' // followed by the seq of the import or create op
	refBound  = 'b' // followed by the upstream ID
)

func refKey(kind byte, local uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{kind}, local)
}

func msgRef(id uint64, rec *msgRec) ref { return ref{L: id, U: rec.upstreamID} }
func mboxRef(mb *Mailbox) ref           { return ref{L: mb.ID, U: mb.UpstreamID} }

// An op's ID is the file's op prefix followed by its outbox seq, both in
// hex, so that the echo of an op finds it without an index of its own:
// one B+tree fewer to rewrite in every write that queues an op. The
// prefix is random per file, so a rebuilt cache never reuses the ID of
// an op the upstream has seen. Ops queued before version 4 have random
// IDs and are found through bktOpIDs.
func (w *wtx) opID(seq uint64) string {
	return w.s.opPrefix + fmt.Sprintf("%016x", seq)
}

// opSeq finds the seq that an op with ID opID would have, given the
// file's bktOpIDs; the caller checks that the op there has that ID.
func (s *Store) opSeq(opIDs *bolt.Bucket, opID string) (uint64, bool) {
	if seq, ok := s.ownSeq(opID); ok {
		return seq, true
	}
	v := opIDs.Get([]byte(opID))
	if len(v) != 8 {
		return 0, false
	}
	return decodeU64(v), true
}

// ownSeq returns the seq an op of this file with ID opID has or had: the
// op may be done and gone.
func (s *Store) ownSeq(opID string) (uint64, bool) {
	rest, ok := strings.CutPrefix(opID, s.opPrefix)
	if !ok || len(rest) != 16 {
		return 0, false
	}
	seq, err := strconv.ParseUint(rest, 16, 64)
	return seq, err == nil
}

// addOp queues op in this transaction.
func (w *wtx) addOp(op *opRec) (uint64, error) {
	seq, err := w.outbox.NextSequence()
	if err != nil {
		return 0, fmt.Errorf("store: outbox seq: %w", err)
	}
	op.OpID = w.opID(seq)
	if err := w.putOp(seq, op); err != nil {
		return 0, err
	}
	for _, id := range op.localMessages() {
		if err := w.addPending(id, 1); err != nil {
			return 0, fmt.Errorf("store: pending count: %w", err)
		}
	}
	if op.Kind == OpDelete {
		// Until the upstream has deleted them, a full resync would list
		// these messages and download them again: remember they are gone.
		for _, r := range op.Msgs {
			if r.U != "" {
				if err := w.gone.Put([]byte(r.U), u64key(seq)); err != nil {
					return 0, fmt.Errorf("store: write tombstone: %w", err)
				}
			}
		}
	}
	queued := binary.BigEndian.AppendUint64([]byte{refQueued}, seq)
	switch op.Kind {
	case OpImport:
		err = w.refs.Put(refKey(refMessage, op.Msg), queued)
	case OpCreateMailbox:
		err = w.refs.Put(refKey(refMailbox, op.Mailbox.L), queued)
	}
	if err != nil {
		return 0, fmt.Errorf("store: write ref: %w", err)
	}
	w.opsAdded = true
	return seq, nil
}

// localMessages lists the local messages whose pending count op holds.
func (op *opRec) localMessages() []uint64 {
	if op.Kind == OpImport {
		return []uint64{op.Msg}
	}
	ids := make([]uint64, 0, len(op.Msgs))
	for _, r := range op.Msgs {
		if r.L != 0 {
			ids = append(ids, r.L)
		}
	}
	return ids
}

func (w *wtx) putOp(seq uint64, op *opRec) error {
	plain, err := json.Marshal(op)
	if err != nil {
		return fmt.Errorf("store: encode op: %w", err)
	}
	k := u64key(seq)
	if err := w.outbox.Put(k, w.s.seal.seal(bktOutbox, k, plain)); err != nil {
		return fmt.Errorf("store: write op: %w", err)
	}
	return nil
}

func decodeOp(seal *sealer, k, v []byte) (*opRec, error) {
	plain, err := seal.open(bktOutbox, k, v)
	if err != nil {
		return nil, err
	}
	op := &opRec{}
	if err := json.Unmarshal(plain, op); err != nil {
		return nil, fmt.Errorf("%w: op: %w", errCorrupt, err)
	}
	return op, nil
}

// getOp returns the queued op, or nil if it is no longer queued.
func (w *wtx) getOp(seq uint64) (*opRec, error) {
	k := u64key(seq)
	v := w.outbox.Get(k)
	if v == nil {
		return nil, nil
	}
	return decodeOp(w.s.seal, k, v)
}

// removeOp takes a done op out of the outbox.
func (w *wtx) removeOp(seq uint64, op *opRec) error {
	if err := w.outbox.Delete(u64key(seq)); err != nil {
		return fmt.Errorf("store: delete op: %w", err)
	}
	if !strings.HasPrefix(op.OpID, w.s.opPrefix) {
		if err := w.opIDs.Delete([]byte(op.OpID)); err != nil {
			return fmt.Errorf("store: delete op index: %w", err)
		}
	}
	for _, id := range op.localMessages() {
		if err := w.addPending(id, -1); err != nil {
			return fmt.Errorf("store: pending count: %w", err)
		}
	}
	if op.Kind == OpDelete {
		for _, r := range op.Msgs {
			if r.U != "" {
				if err := w.gone.Delete([]byte(r.U)); err != nil {
					return fmt.Errorf("store: delete tombstone: %w", err)
				}
			}
		}
	}
	return nil
}

// bindMessage records the upstream ID of a message appended locally. If the
// upstream message is already cached under another local ID (its echo
// arrived without an OpID), the local copy goes so there is no duplicate.
func (w *wtx) bindMessage(local uint64, up string) error {
	if err := w.refs.Put(refKey(refMessage, local), append([]byte{refBound}, up...)); err != nil {
		return fmt.Errorf("store: write ref: %w", err)
	}
	rec, err := w.getMsg(local)
	if err != nil || rec.upstreamID != "" {
		return nil // deleted locally meanwhile, or bound already
	}
	if other, ok := w.msgByUpstream(up); ok && other != local {
		return w.deleteMessage(local, rec)
	}
	rec.upstreamID = up
	if err := w.msgUp.Put([]byte(up), u64key(local)); err != nil {
		return fmt.Errorf("store: write message index: %w", err)
	}
	return w.putMsg(local, rec)
}

// bindMailbox records the label ID of a mailbox created locally.
func (w *wtx) bindMailbox(local uint64, up string) error {
	if err := w.refs.Put(refKey(refMailbox, local), append([]byte{refBound}, up...)); err != nil {
		return fmt.Errorf("store: write ref: %w", err)
	}
	if mb, ok := w.mboxes[local]; ok && mb.UpstreamID == "" {
		mb.UpstreamID = up
		w.dirty[local] = true
	}
	return nil
}

// Completed is an op the upstream performed, with the ID it created:
// the message's for OpImport, the label's for OpCreateMailbox.
type Completed struct {
	Seq        uint64
	UpstreamID string
}

// CompleteOps removes done ops, in one transaction, so that a pusher
// pays one sync of the file per batch rather than per op. For OpImport,
// the upstream ID binds the local message to the upstream message; for
// OpCreateMailbox it binds the label ID. It is idempotent: completing an
// op that is gone (its echo already completed it) is not an error.
func (s *Store) CompleteOps(done []Completed) error {
	if len(done) == 0 {
		return nil
	}
	return s.update(func(w *wtx) error {
		for _, d := range done {
			if err := w.completeOp(d.Seq, d.UpstreamID); err != nil {
				return err
			}
		}
		return nil
	})
}

func (w *wtx) completeOp(seq uint64, upstreamID string) error {
	op, err := w.getOp(seq)
	if err != nil || op == nil {
		return err
	}
	if upstreamID != "" && !validID(upstreamID) {
		return fmt.Errorf("store: invalid upstream ID of length %d", len(upstreamID))
	}
	switch {
	case op.Kind == OpImport && upstreamID != "":
		err = w.bindMessage(op.Msg, upstreamID)
	case op.Kind == OpCreateMailbox && upstreamID != "":
		err = w.bindMailbox(op.Mailbox.L, upstreamID)
	}
	if err != nil {
		return err
	}
	return w.removeOp(seq, op)
}

// FailOp drops an op the upstream refused for good. Ops that wait for an
// import or create dropped this way lose that reference when they are
// next resolved.
func (s *Store) FailOp(seq uint64, reason string) error {
	return s.update(func(w *wtx) error {
		op, err := w.getOp(seq)
		if err != nil || op == nil {
			return err
		}
		s.log.Warn("outbox op dropped", "seq", seq, "kind", op.Kind.String(), "reason", reason)
		if err := w.dropQueuedRef(seq, op); err != nil {
			return err
		}
		return w.removeOp(seq, op)
	})
}

// keepForImport moves the body of a message deleted for good into its
// import op, if that is still queued: an import sends the cached body,
// but the upstream may already have performed it (a lost response, a
// crash before CompleteOps), so the import must be sent again for the
// upstream to answer with the message's ID, which the delete queued
// after it needs.
func (w *wtx) keepForImport(msgID uint64) error {
	v := w.refs.Get(refKey(refMessage, msgID))
	if len(v) != 9 || v[0] != refQueued {
		return nil
	}
	seq := binary.BigEndian.Uint64(v[1:])
	op, err := w.getOp(seq)
	if err != nil || op == nil || op.Kind != OpImport || len(op.Plain) > 0 {
		return err
	}
	k := u64key(msgID)
	sealed := w.bodies.Get(k)
	if sealed == nil {
		return nil
	}
	if op.Plain, err = w.s.seal.open(bktBodies, k, sealed); err != nil {
		return err
	}
	return w.putOp(seq, op)
}

// dropQueuedRef forgets the reference an import or create op was to
// bind, if it still waits for this op: ops that refer to it then drop it
// rather than wait for ever.
func (w *wtx) dropQueuedRef(seq uint64, op *opRec) error {
	var k []byte
	switch op.Kind {
	case OpImport:
		k = refKey(refMessage, op.Msg)
	case OpCreateMailbox:
		k = refKey(refMailbox, op.Mailbox.L)
	default:
		return nil
	}
	if v := w.refs.Get(k); len(v) == 9 && v[0] == refQueued && binary.BigEndian.Uint64(v[1:]) == seq {
		if err := w.refs.Delete(k); err != nil {
			return fmt.Errorf("store: delete ref: %w", err)
		}
	}
	return nil
}

// OutboxLen returns the number of queued ops.
func (s *Store) OutboxLen() (int, error) {
	var n int
	err := s.view(func(tx *bolt.Tx) error {
		n = tx.Bucket([]byte(bktOutbox)).Stats().KeyN
		return nil
	})
	return n, err
}
