package store

import (
	"path/filepath"
	"testing"
)

// TestUIDValidityFloorAfterReset: a cache made again right after a reset
// must not reuse an UIDVALIDITY clients saw in the old one.
func TestUIDValidityFloorAfterReset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	key := make([]byte, 32)
	old, err := Open(Options{Path: path, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	last, err := old.LastUIDValidity()
	if err != nil || last == 0 {
		t.Fatalf("LastUIDValidity = %d, %v", last, err)
	}
	old.Close()
	if err := Reset(path); err != nil {
		t.Fatal(err)
	}
	floor := last + 1000 // as if the old cache had handed out many
	fresh, err := Open(Options{Path: path, Key: key, UIDValidityFloor: floor})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	mbs, err := fresh.Mailboxes()
	if err != nil {
		t.Fatal(err)
	}
	for _, mb := range mbs {
		if mb.UIDValidity <= floor {
			t.Errorf("%s has UIDVALIDITY %d, not above the floor %d", mb.Name, mb.UIDValidity, floor)
		}
	}
}
