package vault

import (
	"errors"
	"testing"
)

func TestSendingOverridesApply(t *testing.T) {
	yes, no := true, false
	global := Settings{SignUnencrypted: true}
	if s := (SendingOverrides{}).Apply(global); !s.SignUnencrypted || s.AttachPublicKey || s.UnencryptedSending != UnencryptedAllow {
		t.Errorf("no overrides: %+v", s)
	}
	o := SendingOverrides{UnencryptedSending: UnencryptedRefuse, SignUnencrypted: &no, AttachPublicKey: &yes}
	if s := o.Apply(global); s.SignUnencrypted || !s.AttachPublicKey || s.UnencryptedSending != UnencryptedRefuse {
		t.Errorf("overrides: %+v", s)
	}
	if err := (SendingOverrides{UnencryptedSending: "maybe"}).Validate(); err == nil {
		t.Error("a bad unencrypted-sending value passed")
	}
}

func TestUpdateAccountPersistsSendingAndPins(t *testing.T) {
	dir := t.TempDir()
	v := open(t, Options{Dir: dir})
	alice := newTestAccount(t, "alice@example.test")
	if err := v.PutAccount(alice); err != nil {
		t.Fatal(err)
	}
	yes := true
	got, err := v.UpdateAccount(alice.ID, func(a *Account) error {
		a.Sending.SignUnencrypted = &yes
		a.PinnedKeys = append(a.PinnedKeys, PinnedKey{Email: "carol@example.org", Armored: "-----BEGIN PGP PUBLIC KEY BLOCK-----"})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The returned copy and the stored account share nothing.
	*got.Sending.SignUnencrypted = false
	got.PinnedKeys[0].Email = "changed@example.org"

	again := open(t, Options{Dir: dir})
	stored, ok := again.Account(alice.ID)
	if !ok || stored.Sending.SignUnencrypted == nil || !*stored.Sending.SignUnencrypted ||
		len(stored.PinnedKeys) != 1 || stored.PinnedKeys[0].Email != "carol@example.org" {
		t.Fatalf("after reopening: %+v %+v", stored.Sending, stored.PinnedKeys)
	}
	if stored.ClientPassword != alice.ClientPassword {
		t.Error("an update lost other fields")
	}

	for name, change := range map[string]func(*Account) error{
		"bad policy":       func(a *Account) error { a.Sending.UnencryptedSending = "sometimes"; return nil },
		"upper-case pin":   func(a *Account) error { a.PinnedKeys[0].Email = "Carol@example.org"; return nil },
		"duplicate pin":    func(a *Account) error { a.PinnedKeys = append(a.PinnedKeys, a.PinnedKeys[0]); return nil },
		"changed ID":       func(a *Account) error { a.ID = "other"; return nil },
		"change fails":     func(*Account) error { return errors.New("no") },
		"empty pinned key": func(a *Account) error { a.PinnedKeys[0].Armored = " "; return nil },
	} {
		if _, err := v.UpdateAccount(alice.ID, change); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if a, _ := v.Account(alice.ID); len(a.PinnedKeys) != 1 || a.PinnedKeys[0].Email != "carol@example.org" || a.Sending.UnencryptedSending != "" {
		t.Errorf("refused updates changed the account: %+v %+v", a.Sending, a.PinnedKeys)
	}
	if _, err := v.UpdateAccount("nope", func(*Account) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown ID: %v", err)
	}
}
