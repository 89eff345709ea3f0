package vault

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/zalando/go-keyring"
)

// Tests touching go-keyring's mock must not run in parallel: the mock is
// process-global.

func open(t *testing.T, opts Options) *Vault {
	t.Helper()
	v, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return v
}

func logTo(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func newTestAccount(t *testing.T, addr string) Account {
	t.Helper()
	a, err := NewAccount("up-"+addr, []string{addr, "alias-" + addr})
	if err != nil {
		t.Fatal(err)
	}
	a.UpstreamAuth = []byte("upstream-token-for-" + addr)
	a.KeyPassphrase = []byte("passphrase-for-" + addr)
	return a
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKeyFileCreateAndReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vault")
	var logs bytes.Buffer
	v := open(t, Options{Dir: dir, Logger: logTo(&logs)})
	if v.KeySource() != KeySourceFile {
		t.Errorf("KeySource = %q, want file", v.KeySource())
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "vault.key") {
		t.Errorf("no warning about the key file in logs:\n%s", logs.String())
	}
	if m := mode(t, dir); m != 0o700 {
		t.Errorf("dir mode %o, want 700", m)
	}
	for _, f := range []string{"vault.enc", "vault.key"} {
		if m := mode(t, filepath.Join(dir, f)); m != 0o600 {
			t.Errorf("%s mode %o, want 600", f, m)
		}
	}

	a := newTestAccount(t, "alice@example.test")
	if err := v.PutAccount(a); err != nil {
		t.Fatal(err)
	}
	s := Settings{IMAPPort: 2143, Host: "127.0.0.2", CertHosts: []string{"bridge.lan"}}
	if err := v.SetSettings(s); err != nil {
		t.Fatal(err)
	}

	v2 := open(t, Options{Dir: dir})
	if got := v2.Settings(); !reflect.DeepEqual(got, s) {
		t.Errorf("Settings after reopen = %+v, want %+v", got, s)
	}
	got, ok := v2.Account(a.ID)
	if !ok {
		t.Fatal("account lost on reopen")
	}
	if fmt.Sprint(got) != fmt.Sprint(a) {
		t.Errorf("account after reopen = %+v, want %+v", got, a)
	}
	if logs.Len() > 0 && strings.Contains(logs.String(), a.ClientPassword) {
		t.Error("client password appears in logs")
	}
}

func TestKeychainCreateAndReopen(t *testing.T) {
	keyring.MockInit()
	dir := t.TempDir()
	v := open(t, Options{Dir: dir, Keyring: SystemKeyring(), Service: "mb-test"})
	if v.KeySource() != KeySourceKeychain {
		t.Fatalf("KeySource = %q, want keychain", v.KeySource())
	}
	if _, err := os.Stat(filepath.Join(dir, "vault.key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("vault.key exists with a working keychain: %v", err)
	}
	stored, err := keyring.Get("mb-test", "vault-key")
	if err != nil {
		t.Fatal(err)
	}
	if key, err := base64.StdEncoding.DecodeString(stored); err != nil || len(key) != 32 {
		t.Errorf("keychain entry is not a base64 32-byte key: %d bytes, %v", len(key), err)
	}

	a := newTestAccount(t, "bob@example.test")
	if err := v.PutAccount(a); err != nil {
		t.Fatal(err)
	}
	v2 := open(t, Options{Dir: dir, Keyring: SystemKeyring(), Service: "mb-test"})
	if v2.KeySource() != KeySourceKeychain {
		t.Errorf("KeySource after reopen = %q", v2.KeySource())
	}
	if _, ok := v2.AccountByUsername("bob@example.test"); !ok {
		t.Error("account lost on reopen")
	}
}

func TestKeychainUnavailableAtCreation(t *testing.T) {
	for _, msg := range []string{
		`exec: "dbus-launch": executable file not found in $PATH`,
		`The name org.freedesktop.secrets was not provided by any .service files`,
	} {
		t.Run(msg[:20], func(t *testing.T) {
			keyring.MockInitWithError(errors.New(msg))
			dir := t.TempDir()
			var logs bytes.Buffer
			v := open(t, Options{Dir: dir, Keyring: SystemKeyring(), Logger: logTo(&logs)})
			if v.KeySource() != KeySourceFile {
				t.Fatalf("KeySource = %q, want file", v.KeySource())
			}
			if m := mode(t, filepath.Join(dir, "vault.key")); m != 0o600 {
				t.Errorf("vault.key mode %o, want 600", m)
			}
			if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "keychain unavailable") {
				t.Errorf("no clear warning logged:\n%s", logs.String())
			}
			if err := v.PutAccount(newTestAccount(t, "carol@example.test")); err != nil {
				t.Fatal(err)
			}
			// Still failing keychain: the file-keyed vault opens regardless.
			if _, ok := open(t, Options{Dir: dir, Keyring: SystemKeyring()}).AccountByUsername("carol@example.test"); !ok {
				t.Error("account lost on reopen")
			}
		})
	}
}

func TestKeychainLostAfterCreation(t *testing.T) {
	keyring.MockInit()
	dir := t.TempDir()
	v := open(t, Options{Dir: dir, Keyring: SystemKeyring()})
	if err := v.PutAccount(newTestAccount(t, "dave@example.test")); err != nil {
		t.Fatal(err)
	}
	key, err := keyring.Get("mailbridge", "vault-key")
	if err != nil {
		t.Fatal(err)
	}
	before := readFile(t, v.Path())

	cases := []struct {
		name  string
		setup func()
		kr    Keyring
	}{
		{"keychain errors", func() { keyring.MockInitWithError(errors.New("org.freedesktop.secrets was not provided")) }, SystemKeyring()},
		{"keychain lost the entry", keyring.MockInit, SystemKeyring()},
		{"no keychain configured", func() {}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup()
			_, err := Open(Options{Dir: dir, Keyring: tc.kr})
			if !errors.Is(err, ErrKeyUnavailable) {
				t.Fatalf("Open error = %v, want ErrKeyUnavailable", err)
			}
			if !bytes.Equal(readFile(t, v.Path()), before) {
				t.Error("vault.enc changed")
			}
			if _, err := os.Stat(filepath.Join(dir, "vault.key")); !errors.Is(err, os.ErrNotExist) {
				t.Error("a key file was created for a keychain-keyed vault")
			}
			if tc.kr != nil {
				if _, err := keyring.Get("mailbridge", "vault-key"); err == nil {
					t.Error("a new key was written to the keychain")
				}
			}
		})
	}

	// Once the keychain is back, nothing is lost.
	keyring.MockInit()
	if err := keyring.Set("mailbridge", "vault-key", key); err != nil {
		t.Fatal(err)
	}
	if _, ok := open(t, Options{Dir: dir, Keyring: SystemKeyring()}).AccountByUsername("dave@example.test"); !ok {
		t.Error("account lost after the keychain came back")
	}
}

func TestExistingKeychainEntryIsReused(t *testing.T) {
	keyring.MockInit()
	first := open(t, Options{Dir: t.TempDir(), Keyring: SystemKeyring()})
	key, _ := keyring.Get("mailbridge", "vault-key")
	second := open(t, Options{Dir: t.TempDir(), Keyring: SystemKeyring()})
	if after, _ := keyring.Get("mailbridge", "vault-key"); after != key {
		t.Error("creating a second vault overwrote the keychain entry of the first")
	}
	// The first vault still opens.
	if _, err := Open(Options{Dir: filepath.Dir(first.Path()), Keyring: SystemKeyring()}); err != nil {
		t.Error(err)
	}
	if second.KeySource() != KeySourceKeychain {
		t.Errorf("KeySource = %q", second.KeySource())
	}
}

func TestKeyFileProblems(t *testing.T) {
	otherKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)) + "\n"
	cases := []struct {
		name   string
		damage func(keyPath string)
		want   error
	}{
		{"missing", func(p string) { _ = os.Remove(p) }, ErrKeyUnavailable},
		{"garbage", func(p string) { _ = os.WriteFile(p, []byte("not a key"), 0o600) }, ErrKeyUnavailable},
		{"wrong length", func(p string) { _ = os.WriteFile(p, []byte("AAAA"), 0o600) }, ErrKeyUnavailable},
		{"wrong key", func(p string) { _ = os.WriteFile(p, []byte(otherKey), 0o600) }, ErrDecrypt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			v := open(t, Options{Dir: dir})
			if err := v.PutAccount(newTestAccount(t, "erin@example.test")); err != nil {
				t.Fatal(err)
			}
			before := readFile(t, v.Path())
			keyPath := filepath.Join(dir, "vault.key")
			tc.damage(keyPath)
			keyBefore, _ := os.ReadFile(keyPath)

			_, err := Open(Options{Dir: dir})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open error = %v, want %v", err, tc.want)
			}
			if !bytes.Equal(readFile(t, v.Path()), before) {
				t.Error("vault.enc changed")
			}
			if keyAfter, _ := os.ReadFile(keyPath); !bytes.Equal(keyAfter, keyBefore) {
				t.Error("vault.key changed")
			}
		})
	}
}

func TestTamperDetection(t *testing.T) {
	dir := t.TempDir()
	v := open(t, Options{Dir: dir})
	if err := v.PutAccount(newTestAccount(t, "frank@example.test")); err != nil {
		t.Fatal(err)
	}
	orig := readFile(t, v.Path())

	flip := func(i int) func([]byte) []byte {
		return func(b []byte) []byte { b[i] ^= 0x01; return b }
	}
	cases := []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"magic", flip(0)},
		{"key source", func(b []byte) []byte { b[9] = 'x'; return b }},
		{"nonce", flip(headerSize + 3)},
		{"ciphertext", flip(headerSize + 24 + 10)},
		{"tag", flip(len(orig) - 1)},
		{"truncated", func(b []byte) []byte { return b[:len(b)-5] }},
		{"appended", func(b []byte) []byte { return append(b, 0) }},
		{"empty", func([]byte) []byte { return nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			damaged := tc.damage(slices.Clone(orig))
			if err := os.WriteFile(v.Path(), damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(Options{Dir: dir})
			if !errors.Is(err, ErrDecrypt) {
				t.Fatalf("Open error = %v, want ErrDecrypt", err)
			}
			if !bytes.Equal(readFile(t, v.Path()), damaged) {
				t.Error("Open changed the damaged file")
			}
		})
	}
	// The undamaged bytes still open: the cases above failed for the damage.
	if err := os.WriteFile(v.Path(), orig, 0o600); err != nil {
		t.Fatal(err)
	}
	open(t, Options{Dir: dir})
}

func TestHeaderKeySourceIsAuthenticated(t *testing.T) {
	// A vault keyed by the key file, relabelled as keychain-keyed, must not
	// open with the keychain key.
	keyring.MockInitWithError(errors.New("no keychain"))
	dir := t.TempDir()
	v := open(t, Options{Dir: dir, Keyring: SystemKeyring()})
	fileKey := readFile(t, filepath.Join(dir, "vault.key"))
	raw := readFile(t, v.Path())
	raw[9] = 'k'
	if err := os.WriteFile(v.Path(), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	keyring.MockInit()
	_ = keyring.Set("mailbridge", "vault-key", string(bytes.TrimSpace(fileKey)))
	if _, err := Open(Options{Dir: dir, Keyring: SystemKeyring()}); !errors.Is(err, ErrDecrypt) {
		t.Errorf("Open error = %v, want ErrDecrypt", err)
	}
}

func TestSecretsNotInClear(t *testing.T) {
	v := open(t, Options{Dir: t.TempDir()})
	a := newTestAccount(t, "grace@example.test")
	if err := v.PutAccount(a); err != nil {
		t.Fatal(err)
	}
	raw := readFile(t, v.Path())
	if !bytes.HasPrefix(raw, []byte("MBVAULT")) {
		t.Fatal("file lacks the clear header; the test would prove nothing")
	}
	secrets := map[string][]byte{
		"client password":    []byte(a.ClientPassword),
		"cache key":          a.CacheKey,
		"cache key (base64)": []byte(base64.StdEncoding.EncodeToString(a.CacheKey)),
		"cache key (hex)":    []byte(fmt.Sprintf("%x", a.CacheKey)),
		"upstream auth":      a.UpstreamAuth,
		"key passphrase":     a.KeyPassphrase,
		"username":           []byte(a.Username),
		"account ID":         []byte(a.ID),
	}
	for name, s := range secrets {
		if bytes.Contains(raw, s) {
			t.Errorf("%s appears in the vault file in clear", name)
		}
	}
}

func TestConcurrentPutAccount(t *testing.T) {
	dir := t.TempDir()
	v := open(t, Options{Dir: dir})
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			a, err := NewAccount("user", []string{fmt.Sprintf("u%d@example.test", i)})
			if err == nil {
				err = v.PutAccount(a)
			}
			errs <- err
			_ = v.Accounts()
			_, _ = v.AccountByUsername("u0@example.test")
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := len(v.Accounts()); got != n {
		t.Errorf("%d accounts in memory, want %d", got, n)
	}
	if got := len(open(t, Options{Dir: dir}).Accounts()); got != n {
		t.Errorf("%d accounts after reopen, want %d", got, n)
	}
}
