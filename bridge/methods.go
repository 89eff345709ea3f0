package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Method is a control method: it decodes its own params and returns a
// value that is encoded as JSON for the caller.
type Method func(ctx context.Context, params json.RawMessage, prompt Prompt) (any, error)

// Control methods and their parameters. The CLI calls them on the daemon
// through a Client, or on a Bridge of its own with Call when no daemon
// runs: the same code does the work either way.
const (
	MethodStatus        = "status"         // -> Status
	MethodInfo          = "info"           // -> Info
	MethodAccountAdd    = "account.add"    // AddAccountParams -> AccountInfo
	MethodAccountRemove = "account.remove" // AccountParams -> AccountInfo
	MethodPasswordReset = "password.reset" // AccountParams -> AccountInfo
	MethodConfigGet     = "config.get"     // ConfigGetParams (optional) -> []ConfigEntry
	MethodConfigSet     = "config.set"     // ConfigSetParams -> []ConfigEntry
	MethodCertRenew     = "cert.renew"     // CertRenewParams -> CertStatus
	MethodKeyPin        = "key.pin"        // KeyPinParams -> []PinnedKey
	MethodKeyList       = "key.list"       // AccountParams -> []PinnedKey
	MethodKeyUnpin      = "key.unpin"      // KeyUnpinParams -> PinnedKey
)

// AddAccountParams are the upstream credentials of an account to add.
type AddAccountParams struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// AccountParams name an account by username, address or ID.
type AccountParams struct {
	Account string `json:"account"`
}

// ConfigGetParams choose whose settings to show: the bridge-wide ones,
// or with Account, the sending settings of one account.
type ConfigGetParams struct {
	Account string `json:"account,omitempty"`
}

// ConfigSetParams change one setting: bridge-wide, or with Account, one
// account's own value (ValueDefault removes it).
type ConfigSetParams struct {
	Key     string `json:"key"`
	Value   string `json:"value"`
	Account string `json:"account,omitempty"`
}

// KeyPinParams pin a contact's public key for an account. Key is the key
// file's content, armored or binary; Emails, if set, are the addresses to
// pin it for instead of those in its user IDs.
type KeyPinParams struct {
	Account string   `json:"account"`
	Key     []byte   `json:"key"`
	Emails  []string `json:"emails,omitempty"`
}

// KeyUnpinParams remove the key pinned for one address.
type KeyUnpinParams struct {
	Account string `json:"account"`
	Email   string `json:"email"`
}

// CertRenewParams add host names to the renewed certificate.
type CertRenewParams struct {
	Hosts []string `json:"hosts,omitempty"`
}

// Call runs the control method on this bridge; prompt asks the user when
// a method needs more input (nil: such methods fail).
func (b *Bridge) Call(ctx context.Context, method string, params json.RawMessage, prompt Prompt) (any, error) {
	decode := func(v any) error {
		if len(params) == 0 || string(params) == "null" {
			return nil
		}
		if err := json.Unmarshal(params, v); err != nil {
			return fmt.Errorf("%s: bad parameters: %w", method, err)
		}
		return nil
	}
	switch method {
	case MethodStatus:
		return b.Status(), nil
	case MethodInfo:
		return b.info(), nil
	case MethodAccountAdd:
		var p AddAccountParams
		if err := decode(&p); err != nil {
			return nil, err
		}
		a, err := b.AddAccount(ctx, p.Username, p.Password, prompt)
		if err != nil {
			return nil, err
		}
		return accountInfo(a), nil
	case MethodAccountRemove, MethodPasswordReset:
		var p AccountParams
		if err := decode(&p); err != nil {
			return nil, err
		}
		do := b.RemoveAccount
		if method == MethodPasswordReset {
			do = b.ResetPassword
		}
		a, err := do(p.Account)
		if err != nil {
			return nil, err
		}
		return accountInfo(a), nil
	case MethodConfigGet:
		var p ConfigGetParams
		if err := decode(&p); err != nil {
			return nil, err
		}
		if p.Account != "" {
			return b.AccountConfig(p.Account)
		}
		return b.Config(), nil
	case MethodConfigSet:
		var p ConfigSetParams
		if err := decode(&p); err != nil {
			return nil, err
		}
		if p.Account != "" {
			return b.SetAccountConfig(p.Account, p.Key, p.Value)
		}
		return b.SetConfig(p.Key, p.Value)
	case MethodKeyPin:
		var p KeyPinParams
		if err := decode(&p); err != nil {
			return nil, err
		}
		return b.PinKey(p.Account, p.Key, p.Emails)
	case MethodKeyList:
		var p AccountParams
		if err := decode(&p); err != nil {
			return nil, err
		}
		return b.PinnedKeys(p.Account)
	case MethodKeyUnpin:
		var p KeyUnpinParams
		if err := decode(&p); err != nil {
			return nil, err
		}
		return b.UnpinKey(p.Account, p.Email)
	case MethodCertRenew:
		var p CertRenewParams
		if err := decode(&p); err != nil {
			return nil, err
		}
		return b.RenewCert(p.Hosts)
	}
	if m, ok := b.opts.Methods[method]; ok {
		return m(ctx, params, prompt)
	}
	return nil, fmt.Errorf("unknown command %q (known: %s)", method, strings.Join(b.methodNames(), ", "))
}

func (b *Bridge) methodNames() []string {
	names := []string{MethodStatus, MethodInfo, MethodAccountAdd, MethodAccountRemove, MethodPasswordReset,
		MethodConfigGet, MethodConfigSet, MethodCertRenew, MethodKeyPin, MethodKeyList, MethodKeyUnpin}
	for name := range b.opts.Methods {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
