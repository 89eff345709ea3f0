package vault

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/zalando/go-keyring"

	"github.com/mailbridge/mailbridge/internal/atomicfile"
)

// keyringUser is the keychain entry (under Options.Service) holding the key.
const keyringUser = "vault-key"

// keySize is the XChaCha20-Poly1305 key size. Only this much goes into the
// keychain: Windows caps secrets at 2,560 bytes and macOS near 3 KB.
const keySize = 32

// Keyring is the part of github.com/zalando/go-keyring the vault uses.
// Get must return an error matching keyring.ErrNotFound for a missing
// entry; any other error means the keychain could not be asked.
type Keyring interface {
	Get(service, user string) (string, error)
	Set(service, user, password string) error
	Delete(service, user string) error
}

// SystemKeyring returns the OS keychain (macOS Keychain, Windows Credential
// Manager, Secret Service on Linux) through go-keyring. After
// keyring.MockInit it is go-keyring's in-memory mock.
func SystemKeyring() Keyring { return systemKeyring{} }

type systemKeyring struct{}

func (systemKeyring) Get(service, user string) (string, error) { return keyring.Get(service, user) }
func (systemKeyring) Set(service, user, password string) error {
	return keyring.Set(service, user, password)
}
func (systemKeyring) Delete(service, user string) error { return keyring.Delete(service, user) }

// errKeyringTimeout reports a keychain call that did not answer in time.
var errKeyringTimeout = errors.New("keychain did not answer in time")

// keyStore finds or creates the vault key.
type keyStore struct {
	opts Options
	log  *slog.Logger
}

// create returns the key for a new vault: from the keychain when it works,
// otherwise from the key file, which is then announced loudly.
func (ks keyStore) create() ([]byte, KeySource, error) {
	if ks.opts.Keyring != nil {
		key, err := ks.keychainCreate()
		if err == nil {
			return key, KeySourceKeychain, nil
		}
		ks.log.Warn("OS keychain unavailable; the vault key is kept in a file readable only by this user",
			"path", ks.keyPath(), "err", err)
	} else {
		ks.log.Warn("no OS keychain configured; the vault key is kept in a file readable only by this user",
			"path", ks.keyPath())
	}
	key, err := ks.fileCreate()
	if err != nil {
		return nil, "", err
	}
	return key, KeySourceFile, nil
}

// keychainCreate reuses a key already in the keychain or stores a new one.
// An existing entry is never overwritten: it may belong to a vault that
// still needs it.
func (ks keyStore) keychainCreate() ([]byte, error) {
	s, err := ks.keychainGet()
	if err == nil {
		key, err := decodeKey(s)
		if err != nil {
			return nil, fmt.Errorf("existing keychain entry: %w", err)
		}
		ks.log.Info("reusing vault key found in the OS keychain", "service", ks.opts.Service)
		return key, nil
	}
	if !errors.Is(err, keyring.ErrNotFound) {
		return nil, err
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	enc := base64.StdEncoding.EncodeToString(key)
	_, err = withTimeout(ks.opts.KeyringTimeout, func() (struct{}, error) {
		return struct{}{}, ks.opts.Keyring.Set(ks.opts.Service, keyringUser, enc)
	})
	if err != nil {
		return nil, err
	}
	// Some secret services accept a write they cannot read back; find out
	// now rather than after the vault depends on it.
	back, err := ks.keychainGet()
	if err != nil {
		return nil, fmt.Errorf("read back stored key: %w", err)
	}
	if back != enc {
		return nil, errors.New("keychain returned a different key than was stored")
	}
	return key, nil
}

func (ks keyStore) keychainGet() (string, error) {
	return withTimeout(ks.opts.KeyringTimeout, func() (string, error) {
		return ks.opts.Keyring.Get(ks.opts.Service, keyringUser)
	})
}

// withTimeout runs f but gives up after timeout. A call that hangs keeps
// its goroutine until the keychain answers; that is the price of not
// hanging the daemon, and it happens at most a few times per Open.
func withTimeout[T any](timeout time.Duration, f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.v, r.err
	case <-timer.C:
		var zero T
		return zero, errKeyringTimeout
	}
}

// fileCreate reuses vault.key if an earlier attempt left one, or writes a
// new one.
func (ks keyStore) fileCreate() ([]byte, error) {
	key, err := ks.fileLoad()
	if err == nil {
		return key, nil
	}
	if _, statErr := os.Stat(ks.keyPath()); !errors.Is(statErr, os.ErrNotExist) {
		// A key file we cannot use: leave it for the user to inspect.
		return nil, err
	}
	if key, err = newKey(); err != nil {
		return nil, err
	}
	data := []byte(base64.StdEncoding.EncodeToString(key) + "\n")
	if err := atomicfile.Write(ks.keyPath(), data, 0o600); err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	return key, nil
}

// load returns the key of an existing vault from where it was stored.
func (ks keyStore) load(src KeySource) ([]byte, error) {
	switch src {
	case KeySourceFile:
		return ks.fileLoad()
	case KeySourceKeychain:
		if ks.opts.Keyring == nil {
			return nil, fmt.Errorf("%w: the vault key is in the OS keychain, but no keychain is configured", ErrKeyUnavailable)
		}
		s, err := ks.keychainGet()
		if err != nil {
			return nil, fmt.Errorf("%w: OS keychain (service %q): %w", ErrKeyUnavailable, ks.opts.Service, err)
		}
		key, err := decodeKey(s)
		if err != nil {
			return nil, fmt.Errorf("%w: OS keychain (service %q): %w", ErrKeyUnavailable, ks.opts.Service, err)
		}
		return key, nil
	}
	return nil, fmt.Errorf("vault: unknown key source %q", src)
}

func (ks keyStore) fileLoad() ([]byte, error) {
	data, err := os.ReadFile(ks.keyPath())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyUnavailable, err)
	}
	key, err := decodeKey(string(bytes.TrimSpace(data)))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrKeyUnavailable, ks.keyPath(), err)
	}
	if fi, err := os.Stat(ks.keyPath()); err == nil && runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		ks.log.Warn("vault key file is readable by other users; run chmod 600 on it",
			"path", ks.keyPath(), "mode", fi.Mode().Perm().String())
	}
	return key, nil
}

func (ks keyStore) keyPath() string { return filepath.Join(ks.opts.Dir, keyFile) }

func newKey() ([]byte, error) {
	key := make([]byte, keySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("vault: random key: %w", err)
	}
	return key, nil
}

func decodeKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("stored key is not valid base64")
	}
	if len(key) != keySize {
		return nil, fmt.Errorf("stored key is %d bytes, want %d", len(key), keySize)
	}
	return key, nil
}
