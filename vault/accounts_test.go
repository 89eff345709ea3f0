package vault

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zalando/go-keyring"
)

func TestNewAccount(t *testing.T) {
	a, err := NewAccount("upstream-login", []string{"Primary@example.test", "other@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewAccount("upstream-login", nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Username != "Primary@example.test" || b.Username != "upstream-login" {
		t.Errorf("usernames %q, %q", a.Username, b.Username)
	}
	if a.ID == b.ID || a.ClientPassword == b.ClientPassword || string(a.CacheKey) == string(b.CacheKey) {
		t.Error("two new accounts share random values")
	}
	if len(a.CacheKey) != 32 || len(a.ID) != 32 {
		t.Errorf("cache key %d bytes, ID %q", len(a.CacheKey), a.ID)
	}
	if len(a.ClientPassword) != 26 || strings.Trim(a.ClientPassword, "abcdefghijklmnopqrstuvwxyz234567") != "" {
		t.Errorf("client password %q is not 26 base32 characters", a.ClientPassword)
	}
	if _, err := NewAccount("", nil); err == nil {
		t.Error("NewAccount accepted no user and no address")
	}
}

func TestAccountLookupAndChanges(t *testing.T) {
	dir := t.TempDir()
	v := open(t, Options{Dir: dir})
	alice := newTestAccount(t, "alice@example.test")
	bob := newTestAccount(t, "bob@example.test")
	for _, a := range []Account{alice, bob} {
		if err := v.PutAccount(a); err != nil {
			t.Fatal(err)
		}
	}

	if got, ok := v.AccountByUsername("ALICE@Example.Test"); !ok || got.ID != alice.ID {
		t.Error("username lookup is not case-insensitive")
	}
	if got, ok := v.AccountByUsername("alias-bob@example.test"); !ok || got.ID != bob.ID {
		t.Error("lookup by a secondary address failed")
	}
	if _, ok := v.AccountByUsername("nobody@example.test"); ok {
		t.Error("unknown username found")
	}

	clash := newTestAccount(t, "Alice@example.test")
	if err := v.PutAccount(clash); !errors.Is(err, ErrUsernameTaken) {
		t.Errorf("duplicate username: %v, want ErrUsernameTaken", err)
	}

	// Replace by ID keeps the order and the count.
	alice.UpstreamAuth = []byte("refreshed")
	if err := v.PutAccount(alice); err != nil {
		t.Fatal(err)
	}
	if all := v.Accounts(); len(all) != 2 || all[0].ID != alice.ID || string(all[0].UpstreamAuth) != "refreshed" {
		t.Errorf("after replace: %d accounts, first %q", len(all), all[0].ID)
	}

	pw, err := v.ResetPassword(bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	if pw == bob.ClientPassword {
		t.Error("ResetPassword returned the old password")
	}
	if _, err := v.ResetPassword("missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ResetPassword(missing) = %v", err)
	}

	if err := v.DeleteAccount(alice.ID); err != nil {
		t.Fatal(err)
	}
	if err := v.DeleteAccount(alice.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete = %v, want ErrNotFound", err)
	}

	re := open(t, Options{Dir: dir})
	if _, ok := re.Account(alice.ID); ok {
		t.Error("deleted account came back after reopen")
	}
	if got, ok := re.Account(bob.ID); !ok || got.ClientPassword != pw {
		t.Error("reset password not persisted")
	}
}

func TestPutAccountValidates(t *testing.T) {
	v := open(t, Options{Dir: t.TempDir()})
	good := newTestAccount(t, "a@example.test")
	for name, mutate := range map[string]func(*Account){
		"no ID":          func(a *Account) { a.ID = "" },
		"path in ID":     func(a *Account) { a.ID = "../x" },
		"no username":    func(a *Account) { a.Username = "" },
		"no password":    func(a *Account) { a.ClientPassword = "" },
		"short cachekey": func(a *Account) { a.CacheKey = a.CacheKey[:16] },
	} {
		a := good.clone()
		mutate(&a)
		if err := v.PutAccount(a); err == nil {
			t.Errorf("%s: PutAccount accepted it", name)
		}
	}
	if len(v.Accounts()) != 0 {
		t.Error("an invalid account was stored")
	}
}

func TestReturnedAccountsAreCopies(t *testing.T) {
	v := open(t, Options{Dir: t.TempDir()})
	a := newTestAccount(t, "a@example.test")
	want := string(a.CacheKey)
	if err := v.PutAccount(a); err != nil {
		t.Fatal(err)
	}
	a.CacheKey[0] ^= 0xff // the caller's slice after PutAccount
	got, _ := v.Account(a.ID)
	got.CacheKey[1] ^= 0xff
	got.Addresses[0] = "changed"
	v.Accounts()[0].CacheKey[2] ^= 0xff
	if again, _ := v.Account(a.ID); string(again.CacheKey) != want || again.Addresses[0] != "a@example.test" {
		t.Error("vault state changed through a shared slice")
	}
}

func TestSettings(t *testing.T) {
	d := Settings{}.WithDefaults()
	want := Settings{
		Host:     "127.0.0.1",
		IMAPPort: 1143, IMAPSecurity: "starttls", IMAPSPort: 1993, IMAPSSecurity: "tls",
		SMTPPort: 1025, SMTPSecurity: "starttls", SMTPSPort: 1465, SMTPSSecurity: "tls",
		UnencryptedSending: "allow", LogLevel: "info",
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("defaults = %+v", d)
	}
	if got := (Settings{SMTPPort: 2525}).WithDefaults(); got.SMTPPort != 2525 || got.IMAPPort != 1143 {
		t.Errorf("WithDefaults overrode a set field: %+v", got)
	}

	v := open(t, Options{Dir: t.TempDir()})
	for _, bad := range []Settings{
		{IMAPPort: 70000},
		{SMTPPort: -1},
		{IMAPPort: 1993}, // clashes with the IMAPS default
		{Host: "bad host"},
		{IMAPSecurity: "ssl"},
		{UnencryptedSending: "sometimes"},
		{LogLevel: "loud"},
		{CertHosts: []string{"a b"}},
	} {
		if err := v.SetSettings(bad); err == nil {
			t.Errorf("SetSettings(%+v) accepted", bad)
		}
	}
	if !reflect.DeepEqual(v.Settings(), Settings{}) {
		t.Error("rejected settings were stored")
	}
	// A disabled listener may keep a port another one uses.
	if err := v.SetSettings(Settings{IMAPSecurity: SecurityOff, IMAPPort: 1993}); err != nil {
		t.Errorf("disabled listener sharing a port: %v", err)
	}
}

// hangingKeyring blocks every call until released, like a desktop keychain
// waiting for an unlock prompt nobody answers.
type hangingKeyring struct{ release chan struct{} }

func (h hangingKeyring) Get(string, string) (string, error) {
	<-h.release
	return "", errors.New("released")
}
func (h hangingKeyring) Set(string, string, string) error { <-h.release; return errors.New("released") }
func (h hangingKeyring) Delete(string, string) error      { <-h.release; return errors.New("released") }

func TestHangingKeychainFallsBackToFile(t *testing.T) {
	h := hangingKeyring{release: make(chan struct{})}
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(h.release) }) })
	v := open(t, Options{Dir: t.TempDir(), Keyring: h, KeyringTimeout: 10 * time.Millisecond})
	if v.KeySource() != KeySourceFile {
		t.Errorf("KeySource = %q, want file", v.KeySource())
	}
}

func TestHangingKeychainOnReopen(t *testing.T) {
	keyring.MockInit()
	dir := t.TempDir()
	open(t, Options{Dir: dir, Keyring: SystemKeyring()})
	h := hangingKeyring{release: make(chan struct{})}
	t.Cleanup(func() { close(h.release) })
	if _, err := Open(Options{Dir: dir, Keyring: h, KeyringTimeout: 10 * time.Millisecond}); !errors.Is(err, ErrKeyUnavailable) {
		t.Errorf("Open = %v, want ErrKeyUnavailable", err)
	}
}

// writeOnlyKeyring accepts Set but never finds anything, as some broken
// secret services do.
type writeOnlyKeyring struct{}

func (writeOnlyKeyring) Get(string, string) (string, error) { return "", keyring.ErrNotFound }
func (writeOnlyKeyring) Set(string, string, string) error   { return nil }
func (writeOnlyKeyring) Delete(string, string) error        { return keyring.ErrNotFound }

func TestKeychainThatLosesWritesFallsBackToFile(t *testing.T) {
	v := open(t, Options{Dir: t.TempDir(), Keyring: writeOnlyKeyring{}})
	if v.KeySource() != KeySourceFile {
		t.Errorf("KeySource = %q, want file", v.KeySource())
	}
}
