package bridge

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mailbridge/mailbridge/smtpsrv"
	"github.com/mailbridge/mailbridge/vault"
)

// ValueDefault, as the value of an account's setting, removes the
// account's own value so that it follows the bridge-wide one again.
const ValueDefault = "default"

// Scopes of an account's setting in ConfigEntry.Scope.
const (
	ScopeAccount = "account" // the account has its own value
	ScopeDefault = "default" // the account follows the bridge-wide value
)

// accountKey is a bridge-wide setting an account may override. Its name,
// help and display come from the configKey of the same name.
type accountKey struct {
	name  string
	isSet func(vault.SendingOverrides) bool
	// set stores value; "" removes the override.
	set func(o *vault.SendingOverrides, value string) error
}

func accountBoolKey(name string, p func(*vault.SendingOverrides) **bool) accountKey {
	return accountKey{
		name:  name,
		isSet: func(o vault.SendingOverrides) bool { return *p(&o) != nil },
		set: func(o *vault.SendingOverrides, v string) error {
			if v == "" {
				*p(o) = nil
				return nil
			}
			b, err := parseBool(name, v)
			if err != nil {
				return err
			}
			*p(o) = &b
			return nil
		},
	}
}

// accountKeys are the settings `config set --account` accepts.
var accountKeys = []accountKey{
	{
		name:  "unencrypted-sending",
		isSet: func(o vault.SendingOverrides) bool { return o.UnencryptedSending != "" },
		set: func(o *vault.SendingOverrides, v string) error {
			o.UnencryptedSending = strings.ToLower(v)
			return o.Validate()
		},
	},
	accountBoolKey("sign-unencrypted", func(o *vault.SendingOverrides) **bool { return &o.SignUnencrypted }),
	accountBoolKey("attach-public-key", func(o *vault.SendingOverrides) **bool { return &o.AttachPublicKey }),
}

// sendPolicy is the policy an account with overrides o sends with under
// the bridge-wide settings global.
func sendPolicy(global vault.Settings, o vault.SendingOverrides) smtpsrv.Policy {
	s := o.Apply(global)
	return smtpsrv.Policy{
		SignUnencrypted:   s.SignUnencrypted,
		AttachPublicKey:   s.AttachPublicKey,
		RequireEncryption: s.UnencryptedSending == vault.UnencryptedRefuse,
	}
}

func globalKey(name string) configKey {
	i := slices.IndexFunc(configKeys, func(k configKey) bool { return k.name == name })
	return configKeys[i]
}

// AccountConfigKeys lists the settings an account can override, for help
// texts and shell completion.
func AccountConfigKeys() []ConfigEntry {
	out := make([]ConfigEntry, len(accountKeys))
	for i, k := range accountKeys {
		out[i] = ConfigEntry{Key: k.name, Help: globalKey(k.name).help}
	}
	return out
}

// AccountConfig returns the settings an account (by username, address or
// ID) sends with: its own values, and the bridge-wide ones it follows,
// told apart by Scope.
func (b *Bridge) AccountConfig(name string) ([]ConfigEntry, error) {
	acct, err := b.findAccount(name)
	if err != nil {
		return nil, err
	}
	return b.accountConfig(acct), nil
}

func (b *Bridge) accountConfig(acct vault.Account) []ConfigEntry {
	set := acct.Sending.Apply(b.vault.Settings())
	out := AccountConfigKeys()
	for i, k := range accountKeys {
		out[i].Value = globalKey(k.name).get(&set)
		out[i].Scope = ScopeDefault
		if k.isSet(acct.Sending) {
			out[i].Scope = ScopeAccount
		}
	}
	return out
}

// SetAccountConfig gives one account its own value of a sending setting,
// or, with ValueDefault, makes it follow the bridge-wide value again. The
// next message the account sends uses it.
func (b *Bridge) SetAccountConfig(name, key, value string) ([]ConfigEntry, error) {
	i := slices.IndexFunc(accountKeys, func(k accountKey) bool { return k.name == key })
	if i < 0 {
		names := make([]string, len(accountKeys))
		for j, k := range accountKeys {
			names[j] = k.name
		}
		return nil, fmt.Errorf("%q cannot be set per account; the settings an account can have are: %s",
			key, strings.Join(names, ", "))
	}
	value = strings.TrimSpace(value)
	if strings.EqualFold(value, ValueDefault) {
		value = ""
	}
	acct, err := b.updateAccount(name, func(a *vault.Account) error {
		return accountKeys[i].set(&a.Sending, value)
	})
	if err != nil {
		return nil, err
	}
	b.log.Info("account setting changed", "account", acct.ID, "key", key)
	return b.accountConfig(acct), nil
}

// updateAccount changes an account (by username, address or ID) in the
// vault and hands the result to it if it runs.
func (b *Bridge) updateAccount(name string, change func(*vault.Account) error) (vault.Account, error) {
	acct, err := b.findAccount(name)
	if err != nil {
		return vault.Account{}, err
	}
	acct, err = b.vault.UpdateAccount(acct.ID, change)
	if errors.Is(err, vault.ErrNotFound) {
		return vault.Account{}, fmt.Errorf("%q: %w (removed meanwhile)", name, ErrNoAccount)
	}
	if err != nil {
		return vault.Account{}, userError{err}
	}
	b.mu.Lock()
	if a := b.accounts[acct.ID]; a != nil {
		a.setConfig(acct)
	}
	b.mu.Unlock()
	return acct, nil
}

// parseBool reads the spellings of yes and no a user is likely to type.
func parseBool(name, v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("%s: %q is not true or false", name, v)
}

// userError shows a vault error without the package prefix, which means
// nothing to a user, and keeps it for errors.Is.
type userError struct{ err error }

func (e userError) Error() string { return strings.TrimPrefix(e.err.Error(), "vault: ") }
func (e userError) Unwrap() error { return e.err }
