package vault

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// SendingOverrides are one account's departures from the bridge-wide
// sending settings. A zero field follows the bridge-wide setting, so an
// account created before a setting existed keeps following it.
type SendingOverrides struct {
	// UnencryptedSending is UnencryptedAllow, UnencryptedRefuse, or ""
	// to follow Settings.UnencryptedSending.
	UnencryptedSending string `json:"unencrypted_sending,omitempty"`
	// SignUnencrypted, when set, replaces Settings.SignUnencrypted.
	SignUnencrypted *bool `json:"sign_unencrypted,omitempty"`
	// AttachPublicKey, when set, replaces Settings.AttachPublicKey.
	AttachPublicKey *bool `json:"attach_public_key,omitempty"`
}

// Validate reports a value that is not one of its choices.
func (o SendingOverrides) Validate() error {
	switch o.UnencryptedSending {
	case "", UnencryptedAllow, UnencryptedRefuse:
		return nil
	}
	return fmt.Errorf("vault: unencrypted sending %q: want allow or refuse", o.UnencryptedSending)
}

// Apply returns the bridge-wide settings s with o's overrides in place:
// the settings one account sends with.
func (o SendingOverrides) Apply(s Settings) Settings {
	s = s.WithDefaults()
	if o.UnencryptedSending != "" {
		s.UnencryptedSending = o.UnencryptedSending
	}
	if o.SignUnencrypted != nil {
		s.SignUnencrypted = *o.SignUnencrypted
	}
	if o.AttachPublicKey != nil {
		s.AttachPublicKey = *o.AttachPublicKey
	}
	return s
}

func (o SendingOverrides) clone() SendingOverrides {
	if o.SignUnencrypted != nil {
		v := *o.SignUnencrypted
		o.SignUnencrypted = &v
	}
	if o.AttachPublicKey != nil {
		v := *o.AttachPublicKey
		o.AttachPublicKey = &v
	}
	return o
}

// PinnedKey is a contact's public key the user pinned for one address.
// The bridge checks the key before it stores it; the vault only keeps it.
type PinnedKey struct {
	// Email is the contact's address in lower case.
	Email string `json:"email"`
	// Armored is the key's public part, ASCII-armored.
	Armored string `json:"armored"`
	// Pinned is when the user pinned it.
	Pinned time.Time `json:"pinned,omitzero"`
}

// validatePinned reports entries without an address or key, addresses
// not in lower case (lookups rely on it) and addresses pinned twice.
func validatePinned(keys []PinnedKey) error {
	for i, k := range keys {
		switch {
		case k.Email == "" || !strings.Contains(k.Email, "@"):
			return fmt.Errorf("vault: pinned key for %q: not an e-mail address", k.Email)
		case k.Email != strings.ToLower(k.Email):
			return fmt.Errorf("vault: pinned key for %q: address not in lower case", k.Email)
		case strings.TrimSpace(k.Armored) == "":
			return fmt.Errorf("vault: pinned key for %q is empty", k.Email)
		}
		if slices.ContainsFunc(keys[:i], func(o PinnedKey) bool { return o.Email == k.Email }) {
			return fmt.Errorf("vault: two pinned keys for %q", k.Email)
		}
	}
	return nil
}

// UpdateAccount applies change to a copy of the account with the given
// ID, validates the result and stores it, all under one lock, so that
// concurrent updates of different fields do not undo each other. It
// returns the stored account. change must not alter the ID.
func (v *Vault) UpdateAccount(id string, change func(*Account) error) (Account, error) {
	var out Account
	err := v.update(func(c *contents) error {
		i := slices.IndexFunc(c.Accounts, func(o Account) bool { return o.ID == id })
		if i < 0 {
			return ErrNotFound
		}
		a := c.Accounts[i].clone()
		if err := change(&a); err != nil {
			return err
		}
		if a.ID != id {
			return fmt.Errorf("vault: update of account %s changed its ID", id)
		}
		if err := a.validate(); err != nil {
			return err
		}
		for j, other := range c.Accounts {
			if j != i && strings.EqualFold(other.Username, a.Username) {
				return fmt.Errorf("%w: %s", ErrUsernameTaken, a.Username)
			}
		}
		c.Accounts[i] = a.clone()
		out = a
		return nil
	})
	if err != nil {
		return Account{}, err
	}
	return out, nil
}
