package smtpsrv

import (
	"context"
	"errors"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/emersion/go-smtp"

	"github.com/mailbridge/mailbridge/crypto"
	"github.com/mailbridge/mailbridge/upstream"
)

// Policy is an account's settings for outgoing mail. The zero value keeps
// the defaults: mail to recipients without keys goes out exactly as the
// client wrote it (minus Bcc), and such recipients are allowed.
type Policy struct {
	// SignUnencrypted signs mail to recipients without keys, as RFC 3156
	// multipart/signed, so they can check it came from the account.
	SignUnencrypted bool
	// AttachPublicKey attaches the account's public key to mail to
	// recipients without keys, so they can answer encrypted.
	AttachPublicKey bool
	// RequireEncryption refuses a message with any recipient without a
	// usable key (550 5.7.1 naming them), instead of sending it in clear.
	RequireEncryption bool
}

// PolicyAccount is an Account with sending settings and keys the user
// pinned locally. The bridge's accounts implement it; an Account that does
// not is treated as having the zero Policy and no pinned keys.
type PolicyAccount interface {
	Account
	// SendPolicy returns the account's current settings. It is called once
	// per message, so a changed setting applies to the next message.
	SendPolicy() Policy
	// PinnedKeys returns the public keys the user pinned for email (a
	// contact's key imported by hand), or nil. They are used when the key
	// server has no usable key for the address. The lookup ignores case.
	PinnedKeys(email string) openpgp.EntityList
}

func policyOf(acct Account) Policy {
	if p, ok := acct.(PolicyAccount); ok {
		return p.SendPolicy()
	}
	return Policy{}
}

func pinnedKeys(acct Account, email string) openpgp.EntityList {
	if p, ok := acct.(PolicyAccount); ok {
		return p.PinnedKeys(email)
	}
	return nil
}

// recipientRejecter is the shape of an upstream error naming recipients
// the upstream refuses (an address that does not exist, a blocked
// domain). Send is expected to have delivered nothing when it returns
// one; see the report on issue 5 for the proposed upstream.RecipientError.
// Matching on the method rather than a type keeps smtpsrv working with
// any upstream that provides it.
type recipientRejecter interface {
	error
	RejectedRecipients() []string
}

// fetchFrom adapts a session's key server lookup to crypto's policy, which
// wants "no key" as an empty answer rather than an error.
func fetchFrom(up upstream.Session) crypto.FetchKeys {
	return func(ctx context.Context, email string) ([]byte, error) {
		armored, err := up.PublicKeys(ctx, email)
		if err != nil && upstream.KindOf(err) == upstream.NotFound {
			return nil, nil
		}
		return armored, err
	}
}

// lookupRecipient decides at RCPT time how mail to addr will be sent, so
// that a recipient the upstream refuses, or whose published key is broken,
// gets its own 5xx reply while the other recipients go on.
func (s *Server) lookupRecipient(ctx context.Context, acct Account, addr string) (crypto.RecipientKeys, error) {
	ctx, cancel := context.WithTimeout(ctx, keyLookupTimeout)
	defer cancel()
	r, err := s.keys.Lookup(ctx, addr, fetchFrom(acct.Upstream()), pinnedKeys(acct, addr))
	if err == nil {
		return r, nil
	}
	var (
		refused  recipientRejecter
		unusable *crypto.UnusableKeyError
	)
	switch {
	case errors.As(err, &refused):
		return r, reject(550, smtp.EnhancedCode{5, 1, 1}, err,
			"Recipient <%s> is refused by the mail service; remove it and send again", addr)
	case errors.As(err, &unusable):
		return r, reject(550, smtp.EnhancedCode{5, 7, 0}, err,
			"The published key of <%s> %s; not sending to this recipient", addr, unusable.Reason)
	}
	return r, &keyLookupError{addr: addr, err: err}
}

// withoutKeys returns the recipients that have no usable key.
func withoutKeys(rcpts []crypto.RecipientKeys) []string {
	var out []string
	for _, r := range rcpts {
		if r.Source == crypto.KeysNone {
			out = append(out, r.Email)
		}
	}
	return out
}

// refuseUnencrypted is the reply when the account only sends encrypted mail.
func refuseUnencrypted(addrs []string) error {
	return reject(550, smtp.EnhancedCode{5, 7, 1}, nil,
		"This account only sends encrypted mail, and no OpenPGP key is known for <%s>; remove them or pin their keys in the bridge",
		strings.Join(addrs, ">, <"))
}

// sendRejected is the reply when the upstream refused some recipients at
// Send time.
func sendRejected(addrs []string, cause error) error {
	return reject(550, smtp.EnhancedCode{5, 1, 1}, cause,
		"The mail service refused <%s>; remove them and send again", strings.Join(addrs, ">, <"))
}
