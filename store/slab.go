package store

import "sync"

// Sealed values written by a transaction are carved out of large slabs
// that the next transaction reuses: bbolt holds a value only until its
// transaction ends, and a sync would otherwise allocate, and the garbage
// collector reclaim, a second copy of every body it stores.

const (
	slabSize  = 1 << 20
	maxSlabs  = 16           // kept between transactions: 16 MiB at most
	slabLimit = slabSize / 8 // larger values get their own buffer
)

// slabPool is the free list of slabs.
type slabPool struct {
	mu   sync.Mutex
	free [][]byte
}

func (p *slabPool) get() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free = p.free[:n-1]
		return b[:0]
	}
	return make([]byte, 0, slabSize)
}

// put returns slabs no transaction refers to any more.
func (p *slabPool) put(bs [][]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range bs {
		if len(p.free) < maxSlabs {
			p.free = append(p.free, b)
		}
	}
}

// drop frees every pooled slab (the account is idle).
func (p *slabPool) drop() {
	p.mu.Lock()
	p.free = nil
	p.mu.Unlock()
}

// sealValue seals plain for bucket and key like sealer.seal, into the
// transaction's slab. The result is valid until the transaction ends.
func (w *wtx) sealValue(bucket string, key, plain []byte) []byte {
	n := w.s.seal.sealedLen(len(plain))
	if n > slabLimit {
		return w.s.seal.seal(bucket, key, plain)
	}
	if cap(w.slab)-len(w.slab) < n {
		w.slab = w.s.slabs.get()
		w.slabsUsed = append(w.slabsUsed, w.slab)
	}
	start := len(w.slab)
	w.slab = w.s.seal.sealAppend(w.slab, bucket, key, plain)
	return w.slab[start:len(w.slab):len(w.slab)]
}
