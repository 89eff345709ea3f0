package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/mailbridge/mailbridge/store"
	"github.com/mailbridge/mailbridge/vault"
)

// openCache opens an account's cache, first throwing it away when asked
// (--reset-cache) and compacting it when much of the file is free pages,
// since bbolt never gives space back by itself.
func openCache(path string, key []byte, floor uint32, reset bool, log *slog.Logger) (*store.Store, error) {
	if reset {
		if err := resetCache(path, key, log); err != nil {
			return nil, err
		}
	}
	opts := store.Options{Path: path, Key: key, Logger: log, UIDValidityFloor: floor}
	st, err := store.Open(opts)
	if err != nil {
		return nil, err
	}
	sp, err := st.Space()
	if err != nil || !worthCompacting(sp) {
		return st, nil
	}
	if err := st.Close(); err != nil {
		return nil, err
	}
	before, after, err := store.Compact(path)
	if err != nil {
		// The original file is untouched when compaction fails.
		log.Warn("cache compaction failed; going on with the cache as it is", "err", err)
	} else {
		log.Info("cache compacted", "before_bytes", before, "after_bytes", after)
	}
	return store.Open(opts)
}

// worthCompacting: at least a quarter of the file and 32 MiB are free.
func worthCompacting(sp store.SpaceStats) bool {
	return sp.FreeSize >= 32<<20 && sp.FreeSize*4 >= sp.FileSize
}

// resetCache deletes a cache so it is rebuilt from the upstream. Changes
// a client made that have not reached the upstream yet live only in the
// cache's outbox, so a cache that still holds some is kept: mail is never
// lost to a reset.
func resetCache(path string, key []byte, log *slog.Logger) error {
	st, err := store.Open(store.Options{Path: path, Key: key, Logger: log})
	if err == nil {
		n, lerr := st.OutboxLen()
		st.Close()
		if lerr != nil {
			return lerr
		}
		if n > 0 {
			return fmt.Errorf("the cache holds %d change(s) not yet sent to the server; "+
				"start without --reset-cache and let them go out first", n)
		}
	}
	// A cache that does not open (lost key, damaged file) is what a reset
	// is for: it holds nothing the upstream does not.
	if err := store.Reset(path); err != nil {
		return err
	}
	log.Info("cache reset; it will be rebuilt from the server")
	return nil
}

// releaseMemoryEvery is how often an account hands the cache's mapped
// pages back to the OS. Reading bodies maps them into RSS; after a client
// has read a big mailbox that could be hundreds of MB of page cache.
const releaseMemoryEvery = 10 * time.Minute

// Sooner than that, the pages go back once releaseAfterRead bytes have
// been read, looked at every releaseCheckEvery: a phrase search over a
// big mailbox maps in most of the file, and a search repeated within the
// check finds its pages still mapped.
const (
	releaseAfterRead  = 64 << 20
	releaseCheckEvery = 30 * time.Second
)

// careForCache releases the cache's memory and saves the UIDVALIDITY
// floor now and then, until ctx ends. (The syncer releases after a full
// sync itself.)
func (a *account) careForCache(ctx context.Context) {
	defer func() {
		// As in runOnce: a bug here costs this account its care, not the
		// daemon its other accounts.
		if r := recover(); r != nil {
			a.log.Error("cache care crashed", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	check := time.NewTicker(releaseCheckEvery)
	defer check.Stop()
	var released, saved time.Time
	for {
		now := time.Now()
		if releaseDue(now.Sub(released), a.store.MappedRead()) {
			if err := a.store.ReleaseMemory(); err != nil {
				a.log.Warn("release cache memory", "err", err)
			}
			released = now
		}
		if now.Sub(saved) >= releaseMemoryEvery {
			a.saveUIDValidityFloor()
			saved = now
		}
		select {
		case <-ctx.Done():
			return
		case <-check.C:
		}
	}
}

// releaseDue reports whether an account whose cache was released ago
// (or never: a huge duration), and has had read bytes read since, should
// release it now.
func releaseDue(ago time.Duration, read int64) bool {
	return ago >= releaseMemoryEvery || read >= releaseAfterRead
}

// saveUIDValidityFloor records in the vault the highest UIDVALIDITY the
// cache has handed out, for the cache that replaces this one if it is
// ever lost or reset.
func (a *account) saveUIDValidityFloor() {
	last, err := a.store.LastUIDValidity()
	if err != nil {
		a.log.Warn("read UIDVALIDITY", "err", err)
		return
	}
	_, err = a.b.vault.UpdateAccount(a.id, func(acct *vault.Account) error {
		acct.UIDValidityFloor = max(acct.UIDValidityFloor, last)
		return nil
	})
	if err != nil && !errors.Is(err, vault.ErrNotFound) { // a removed account needs none
		a.log.Warn("save UIDVALIDITY floor", "err", err)
	}
}
