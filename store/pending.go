package store

import (
	"encoding/binary"
	"errors"

	bolt "go.etcd.io/bbolt"

	"github.com/mailbridge/mailbridge/upstream"
)

// refState is what resolving a reference found.
type refState int

const (
	refReady refState = iota // resolved to an upstream ID
	refWait                  // its import or create is still queued
	refDead                  // its import or create was dropped: skip it
)

type resolver struct {
	refs *bolt.Bucket
	// body returns a cached message's plaintext: what an import sends.
	body func(msgID uint64) ([]byte, error)
	// dropped holds the references of imports dropped earlier in this
	// pass, which the refs bucket still shows queued.
	dropped map[string]bool
}

func (r resolver) resolve(kind byte, x ref) (string, refState) {
	if x.U != "" {
		return x.U, refReady
	}
	k := refKey(kind, x.L)
	if r.dropped[string(k)] {
		return "", refDead
	}
	v := r.refs.Get(k)
	switch {
	case len(v) > 1 && v[0] == refBound:
		return string(v[1:]), refReady
	case len(v) == 9 && v[0] == refQueued:
		return "", refWait
	}
	return "", refDead
}

// resolveAll resolves a list, leaving out dead references.
func (r resolver) resolveAll(kind byte, xs []ref) ([]string, refState) {
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		id, st := r.resolve(kind, x)
		switch st {
		case refWait:
			return nil, refWait
		case refReady:
			out = append(out, id)
		}
	}
	return out, refReady
}

// opState is what PendingOps does with a queued op.
type opState int

const (
	opReady opState = iota
	opWait          // depends on an op before it: stop here
	opDrop          // nothing left to do upstream
)

func (r resolver) resolveOp(seq uint64, op *opRec) (Op, opState, error) {
	out, st := r.resolveRefs(seq, op)
	if st != opReady || op.Kind != OpImport {
		return out, st, nil
	}
	// An import sends the cached body, so that it is stored once; the op
	// carries the plaintext itself only once the message was deleted
	// (keepForImport), and in caches of earlier versions.
	out.Plain = op.Plain
	if len(out.Plain) == 0 {
		var err error
		out.Plain, err = r.body(op.Msg)
		if errors.Is(err, ErrNoMessage) {
			// Neither: nothing can be sent, and so nothing that waits
			// for it either.
			r.dropped[string(refKey(refMessage, op.Msg))] = true
			return out, opDrop, nil
		}
		if err != nil {
			return out, opWait, err
		}
	}
	return out, opReady, nil
}

func (r resolver) resolveRefs(seq uint64, op *opRec) (Op, opState) {
	out := Op{Seq: seq, OpID: op.OpID, Kind: op.Kind}
	var st refState
	switch op.Kind {
	case OpUpdate, OpDelete:
		if out.MessageIDs, st = r.resolveAll(refMessage, op.Msgs); st == refWait {
			return out, opWait
		}
		if len(out.MessageIDs) == 0 {
			return out, opDrop
		}
		if op.Kind == OpDelete {
			return out, opReady
		}
		u := upstream.Update{OpID: op.OpID, SetFlags: op.SetFlags, ClearFlags: op.ClearFlags}
		if u.AddMailboxes, st = r.resolveAll(refMailbox, op.Add); st == refWait {
			return out, opWait
		}
		if u.RemoveMailboxes, st = r.resolveAll(refMailbox, op.Remove); st == refWait {
			return out, opWait
		}
		if len(u.AddMailboxes) == 0 && len(u.RemoveMailboxes) == 0 && u.SetFlags == 0 && u.ClearFlags == 0 {
			return out, opDrop
		}
		out.Update = u
	case OpImport:
		if _, st := r.resolve(refMessage, ref{L: op.Msg}); st == refReady {
			return out, opDrop // its echo bound it already
		}
		if out.MailboxIDs, st = r.resolveAll(refMailbox, op.Mailboxes); st == refWait {
			return out, opWait
		}
		out.Flags, out.Date = op.Flags, op.Date
	case OpCreateMailbox:
		if _, st := r.resolve(refMailbox, ref{L: op.Mailbox.L}); st == refReady {
			return out, opDrop // bound by name to a label the upstream reported
		}
		out.Name = op.Name
	case OpRenameMailbox, OpDeleteMailbox:
		id, st := r.resolve(refMailbox, op.Mailbox)
		switch st {
		case refWait:
			return out, opWait
		case refDead:
			return out, opDrop
		}
		out.MailboxID, out.Name = id, op.Name
	default:
		return out, opDrop
	}
	return out, opReady
}

// PendingOps returns up to n queued ops in order, with every reference
// resolved to an upstream ID. It stops before the first op that refers to
// a message or mailbox whose own import or create is still queued: that
// op comes earlier in the list, and the rest follow once it is completed.
// Ops left with nothing to do are removed.
func (s *Store) PendingOps(n int) ([]Op, error) {
	var ops []Op
	var drop []uint64
	err := s.view(func(tx *bolt.Tx) error {
		r := resolver{
			refs:    tx.Bucket([]byte(bktRefs)),
			body:    func(id uint64) ([]byte, error) { return s.bodyTx(tx, id) },
			dropped: map[string]bool{},
		}
		c := tx.Bucket([]byte(bktOutbox)).Cursor()
		for k, v := c.First(); k != nil && len(ops) < n; k, v = c.Next() {
			op, err := decodeOp(s.seal, k, v)
			if err != nil {
				return err
			}
			o, st, err := r.resolveOp(binary.BigEndian.Uint64(k), op)
			if err != nil {
				return err
			}
			switch st {
			case opWait:
				return nil
			case opDrop:
				drop = append(drop, o.Seq)
			default:
				ops = append(ops, o)
			}
		}
		return nil
	})
	if err != nil || len(drop) == 0 {
		return ops, err
	}
	err = s.update(func(w *wtx) error {
		for _, seq := range drop {
			op, err := w.getOp(seq)
			if err != nil {
				return err
			}
			if op != nil {
				if err := w.dropQueuedRef(seq, op); err != nil {
					return err
				}
				if err := w.removeOp(seq, op); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return ops, err
}
