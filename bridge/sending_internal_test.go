package bridge

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/mailbridge/mailbridge/crypto"
	"github.com/mailbridge/mailbridge/smtpsrv"
	"github.com/mailbridge/mailbridge/vault"
)

func TestSendPolicyMapping(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		name   string
		global vault.Settings
		over   vault.SendingOverrides
		want   smtpsrv.Policy
	}{
		{"defaults", vault.Settings{}, vault.SendingOverrides{}, smtpsrv.Policy{}},
		{"global refuse", vault.Settings{UnencryptedSending: vault.UnencryptedRefuse}, vault.SendingOverrides{},
			smtpsrv.Policy{RequireEncryption: true}},
		{"global sign and attach", vault.Settings{SignUnencrypted: true, AttachPublicKey: true}, vault.SendingOverrides{},
			smtpsrv.Policy{SignUnencrypted: true, AttachPublicKey: true}},
		{"account allows what the bridge refuses",
			vault.Settings{UnencryptedSending: vault.UnencryptedRefuse, SignUnencrypted: true},
			vault.SendingOverrides{UnencryptedSending: vault.UnencryptedAllow, SignUnencrypted: &no},
			smtpsrv.Policy{}},
		{"account turns on what the bridge leaves off", vault.Settings{},
			vault.SendingOverrides{UnencryptedSending: vault.UnencryptedRefuse, AttachPublicKey: &yes},
			smtpsrv.Policy{RequireEncryption: true, AttachPublicKey: true}},
	} {
		if got := sendPolicy(tc.global, tc.over); got != tc.want {
			t.Errorf("%s: policy %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// newTestBridge opens a bridge with one account in its vault and that
// account "running" (registered without a session), so changes through
// the Bridge must reach it as they would a live one.
func newTestBridge(t *testing.T) (*Bridge, *account) {
	t.Helper()
	b, err := New(Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	cfg, err := vault.NewAccount("me", []string{"me@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.vault.PutAccount(cfg); err != nil {
		t.Fatal(err)
	}
	a := &account{b: b, id: cfg.ID, log: slog.New(slog.DiscardHandler)}
	a.setConfig(cfg)
	b.accounts[cfg.ID] = a
	return b, a
}

func TestAccountSettingsReachTheRunningAccount(t *testing.T) {
	b, a := newTestBridge(t)
	if _, err := b.SetConfig("sign-unencrypted", "yes"); err != nil {
		t.Fatal(err)
	}
	if p := a.SendPolicy(); !p.SignUnencrypted || p.AttachPublicKey || p.RequireEncryption {
		t.Fatalf("after the bridge-wide change: %+v", p)
	}
	entries, err := b.SetAccountConfig("ME@example.test", "sign-unencrypted", "false")
	if err != nil {
		t.Fatal(err)
	}
	if p := a.SendPolicy(); p.SignUnencrypted {
		t.Fatalf("the account's own value is ignored: %+v", p)
	}
	if e := entryOf(entries, "sign-unencrypted"); e.Value != "false" || e.Scope != ScopeAccount {
		t.Errorf("entry after set: %+v", e)
	}
	if e := entryOf(entries, "unencrypted-sending"); e.Value != "allow" || e.Scope != ScopeDefault {
		t.Errorf("untouched entry: %+v", e)
	}
	if _, err := b.SetAccountConfig("me@example.test", "unencrypted-sending", "refuse"); err != nil {
		t.Fatal(err)
	}
	if p := a.SendPolicy(); !p.RequireEncryption {
		t.Fatalf("refuse per account: %+v", p)
	}

	// "default" follows the bridge-wide value again, and survives a reopen.
	if _, err := b.SetAccountConfig("me@example.test", "sign-unencrypted", "default"); err != nil {
		t.Fatal(err)
	}
	if p := a.SendPolicy(); !p.SignUnencrypted || !p.RequireEncryption {
		t.Fatalf("after default: %+v", p)
	}
	stored, _ := b.vault.Account(a.id)
	if stored.Sending.SignUnencrypted != nil || stored.Sending.UnencryptedSending != vault.UnencryptedRefuse {
		t.Errorf("stored overrides: %+v", stored.Sending)
	}

	for _, bad := range [][2]string{{"sign-unencrypted", "maybe"}, {"unencrypted-sending", "sometimes"}, {"imap-port", "1"}} {
		if _, err := b.SetAccountConfig("me@example.test", bad[0], bad[1]); err == nil {
			t.Errorf("set %s=%s accepted", bad[0], bad[1])
		}
	}
	if _, err := b.SetAccountConfig("nobody@example.test", "sign-unencrypted", "true"); !errors.Is(err, ErrNoAccount) {
		t.Errorf("unknown account: %v", err)
	}
	if p := a.SendPolicy(); !p.SignUnencrypted || !p.RequireEncryption {
		t.Errorf("failed sets changed the policy: %+v", p)
	}
}

func entryOf(entries []ConfigEntry, key string) ConfigEntry {
	for _, e := range entries {
		if e.Key == key {
			return e
		}
	}
	return ConfigEntry{}
}

func armoredPublic(t *testing.T, e *openpgp.Entity) []byte {
	t.Helper()
	pub, err := crypto.ArmorPublicKey(e)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func TestPinKeys(t *testing.T) {
	b, a := newTestBridge(t)
	carol, err := crypto.GenerateKey("Carol", "Carol@Example.org")
	if err != nil {
		t.Fatal(err)
	}
	dave, err := crypto.GenerateKey("Dave", "dave@example.org")
	if err != nil {
		t.Fatal(err)
	}
	fpr := func(e *openpgp.Entity) string { return fmt.Sprintf("%X", e.PrimaryKey.Fingerprint) }

	// A private key is refused, and nothing is stored.
	priv, err := crypto.ArmorPrivateKey(carol, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.PinKey("me@example.test", priv, nil); err == nil || !strings.Contains(err.Error(), "private key") {
		t.Fatalf("private key: %v", err)
	}
	if _, err := b.PinKey("me@example.test", []byte("hello"), nil); err == nil {
		t.Fatal("garbage accepted")
	}

	// Two keys in one file, each pinned for its own address.
	both := append(armoredPublic(t, carol), armoredPublic(t, dave)...)
	pinned, err := b.PinKey("me@example.test", both, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(pinned) != 2 || pinned[0].Email != "carol@example.org" || pinned[0].Fingerprint != fpr(carol) ||
		!pinned[0].Usable || pinned[1].Email != "dave@example.org" {
		t.Fatalf("pinned: %+v", pinned)
	}
	got := a.PinnedKeys("CAROL@example.ORG")
	if len(got) != 1 || !bytes.Equal(got[0].PrimaryKey.Fingerprint, carol.PrimaryKey.Fingerprint) {
		t.Fatalf("running account's key for carol: %v", got)
	}
	if got[0].PrivateKey != nil {
		t.Error("a pinned key carries a private part")
	}

	// --email: an address the key does not name, for a single key; the
	// choice among several keys must be named by their user IDs.
	if _, err := b.PinKey("me@example.test", armoredPublic(t, dave), []string{"Dave <d@alias.example>"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.PinKey("me@example.test", both, []string{"d2@alias.example"}); err == nil {
		t.Error("an ambiguous --email was accepted")
	}
	// Pinning again replaces.
	if _, err := b.PinKey("me@example.test", armoredPublic(t, carol), []string{"d@alias.example"}); err != nil {
		t.Fatal(err)
	}
	list, err := b.PinnedKeys(a.id)
	if err != nil {
		t.Fatal(err)
	}
	var emails []string
	for _, k := range list {
		emails = append(emails, k.Email+"="+k.Fingerprint[:4])
	}
	want := []string{"carol@example.org=" + fpr(carol)[:4], "d@alias.example=" + fpr(carol)[:4], "dave@example.org=" + fpr(dave)[:4]}
	if strings.Join(emails, " ") != strings.Join(want, " ") {
		t.Errorf("list: %v, want %v", emails, want)
	}

	if k, err := b.UnpinKey("me@example.test", "Dave@Example.org"); err != nil || k.Fingerprint != fpr(dave) {
		t.Fatalf("unpin: %+v %v", k, err)
	}
	if a.PinnedKeys("dave@example.org") != nil {
		t.Error("the running account still has the unpinned key")
	}
	if _, err := b.UnpinKey("me@example.test", "dave@example.org"); err == nil {
		t.Error("unpinning twice succeeded")
	}
	stored, _ := b.vault.Account(a.id)
	if len(stored.PinnedKeys) != 2 || strings.Contains(stored.PinnedKeys[0].Armored, "PRIVATE") {
		t.Errorf("stored: %+v", stored.PinnedKeys)
	}
}

func TestPinRefusesUnusableKeys(t *testing.T) {
	b, a := newTestBridge(t)
	past := time.Now().Add(-48 * time.Hour)
	expired, err := openpgp.NewEntity("Old", "", "old@example.org", &packet.Config{
		Time: func() time.Time { return past }, KeyLifetimeSecs: 3600,
	})
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := crypto.GenerateKey("Gone", "gone@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if err := revoked.RevokeKey(packet.KeyCompromised, "lost", nil); err != nil {
		t.Fatal(err)
	}
	for name, e := range map[string]*openpgp.Entity{"expired": expired, "revoked": revoked} {
		if _, err := b.PinKey("me@example.test", armoredPublic(t, e), nil); err == nil || !strings.Contains(err.Error(), "cannot encrypt") {
			t.Errorf("%s key: %v", name, err)
		}
	}
	if list, _ := b.PinnedKeys(a.id); len(list) != 0 {
		t.Errorf("unusable keys were stored: %+v", list)
	}
}
