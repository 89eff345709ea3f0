//go:build linux

package store

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// BenchmarkBodyStorage is the measurement behind keeping sealed bodies in
// bbolt rather than one sealed file each (issue 3 asked to measure and
// choose). Each iteration writes 1,000 bodies of 10 KiB durably, the way
// the sync writer commits a batch, then deletes half of them.
//
//   - bolt: one transaction, one fsync; space of deleted bodies is reused
//     by later writes and returned to the file system by Store.Compact.
//   - files-syncfs: one file each, one syncfs for the batch (which also
//     flushes every other dirty file on the file system).
//   - files-fsync: one file each, fsync per file and for the directory:
//     what crash safety file by file costs.
//
// Files give space back at once, but every body then has two homes whose
// order must survive a crash (file durable before the record that names it,
// record gone before the file), and a sync of 10 KiB messages would be
// bound by the file system, not by decryption.
func BenchmarkBodyStorage(b *testing.B) {
	const batch, size = 1000, 10 << 10
	body := make([]byte, size)
	rand.Read(body)
	key := func(i int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i)) }
	name := func(dir string, i int) string { return filepath.Join(dir, fmt.Sprintf("%016x", i)) }

	b.Run("bolt", func(b *testing.B) {
		db, err := bolt.Open(filepath.Join(b.TempDir(), "bodies.db"), 0o600, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		n := 0
		for b.Loop() {
			err := db.Update(func(tx *bolt.Tx) error {
				bk, err := tx.CreateBucketIfNotExists([]byte("bodies"))
				if err != nil {
					return err
				}
				for i := n; i < n+batch; i++ {
					if err := bk.Put(key(i), body); err != nil {
						return err
					}
				}
				return nil
			})
			if err == nil {
				err = db.Update(func(tx *bolt.Tx) error {
					bk := tx.Bucket([]byte("bodies"))
					for i := n; i < n+batch; i += 2 {
						if err := bk.Delete(key(i)); err != nil {
							return err
						}
					}
					return nil
				})
			}
			if err != nil {
				b.Fatal(err)
			}
			n += batch
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "bodies/s")
	})

	files := func(b *testing.B, syncEach bool) {
		dir := b.TempDir()
		n := 0
		for b.Loop() {
			for i := n; i < n+batch; i++ {
				if err := writeBodyFile(name(dir, i), body, syncEach); err != nil {
					b.Fatal(err)
				}
			}
			if err := syncDir(dir, !syncEach); err != nil {
				b.Fatal(err)
			}
			for i := n; i < n+batch; i += 2 {
				if err := os.Remove(name(dir, i)); err != nil {
					b.Fatal(err)
				}
			}
			n += batch
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "bodies/s")
	}
	b.Run("files-syncfs", func(b *testing.B) { files(b, false) })
	b.Run("files-fsync", func(b *testing.B) { files(b, true) })
}

func writeBodyFile(path string, body []byte, sync bool) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(body); err != nil {
		f.Close()
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// syncDir makes a batch of new files durable: the directory's fsync, or a
// syncfs of its whole file system when the files were not synced one by one.
func syncDir(dir string, whole bool) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if whole {
		return unix.Syncfs(int(d.Fd()))
	}
	return d.Sync()
}
