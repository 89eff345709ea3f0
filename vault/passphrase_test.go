package vault

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestPassphraseVault(t *testing.T) {
	dir := t.TempDir()
	pass := []byte("correct horse battery staple")
	v := open(t, Options{Dir: dir, Passphrase: pass})
	if v.KeySource() != KeySourcePassphrase {
		t.Fatalf("KeySource = %q, want passphrase", v.KeySource())
	}
	a := newTestAccount(t, "henry@example.test")
	if err := v.PutAccount(a); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, keyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Error("a passphrase vault wrote a key file")
	}
	raw := readFile(t, v.Path())
	if bytes.Contains(raw, pass) {
		t.Error("the passphrase is in the vault file")
	}

	if _, ok := open(t, Options{Dir: dir, Passphrase: pass}).Account(a.ID); !ok {
		t.Error("account lost on reopen with the passphrase")
	}
	if _, err := Open(Options{Dir: dir, Passphrase: []byte("wrong")}); !errors.Is(err, ErrDecrypt) {
		t.Errorf("wrong passphrase: %v, want ErrDecrypt", err)
	}
	if _, err := Open(Options{Dir: dir}); !errors.Is(err, ErrKeyUnavailable) {
		t.Errorf("no passphrase: %v, want ErrKeyUnavailable", err)
	}
	if !bytes.Equal(readFile(t, v.Path()), raw) {
		t.Error("failed opens changed the vault")
	}

	// The Argon2 parameters are authenticated with the rest of the header.
	damaged := bytes.Clone(raw)
	damaged[headerSize] ^= 1 // first salt byte
	if err := os.WriteFile(v.Path(), damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{Dir: dir, Passphrase: pass}); !errors.Is(err, ErrDecrypt) {
		t.Errorf("damaged salt: %v, want ErrDecrypt", err)
	}
}

func TestKeyFileVaultMovesToPassphrase(t *testing.T) {
	dir := t.TempDir()
	v := open(t, Options{Dir: dir})
	a := newTestAccount(t, "ivy@example.test")
	if err := v.PutAccount(a); err != nil {
		t.Fatal(err)
	}
	pass := []byte("a passphrase")
	moved := open(t, Options{Dir: dir, Passphrase: pass})
	if moved.KeySource() != KeySourcePassphrase {
		t.Fatalf("KeySource = %q after opening with a passphrase", moved.KeySource())
	}
	if _, ok := moved.Account(a.ID); !ok {
		t.Fatal("account lost in the move")
	}
	if _, err := Open(Options{Dir: dir}); !errors.Is(err, ErrKeyUnavailable) {
		t.Errorf("the key file still opens the vault: %v", err)
	}
	if _, ok := open(t, Options{Dir: dir, Passphrase: pass}).Account(a.ID); !ok {
		t.Error("account lost after the move")
	}
}

func TestImplausibleKDFRefused(t *testing.T) {
	k, err := newKDF()
	if err != nil {
		t.Fatal(err)
	}
	k.memory = 1 << 31
	if _, err := parseKDF(k.appendTo(nil)); !errors.Is(err, ErrDecrypt) {
		t.Errorf("huge memory cost: %v", err)
	}
}
