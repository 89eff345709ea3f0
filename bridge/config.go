package bridge

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/mailbridge/mailbridge/certs"
	"github.com/mailbridge/mailbridge/vault"
)

// configKey is one setting `mailbridge config get|set` knows.
type configKey struct {
	name string
	help string
	get  func(*vault.Settings) string
	set  func(*vault.Settings, string) error
}

func portKey(name, what string, p func(*vault.Settings) *int) configKey {
	return configKey{
		name: name, help: what + " port",
		get: func(s *vault.Settings) string { return strconv.Itoa(*p(s)) },
		set: func(s *vault.Settings, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("%s: %q is not a port number", name, v)
			}
			*p(s) = n
			return nil
		},
	}
}

func stringKey(name, help string, p func(*vault.Settings) *string) configKey {
	return configKey{
		name: name, help: help,
		get: func(s *vault.Settings) string { return *p(s) },
		set: func(s *vault.Settings, v string) error { *p(s) = strings.TrimSpace(v); return nil },
	}
}

func boolKey(name, help string, p func(*vault.Settings) *bool) configKey {
	return configKey{
		name: name, help: help,
		get: func(s *vault.Settings) string { return strconv.FormatBool(*p(s)) },
		set: func(s *vault.Settings, v string) error {
			b, err := parseBool(name, v)
			*p(s) = b
			return err
		},
	}
}

// configKeys are the settings in the order `config get` lists them.
var configKeys = []configKey{
	stringKey("host", "address the listeners bind to (127.0.0.1; 0.0.0.0 to serve other machines)",
		func(s *vault.Settings) *string { return &s.Host }),
	portKey("imap-port", "first IMAP listener's", func(s *vault.Settings) *int { return &s.IMAPPort }),
	stringKey("imap-security", "first IMAP listener: starttls, tls or off",
		func(s *vault.Settings) *string { return &s.IMAPSecurity }),
	portKey("imaps-port", "second IMAP listener's", func(s *vault.Settings) *int { return &s.IMAPSPort }),
	stringKey("imaps-security", "second IMAP listener: starttls, tls or off",
		func(s *vault.Settings) *string { return &s.IMAPSSecurity }),
	portKey("smtp-port", "first SMTP listener's", func(s *vault.Settings) *int { return &s.SMTPPort }),
	stringKey("smtp-security", "first SMTP listener: starttls, tls or off",
		func(s *vault.Settings) *string { return &s.SMTPSecurity }),
	portKey("smtps-port", "second SMTP listener's", func(s *vault.Settings) *int { return &s.SMTPSPort }),
	stringKey("smtps-security", "second SMTP listener: starttls, tls or off",
		func(s *vault.Settings) *string { return &s.SMTPSSecurity }),
	stringKey("unencrypted-sending", "mail to recipients without a public key: allow or refuse",
		func(s *vault.Settings) *string { return &s.UnencryptedSending }),
	boolKey("sign-unencrypted", "sign mail to recipients without a public key (multipart/signed): true or false",
		func(s *vault.Settings) *bool { return &s.SignUnencrypted }),
	boolKey("attach-public-key", "attach your public key to mail to recipients without one: true or false",
		func(s *vault.Settings) *bool { return &s.AttachPublicKey }),
	stringKey("log-level", "debug, info, warn or error", func(s *vault.Settings) *string { return &s.LogLevel }),
	{
		name: "cert-hosts", help: "extra host names or addresses the certificate covers, comma-separated",
		get: func(s *vault.Settings) string { return strings.Join(s.CertHosts, ",") },
		set: func(s *vault.Settings, v string) error {
			s.CertHosts = nil
			for h := range strings.SplitSeq(v, ",") {
				if h = strings.TrimSpace(h); h != "" && !slices.Contains(s.CertHosts, h) {
					s.CertHosts = append(s.CertHosts, h)
				}
			}
			return nil
		},
	},
}

// ConfigEntry is one setting as `config get` shows it.
type ConfigEntry struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	Help  string `json:"help"`
	// Scope, in an account's settings, says whether the account has its
	// own value (ScopeAccount) or follows the bridge-wide one
	// (ScopeDefault). It is empty for bridge-wide settings.
	Scope string `json:"scope,omitempty"`
}

// ConfigKeys lists the setting names `config set` accepts, for help
// texts and shell completion.
func ConfigKeys() []ConfigEntry {
	out := make([]ConfigEntry, len(configKeys))
	for i, k := range configKeys {
		out[i] = ConfigEntry{Key: k.name, Help: k.help}
	}
	return out
}

// Config returns every setting with its current value, defaults filled in.
func (b *Bridge) Config() []ConfigEntry {
	set := b.vault.Settings().WithDefaults()
	out := ConfigKeys()
	for i, k := range configKeys {
		out[i].Value = k.get(&set)
	}
	return out
}

// SetConfig changes one setting, validates the result and applies it to
// the running daemon: listeners are rebound (a listener that cannot be
// bound leaves everything as it was), the log level changes at once, and
// new certificate hosts get a new certificate.
func (b *Bridge) SetConfig(key, value string) ([]ConfigEntry, error) {
	i := slices.IndexFunc(configKeys, func(k configKey) bool { return k.name == key })
	if i < 0 {
		names := make([]string, len(configKeys))
		for j, k := range configKeys {
			names[j] = k.name
		}
		return nil, fmt.Errorf("unknown setting %q; settings are: %s", key, strings.Join(names, ", "))
	}
	old := b.vault.Settings().WithDefaults()
	set := old.WithDefaults()
	if err := configKeys[i].set(&set, value); err != nil {
		return nil, err
	}
	if err := set.Validate(); err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "vault: "))
	}
	if !slices.Equal(set.CertHosts, old.CertHosts) {
		if err := b.setCertHosts(set.CertHosts); err != nil {
			return nil, err
		}
	}
	b.mu.Lock()
	ls := b.listeners
	b.mu.Unlock()
	if ls != nil {
		// apply saves the settings with the ports it bound.
		if err := ls.apply(set); err != nil {
			return nil, err
		}
	} else if err := b.vault.SetSettings(set); err != nil {
		return nil, err
	}
	b.applyLogLevel(set.LogLevel)
	b.log.Info("setting changed", "key", key)
	return b.Config(), nil
}

// RenewCert replaces the certificate now, covering hosts in addition to
// the names it covered before. Mail clients must trust the new one.
func (b *Bridge) RenewCert(hosts []string) (CertStatus, error) {
	set := b.vault.Settings()
	for _, h := range hosts {
		if h = strings.TrimSpace(h); h != "" && !slices.Contains(set.CertHosts, h) {
			set.CertHosts = append(set.CertHosts, h)
		}
	}
	if err := set.Validate(); err != nil {
		return CertStatus{}, errors.New(strings.TrimPrefix(err.Error(), "vault: "))
	}
	cert, err := certs.Load(certs.Options{Dir: certDir(b.opts.DataDir), Hosts: set.CertHosts, Logger: b.log})
	if err != nil {
		return CertStatus{}, err
	}
	if err := cert.Renew(); err != nil {
		return CertStatus{}, err
	}
	if err := b.vault.SetSettings(set); err != nil {
		return CertStatus{}, err
	}
	b.cert.Store(cert)
	return b.certStatus(), nil
}

func (b *Bridge) applyLogLevel(level string) {
	if b.opts.LogLevel == nil {
		return
	}
	var lvl slog.Level
	if lvl.UnmarshalText([]byte(level)) == nil {
		b.opts.LogLevel.Set(lvl)
	}
}

// setCertHosts replaces the certificate if it does not cover hosts.
func (b *Bridge) setCertHosts(hosts []string) error {
	cert, err := certs.Load(certs.Options{Dir: certDir(b.opts.DataDir), Hosts: hosts, Logger: b.log})
	if err != nil {
		return err
	}
	b.cert.Store(cert)
	return nil
}
