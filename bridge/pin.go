package bridge

import (
	"fmt"
	"log/slog"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/mailbridge/mailbridge/crypto"
	"github.com/mailbridge/mailbridge/vault"
)

// PinnedKey describes a contact's key pinned for one address: mail to
// the address is encrypted to it when the key server has no usable key.
type PinnedKey struct {
	Email       string `json:"email"`
	Fingerprint string `json:"fingerprint"` // upper-case hex, primary key
	// UserIDs are the key's own names, e.g. "Carol <carol@example.org>".
	UserIDs []string  `json:"user_ids,omitempty"`
	Created time.Time `json:"created"`
	// Expires is when the key stops being usable for encryption; zero
	// means never.
	Expires time.Time `json:"expires,omitzero"`
	// Usable says the key can encrypt now: not expired, not revoked.
	Usable bool      `json:"usable"`
	Pinned time.Time `json:"pinned,omitzero"`
}

// PinKey pins the public key(s) in data (armored or binary) for an
// account (by username, address or ID): for each address in emails, or,
// when emails is empty, for every address in the keys' user IDs. A key
// pinned before for one of the addresses is replaced. Private keys are
// refused, so a user who exports the wrong half learns so at once, and
// only the public part of each key is stored.
func (b *Bridge) PinKey(account string, data []byte, emails []string) ([]PinnedKey, error) {
	keys, err := crypto.ReadKeys(data)
	if err != nil {
		return nil, fmt.Errorf("not an OpenPGP public key: %w", err)
	}
	for _, e := range keys {
		if e.PrivateKey != nil {
			return nil, fmt.Errorf("this is a private key (%X); pin only your contact's public key "+
				"(e.g. gpg --export --armor ADDRESS)", e.PrimaryKey.Fingerprint)
		}
	}
	pairs, err := pinTargets(keys, emails)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	entries := make([]vault.PinnedKey, len(pairs))
	for i, p := range pairs {
		if _, ok := p.key.EncryptionKey(now); !ok {
			return nil, fmt.Errorf("key %X cannot encrypt mail to <%s>: it is expired or revoked, or has no encryption subkey",
				p.key.PrimaryKey.Fingerprint, p.email)
		}
		armored, err := crypto.ArmorPublicKey(p.key)
		if err != nil {
			return nil, err
		}
		entries[i] = vault.PinnedKey{Email: p.email, Armored: string(armored), Pinned: now.UTC().Truncate(time.Second)}
	}
	acct, err := b.updateAccount(account, func(a *vault.Account) error {
		for _, e := range entries {
			a.PinnedKeys = slices.DeleteFunc(a.PinnedKeys, func(k vault.PinnedKey) bool { return k.Email == e.Email })
			a.PinnedKeys = append(a.PinnedKeys, e)
		}
		slices.SortFunc(a.PinnedKeys, func(x, y vault.PinnedKey) int { return strings.Compare(x.Email, y.Email) })
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]PinnedKey, len(pairs))
	for i, p := range pairs {
		out[i] = describeKey(p.email, p.key, entries[i].Pinned, now)
	}
	b.log.Info("contact key pinned", "account", acct.ID, "addresses", len(out))
	return out, nil
}

// PinnedKeys lists an account's pinned keys, by address.
func (b *Bridge) PinnedKeys(account string) ([]PinnedKey, error) {
	acct, err := b.findAccount(account)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := []PinnedKey{}
	for _, k := range acct.PinnedKeys {
		keys, err := crypto.ReadKeys([]byte(k.Armored))
		if err != nil || len(keys) == 0 {
			// Checked when pinned; listing it anyway lets the user unpin it.
			out = append(out, PinnedKey{Email: k.Email, Fingerprint: "(unreadable)", Pinned: k.Pinned})
			continue
		}
		out = append(out, describeKey(k.Email, keys[0], k.Pinned, now))
	}
	return out, nil
}

// UnpinKey removes the key pinned for email from an account and returns
// what it was.
func (b *Bridge) UnpinKey(account, email string) (PinnedKey, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	var removed vault.PinnedKey
	acct, err := b.updateAccount(account, func(a *vault.Account) error {
		i := slices.IndexFunc(a.PinnedKeys, func(k vault.PinnedKey) bool { return k.Email == email })
		if i < 0 {
			return fmt.Errorf("no key is pinned for <%s> (see `mailbridge key list`)", email)
		}
		removed = a.PinnedKeys[i]
		a.PinnedKeys = slices.Delete(a.PinnedKeys, i, i+1)
		return nil
	})
	if err != nil {
		return PinnedKey{}, err
	}
	b.log.Info("contact key unpinned", "account", acct.ID)
	out := PinnedKey{Email: removed.Email, Pinned: removed.Pinned}
	if keys, err := crypto.ReadKeys([]byte(removed.Armored)); err == nil && len(keys) > 0 {
		out = describeKey(removed.Email, keys[0], removed.Pinned, time.Now())
	}
	return out, nil
}

type pinTarget struct {
	email string
	key   *openpgp.Entity
}

// pinTargets pairs each address with the one key to pin for it.
func pinTargets(keys openpgp.EntityList, emails []string) ([]pinTarget, error) {
	if len(emails) == 0 {
		var out []pinTarget
		for _, e := range keys {
			for _, addr := range keyEmails(e) {
				if i := slices.IndexFunc(out, func(p pinTarget) bool { return p.email == addr }); i >= 0 {
					if out[i].key != e {
						return nil, fmt.Errorf("two keys in the file are for <%s>; pin them from separate files, or choose with --email", addr)
					}
					continue
				}
				out = append(out, pinTarget{addr, e})
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("the key has no e-mail address in its user IDs; name the address with --email")
		}
		return out, nil
	}
	out := make([]pinTarget, 0, len(emails))
	for _, raw := range emails {
		addr, err := normalizeEmail(raw)
		if err != nil {
			return nil, err
		}
		var match []*openpgp.Entity
		for _, e := range keys {
			if slices.Contains(keyEmails(e), addr) {
				match = append(match, e)
			}
		}
		switch {
		case len(match) == 1:
		case len(match) == 0 && len(keys) == 1:
			// The user vouches for the key at an address it does not name
			// (an alias, a new address).
			match = keys
		case len(match) == 0:
			return nil, fmt.Errorf("none of the %d keys in the file is for <%s>; pin from a file holding only the key you mean", len(keys), addr)
		default:
			return nil, fmt.Errorf("%d keys in the file are for <%s>; pin from a file holding only the key you mean", len(match), addr)
		}
		if !slices.ContainsFunc(out, func(p pinTarget) bool { return p.email == addr }) {
			out = append(out, pinTarget{addr, match[0]})
		}
	}
	return out, nil
}

// keyEmails returns the lower-case addresses of e's user IDs that are not
// revoked.
func keyEmails(e *openpgp.Entity) []string {
	var out []string
	now := time.Now()
	for _, id := range e.Identities {
		if id.UserId == nil || id.Revoked(now) {
			continue
		}
		if addr, err := normalizeEmail(id.UserId.Email); err == nil && !slices.Contains(out, addr) {
			out = append(out, addr)
		}
	}
	slices.Sort(out)
	return out
}

// normalizeEmail accepts "a@b", "<a@b>" or "Name <a@b>" and returns a@b in
// lower case, the form pinned keys are looked up by.
func normalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	a, err := mail.ParseAddress(s)
	if err != nil || !strings.Contains(a.Address, "@") {
		return "", fmt.Errorf("%q is not an e-mail address", s)
	}
	return strings.ToLower(a.Address), nil
}

// describeKey summarises e as pinned for email.
func describeKey(email string, e *openpgp.Entity, pinned, now time.Time) PinnedKey {
	k := PinnedKey{
		Email:       email,
		Fingerprint: fmt.Sprintf("%X", e.PrimaryKey.Fingerprint),
		Created:     e.PrimaryKey.CreationTime.UTC(),
		Pinned:      pinned,
	}
	for name := range e.Identities {
		k.UserIDs = append(k.UserIDs, name)
	}
	slices.Sort(k.UserIDs)
	enc, ok := e.EncryptionKey(now)
	k.Usable = ok
	sig, _ := e.PrimarySelfSignature()
	k.Expires = earliestExpiry(time.Time{}, e.PrimaryKey, sig)
	if ok && enc.PublicKey != e.PrimaryKey {
		k.Expires = earliestExpiry(k.Expires, enc.PublicKey, enc.SelfSignature)
	}
	return k
}

// earliestExpiry returns the earlier of exp (zero: never) and the expiry
// that sig gives key.
func earliestExpiry(exp time.Time, key *packet.PublicKey, sig *packet.Signature) time.Time {
	if sig == nil || sig.KeyLifetimeSecs == nil || *sig.KeyLifetimeSecs == 0 {
		return exp
	}
	t := key.CreationTime.Add(time.Duration(*sig.KeyLifetimeSecs) * time.Second).UTC()
	if exp.IsZero() || t.Before(exp) {
		return t
	}
	return exp
}

// parsePinned reads an account's pinned keys for lookups by address. A
// key that no longer parses (it did when pinned) is logged and skipped.
func parsePinned(pinned []vault.PinnedKey, log *slog.Logger) map[string]openpgp.EntityList {
	out := make(map[string]openpgp.EntityList, len(pinned))
	for _, k := range pinned {
		keys, err := crypto.ReadKeys([]byte(k.Armored))
		if err != nil {
			log.Error("a pinned key is unreadable; unpin and pin it again", "err", err)
			continue
		}
		out[k.Email] = keys
	}
	return out
}
