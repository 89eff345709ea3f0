package vault

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Default listener settings.
const (
	DefaultHost      = "127.0.0.1"
	DefaultIMAPPort  = 1143
	DefaultIMAPSPort = 1993
	DefaultSMTPPort  = 1025
	DefaultSMTPSPort = 1465
)

// Listener security, per listener.
const (
	// SecuritySTARTTLS starts in plain text; clients must upgrade with
	// STARTTLS before they can log in.
	SecuritySTARTTLS = "starttls"
	// SecurityTLS speaks TLS from the first byte (implicit TLS).
	SecurityTLS = "tls"
	// SecurityOff disables the listener.
	SecurityOff = "off"
)

// What the bridge does with mail to recipients without a public key.
const (
	// UnencryptedAllow sends it as the client wrote it.
	UnencryptedAllow = "allow"
	// UnencryptedRefuse refuses the whole message, naming the recipients
	// without keys.
	UnencryptedRefuse = "refuse"
)

// Settings are the bridge-wide options. Zero values mean the defaults;
// see WithDefaults.
type Settings struct {
	// Host is the address the listeners bind to.
	Host string `json:"host,omitempty"`
	// IMAPPort serves IMAP with IMAPSecurity (default STARTTLS).
	IMAPPort     int    `json:"imap_port,omitempty"`
	IMAPSecurity string `json:"imap_security,omitempty"`
	// IMAPSPort serves IMAP with IMAPSSecurity (default implicit TLS).
	IMAPSPort     int    `json:"imaps_port,omitempty"`
	IMAPSSecurity string `json:"imaps_security,omitempty"`
	// SMTPPort serves SMTP submission with SMTPSecurity (default STARTTLS).
	SMTPPort     int    `json:"smtp_port,omitempty"`
	SMTPSecurity string `json:"smtp_security,omitempty"`
	// SMTPSPort serves SMTP submission with SMTPSSecurity (default
	// implicit TLS).
	SMTPSPort     int    `json:"smtps_port,omitempty"`
	SMTPSSecurity string `json:"smtps_security,omitempty"`
	// UnencryptedSending is UnencryptedAllow (default) or UnencryptedRefuse.
	// Accounts may override it (Account.Sending).
	UnencryptedSending string `json:"unencrypted_sending,omitempty"`
	// SignUnencrypted signs mail to recipients without keys
	// (multipart/signed) unless an account overrides it.
	SignUnencrypted bool `json:"sign_unencrypted,omitempty"`
	// AttachPublicKey attaches the sender's public key to mail to
	// recipients without keys unless an account overrides it.
	AttachPublicKey bool `json:"attach_public_key,omitempty"`
	// LogLevel is debug, info (default), warn or error.
	LogLevel string `json:"log_level,omitempty"`
	// CertHosts are extra host names and addresses the certificate covers,
	// for clients in a container or on another machine.
	CertHosts []string `json:"cert_hosts,omitempty"`
}

// WithDefaults returns s with every unset field given its default.
func (s Settings) WithDefaults() Settings {
	if s.Host == "" {
		s.Host = DefaultHost
	}
	for _, f := range []struct {
		p   *int
		def int
	}{
		{&s.IMAPPort, DefaultIMAPPort},
		{&s.IMAPSPort, DefaultIMAPSPort},
		{&s.SMTPPort, DefaultSMTPPort},
		{&s.SMTPSPort, DefaultSMTPSPort},
	} {
		if *f.p == 0 {
			*f.p = f.def
		}
	}
	for _, f := range []struct {
		p   *string
		def string
	}{
		{&s.IMAPSecurity, SecuritySTARTTLS},
		{&s.IMAPSSecurity, SecurityTLS},
		{&s.SMTPSecurity, SecuritySTARTTLS},
		{&s.SMTPSSecurity, SecurityTLS},
		{&s.UnencryptedSending, UnencryptedAllow},
		{&s.LogLevel, "info"},
	} {
		if *f.p == "" {
			*f.p = f.def
		}
	}
	s.CertHosts = slices.Clone(s.CertHosts)
	return s
}

// Validate reports ports out of range, two listeners sharing a port, and
// values that are not one of their choices.
func (s Settings) Validate() error {
	d := s.WithDefaults()
	ports := []struct {
		name     string
		port     int
		security string
	}{
		{"IMAP", d.IMAPPort, d.IMAPSecurity}, {"IMAPS", d.IMAPSPort, d.IMAPSSecurity},
		{"SMTP", d.SMTPPort, d.SMTPSecurity}, {"SMTPS", d.SMTPSPort, d.SMTPSSecurity},
	}
	for i, p := range ports {
		if p.port < 1 || p.port > 65535 {
			return fmt.Errorf("vault: %s port %d out of range 1-65535", p.name, p.port)
		}
		switch p.security {
		case SecuritySTARTTLS, SecurityTLS, SecurityOff:
		default:
			return fmt.Errorf("vault: %s security %q: want starttls, tls or off", p.name, p.security)
		}
		for _, q := range ports[:i] {
			if q.port == p.port && q.security != SecurityOff && p.security != SecurityOff {
				return fmt.Errorf("vault: %s and %s both use port %d", q.name, p.name, p.port)
			}
		}
	}
	if strings.ContainsAny(d.Host, " \t\r\n/") || d.Host == "" {
		return fmt.Errorf("vault: invalid host %q", d.Host)
	}
	switch d.UnencryptedSending {
	case UnencryptedAllow, UnencryptedRefuse:
	default:
		return fmt.Errorf("vault: unencrypted sending %q: want allow or refuse", d.UnencryptedSending)
	}
	switch d.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("vault: log level %q: want debug, info, warn or error", d.LogLevel)
	}
	for _, h := range d.CertHosts {
		if h == "" || strings.ContainsAny(h, " \t\r\n/,") {
			return fmt.Errorf("vault: invalid certificate host %q", h)
		}
	}
	return nil
}

// Account is one upstream account served to mail clients, with its secrets.
type Account struct {
	// ID is random and never changes; it names the account's cache file.
	ID string `json:"id"`
	// Username is what mail clients log in with: the primary address.
	Username string `json:"username"`
	// ClientPassword is the generated password mail clients use; the
	// upstream password never reaches them.
	ClientPassword string `json:"client_password"`
	// Addresses are the account's e-mail addresses, primary first.
	Addresses []string `json:"addresses"`
	// CacheKey seals the account's local cache (32 bytes).
	CacheKey []byte `json:"cache_key"`
	// UIDValidityFloor is the highest UIDVALIDITY the account's cache has
	// handed out. It lives here because it must outlive a lost or reset
	// cache: a new cache starts above it.
	UIDValidityFloor uint32 `json:"uidvalidity_floor,omitempty"`
	// UpstreamUser is the login name at the upstream provider.
	UpstreamUser string `json:"upstream_user"`
	// UpstreamAuth is an opaque token that resumes the upstream session.
	UpstreamAuth []byte `json:"upstream_auth,omitempty"`
	// KeyPassphrase unlocks the account's OpenPGP keys.
	KeyPassphrase []byte `json:"key_passphrase,omitempty"`
	// Sending overrides the bridge-wide sending settings for this account.
	Sending SendingOverrides `json:"sending,omitzero"`
	// PinnedKeys are contacts' public keys the user pinned by hand, used
	// when the key server has none for the address.
	PinnedKeys []PinnedKey `json:"pinned_keys,omitempty"`
}

// NewAccount returns an account with a fresh random ID, client password
// and cache key. Its Username is the first address, or upstreamUser when
// there is none.
func NewAccount(upstreamUser string, addresses []string) (Account, error) {
	a := Account{UpstreamUser: upstreamUser, Addresses: slices.Clone(addresses)}
	if len(addresses) > 0 {
		a.Username = addresses[0]
	} else {
		a.Username = upstreamUser
	}
	if a.Username == "" {
		return Account{}, errors.New("vault: new account needs an upstream user or an address")
	}
	id := make([]byte, 16)
	a.CacheKey = make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		return Account{}, fmt.Errorf("vault: random ID: %w", err)
	}
	if _, err := rand.Read(a.CacheKey); err != nil {
		return Account{}, fmt.Errorf("vault: random cache key: %w", err)
	}
	a.ID = hex.EncodeToString(id)
	pw, err := newPassword()
	if err != nil {
		return Account{}, err
	}
	a.ClientPassword = pw
	return a, nil
}

// passwordEncoding is lower-case base32 without padding: letters and
// digits only, so a double-click selects the whole password, and it
// has no 0 or 1 to mistake for o or l.
var passwordEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newPassword returns 128 random bits as 26 characters.
func newPassword() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("vault: random password: %w", err)
	}
	return passwordEncoding.EncodeToString(b), nil
}

func (a Account) validate() error {
	switch {
	case a.ID == "":
		return errors.New("vault: account has no ID")
	case strings.ContainsAny(a.ID, `/\.`):
		// The ID names a file: keep it from escaping the cache directory.
		return fmt.Errorf("vault: account ID %q contains a path character", a.ID)
	case a.Username == "":
		return errors.New("vault: account has no username")
	case a.ClientPassword == "":
		return errors.New("vault: account has no client password")
	case len(a.CacheKey) != 32:
		return fmt.Errorf("vault: cache key is %d bytes, want 32", len(a.CacheKey))
	}
	if err := a.Sending.Validate(); err != nil {
		return err
	}
	return validatePinned(a.PinnedKeys)
}

// clone copies a deeply so callers cannot change the vault's state
// through shared slices.
func (a Account) clone() Account {
	a.Addresses = slices.Clone(a.Addresses)
	a.CacheKey = slices.Clone(a.CacheKey)
	a.UpstreamAuth = slices.Clone(a.UpstreamAuth)
	a.KeyPassphrase = slices.Clone(a.KeyPassphrase)
	a.Sending = a.Sending.clone()
	a.PinnedKeys = slices.Clone(a.PinnedKeys)
	return a
}
