// Package vault keeps the bridge's settings and per-account secrets in one
// encrypted file, vault.enc, sealed with a 32-byte key that lives in the OS
// keychain or, where there is none (headless Linux, CI), in a key file
// beside the vault, or that is derived from a passphrase the user gives
// (Argon2id; see Options.Passphrase).
//
// The vault never deletes or resets data because its key cannot be found:
// Open fails with [ErrKeyUnavailable] and leaves the files alone, so the
// user can fix the keychain and try again.
package vault

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// File names inside Options.Dir.
const (
	vaultFile = "vault.enc"
	keyFile   = "vault.key"
)

// Exists reports whether dir holds a vault, without opening it.
func Exists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, vaultFile))
	return err == nil
}

// Errors reported by the vault; test with errors.Is.
var (
	// ErrKeyUnavailable means the vault exists but its key cannot be read:
	// the keychain is locked, unreachable, or lost the entry, or the key
	// file is missing. Nothing was changed on disk.
	ErrKeyUnavailable = errors.New("vault: key unavailable")
	// ErrDecrypt means the key does not open the vault: wrong key, or the
	// file was damaged or tampered with. Nothing was changed on disk.
	ErrDecrypt = errors.New("vault: cannot decrypt vault (wrong key, or file damaged)")
	// ErrNotFound means no account has the given ID.
	ErrNotFound = errors.New("vault: no such account")
	// ErrUsernameTaken means another account already logs in with that name.
	ErrUsernameTaken = errors.New("vault: username used by another account")
)

// KeySource says where the vault key is kept.
type KeySource string

// Key sources.
const (
	KeySourceKeychain   KeySource = "keychain"
	KeySourceFile       KeySource = "file"
	KeySourcePassphrase KeySource = "passphrase"
)

// Options configures Open.
type Options struct {
	// Dir holds vault.enc, and vault.key when the key file is used. It is
	// created with mode 0700 if missing.
	Dir string
	// Keyring is the OS keychain; nil means never use one and keep the key
	// in vault.key. See [SystemKeyring].
	Keyring Keyring
	// Service is the keychain service name; "" means "mailbridge".
	Service string
	// KeyringTimeout bounds each keychain call, which can hang on some
	// desktops waiting for an unlock prompt; 0 means 5 seconds.
	KeyringTimeout time.Duration
	// Passphrase, if set, derives the vault key with Argon2id instead of
	// keeping it in the keychain or a key file: for headless machines
	// where the user would rather type or provision a secret. A vault
	// keyed otherwise is re-encrypted with the passphrase on Open.
	Passphrase []byte
	// Logger receives notices such as the key-file fallback warning; nil
	// discards them. Secrets are never logged.
	Logger *slog.Logger
}

// Vault is an open vault. It is safe for concurrent use; every change is
// written to disk before the call returns.
type Vault struct {
	path   string
	key    []byte
	header header
	log    *slog.Logger

	mu   sync.RWMutex
	data contents
}

// contents is what the sealed file holds.
type contents struct {
	Settings Settings  `json:"settings"`
	Accounts []Account `json:"accounts"`
}

// Open opens the vault in opts.Dir, creating an empty one (and its key) on
// first use.
func Open(opts Options) (*Vault, error) {
	if opts.Dir == "" {
		return nil, errors.New("vault: Options.Dir is empty")
	}
	if opts.Service == "" {
		opts.Service = "mailbridge"
	}
	if opts.KeyringTimeout <= 0 {
		opts.KeyringTimeout = 5 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("vault: create directory: %w", err)
	}
	v := &Vault{path: filepath.Join(opts.Dir, vaultFile), log: log}
	ks := keyStore{opts: opts, log: log}

	raw, err := os.ReadFile(v.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if len(opts.Passphrase) > 0 {
			err = v.usePassphrase(opts.Passphrase)
		} else {
			v.key, v.header.source, err = ks.create()
		}
		if err != nil {
			return nil, err
		}
		// Write the empty vault at once so the key source is on record.
		if err := v.save(contents{}); err != nil {
			return nil, err
		}
		log.Info("created vault", "path", v.path, "key_source", v.header.source)
		return v, nil
	case err != nil:
		return nil, fmt.Errorf("vault: read %s: %w", vaultFile, err)
	}

	hdr, n, err := parseHeader(raw)
	if err != nil {
		return nil, err
	}
	v.header = hdr
	switch {
	case hdr.source == KeySourcePassphrase && len(opts.Passphrase) == 0:
		return nil, fmt.Errorf("%w: the vault is protected by a passphrase and none was given", ErrKeyUnavailable)
	case hdr.source == KeySourcePassphrase:
		v.key = hdr.kdf.derive(opts.Passphrase)
	default:
		if v.key, err = ks.load(hdr.source); err != nil {
			return nil, err
		}
	}
	if v.data, err = unseal(v.key, raw, n); err != nil {
		if hdr.source == KeySourcePassphrase && errors.Is(err, ErrDecrypt) {
			return nil, fmt.Errorf("%w (is the passphrase right?)", err)
		}
		return nil, err
	}
	if len(opts.Passphrase) > 0 && hdr.source != KeySourcePassphrase {
		// Re-encrypt under the passphrase. The old key stays where it
		// was: it opens nothing any more, and deleting it is the user's call.
		old := v.header
		if err := v.usePassphrase(opts.Passphrase); err != nil {
			return nil, err
		}
		if err := v.save(v.data); err != nil {
			return nil, err
		}
		log.Info("vault re-encrypted with the passphrase", "path", v.path, "was", old.source)
	}
	return v, nil
}

// usePassphrase sets a fresh salt and the key derived from passphrase.
func (v *Vault) usePassphrase(passphrase []byte) error {
	kdf, err := newKDF()
	if err != nil {
		return err
	}
	v.header = header{source: KeySourcePassphrase, kdf: kdf}
	v.key = kdf.derive(passphrase)
	return nil
}

// KeySource says whether the vault key is in the OS keychain, a key file,
// or derived from a passphrase.
func (v *Vault) KeySource() KeySource { return v.header.source }

// Path is the location of vault.enc.
func (v *Vault) Path() string { return v.path }

// Settings returns the stored settings as saved; call WithDefaults to fill
// in unset fields.
func (v *Vault) Settings() Settings {
	v.mu.RLock()
	defer v.mu.RUnlock()
	s := v.data.Settings
	s.CertHosts = slices.Clone(s.CertHosts)
	return s
}

// SetSettings validates and stores s.
func (v *Vault) SetSettings(s Settings) error {
	if err := s.Validate(); err != nil {
		return err
	}
	s.CertHosts = slices.Clone(s.CertHosts)
	return v.update(func(c *contents) error {
		c.Settings = s
		return nil
	})
}

// Accounts returns copies of all accounts in the order they were added.
func (v *Vault) Accounts() []Account {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]Account, len(v.data.Accounts))
	for i, a := range v.data.Accounts {
		out[i] = a.clone()
	}
	return out
}

// Account returns a copy of the account with the given ID.
func (v *Vault) Account(id string) (Account, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if i := v.indexOf(id); i >= 0 {
		return v.data.Accounts[i].clone(), true
	}
	return Account{}, false
}

// AccountByUsername finds the account a mail client logs in to. Names
// compare case-insensitively, as e-mail addresses do in practice; an exact
// Username match wins over one of an account's other Addresses.
func (v *Vault) AccountByUsername(username string) (Account, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	for _, a := range v.data.Accounts {
		if strings.EqualFold(a.Username, username) {
			return a.clone(), true
		}
	}
	for _, a := range v.data.Accounts {
		if slices.ContainsFunc(a.Addresses, func(s string) bool { return strings.EqualFold(s, username) }) {
			return a.clone(), true
		}
	}
	return Account{}, false
}

// PutAccount adds a, or replaces the account with the same ID.
func (v *Vault) PutAccount(a Account) error {
	if err := a.validate(); err != nil {
		return err
	}
	a = a.clone()
	return v.update(func(c *contents) error {
		for _, other := range c.Accounts {
			if other.ID != a.ID && strings.EqualFold(other.Username, a.Username) {
				return fmt.Errorf("%w: %s", ErrUsernameTaken, a.Username)
			}
		}
		if i := slices.IndexFunc(c.Accounts, func(o Account) bool { return o.ID == a.ID }); i >= 0 {
			c.Accounts[i] = a
		} else {
			c.Accounts = append(c.Accounts, a)
		}
		return nil
	})
}

// DeleteAccount removes the account with the given ID.
func (v *Vault) DeleteAccount(id string) error {
	return v.update(func(c *contents) error {
		i := slices.IndexFunc(c.Accounts, func(o Account) bool { return o.ID == id })
		if i < 0 {
			return ErrNotFound
		}
		c.Accounts = slices.Delete(c.Accounts, i, i+1)
		return nil
	})
}

// ResetPassword gives the account a new random client password, stores it
// and returns it. Mail clients using the old one are refused from now on.
func (v *Vault) ResetPassword(id string) (string, error) {
	pw, err := newPassword()
	if err != nil {
		return "", err
	}
	err = v.update(func(c *contents) error {
		i := slices.IndexFunc(c.Accounts, func(o Account) bool { return o.ID == id })
		if i < 0 {
			return ErrNotFound
		}
		c.Accounts[i].ClientPassword = pw
		return nil
	})
	if err != nil {
		return "", err
	}
	return pw, nil
}

func (v *Vault) indexOf(id string) int {
	return slices.IndexFunc(v.data.Accounts, func(a Account) bool { return a.ID == id })
}

// update applies change to a copy of the contents, writes it, and only
// then makes it visible, so a failed write leaves memory and disk agreeing.
func (v *Vault) update(change func(*contents) error) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	next := contents{Settings: v.data.Settings, Accounts: slices.Clone(v.data.Accounts)}
	if err := change(&next); err != nil {
		return err
	}
	if err := v.save(next); err != nil {
		return err
	}
	v.data = next
	return nil
}
