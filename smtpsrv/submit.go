package smtpsrv

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/emersion/go-message"
	"github.com/emersion/go-smtp"

	"github.com/mailbridge/mailbridge/crypto"
	"github.com/mailbridge/mailbridge/upstream"
)

// submitted describes a delivered message for the log.
type submitted struct {
	opID      string
	encrypted int // recipients who got the PGP/MIME copy
	plain     int // recipients who got the message as written
}

// submit checks one message against the account's policy, prepares what
// each recipient gets and hands it to the upstream.
//
// Recipients with keys share one PGP/MIME message, encrypted to all of them
// and to the sender and signed by the sender; the others share the message
// as the client wrote it (signed, or with the sender's key attached, if the
// account says so). Bcc is removed from both. The sender's copy for Sent is
// the message as written, Bcc and Message-ID included, encrypted whole to
// the sender.
func (s *Server) submit(ctx context.Context, acct Account, env envelope, raw []byte) (submitted, error) {
	hdr, err := checkMessage(raw)
	if err != nil {
		return submitted{}, err
	}
	if err := checkFrom(hdr, acct.Addresses()); err != nil {
		return submitted{}, err
	}
	if len(env.rcpts) == 0 {
		// go-smtp refuses DATA without RCPT; this guards the code below.
		return submitted{}, reject(554, smtp.EnhancedCode{5, 5, 1}, nil, "No valid recipients")
	}
	policy := policyOf(acct)
	if clear := withoutKeys(env.rcpts); policy.RequireEncryption && len(clear) > 0 {
		return submitted{}, refuseUnencrypted(clear)
	}
	keys := acct.Keys()
	if len(keys) == 0 || keys[0] == nil {
		return submitted{}, errNoKeys
	}
	signer := keys[0]
	self := openpgp.EntityList{signer}

	raw = withMessageID(raw, hdr, env.from)
	var keyed, plain []string
	to := openpgp.EntityList{signer}
	for _, r := range env.rcpts {
		if r.Source == crypto.KeysNone {
			plain = append(plain, r.Email)
			continue
		}
		keyed = append(keyed, r.Email)
		to = appendNew(to, r.Keys)
	}

	visible := stripBcc(raw)
	sentCopy, err := crypto.EncryptWhole(raw, self, signer)
	if err != nil {
		return submitted{}, cryptoFailed("encrypting the copy for Sent", err)
	}

	base := opBase(env.from, raw)
	res := submitted{opID: base, encrypted: len(keyed), plain: len(plain)}
	var sends []upstream.SendRequest
	if len(keyed) > 0 {
		enc, err := crypto.EncryptMIME(visible, to, signer)
		if err != nil {
			return submitted{}, cryptoFailed("encrypting the message", err)
		}
		sends = append(sends, upstream.SendRequest{
			OpID: opID(base, "pgp", keyed), From: env.from, Recipients: keyed, Raw: enc,
		})
	}
	if len(plain) > 0 {
		msg, err := plainCopy(visible, policy, signer)
		if err != nil {
			return submitted{}, err
		}
		sends = append(sends, upstream.SendRequest{
			OpID: opID(base, "plain", plain), From: env.from, Recipients: plain, Raw: msg,
		})
	}
	// Only the first send carries the Sent copy, so a message split into an
	// encrypted and a plain send lands in Sent once. This relies on the
	// upstream storing nothing for a nil SentCopy (see the issue 5 report:
	// the mock still stores Raw then).
	sends[0].SentCopy = sentCopy

	for _, req := range sends {
		if _, err := acct.Upstream().Send(ctx, req); err != nil {
			var refused recipientRejecter
			if errors.As(err, &refused) && len(refused.RejectedRecipients()) > 0 {
				return submitted{}, sendRejected(refused.RejectedRecipients(), err)
			}
			return submitted{}, &sendError{err: err}
		}
	}
	return res, nil
}

// plainCopy is what recipients without keys get: the message as written,
// with the account's public key attached and signed if the policy says so.
func plainCopy(msg []byte, policy Policy, signer *openpgp.Entity) ([]byte, error) {
	var err error
	if policy.AttachPublicKey {
		if msg, err = crypto.AttachPublicKey(msg, signer); err != nil {
			return nil, cryptoFailed("attaching the public key", err)
		}
	}
	if policy.SignUnencrypted {
		if msg, err = crypto.SignMIME(msg, signer); err != nil {
			return nil, cryptoFailed("signing the message", err)
		}
	}
	return msg, nil
}

// appendNew appends the entities of add not yet in list, so a key named
// twice (a recipient's and the sender's own) is encrypted to once.
func appendNew(list, add openpgp.EntityList) openpgp.EntityList {
	for _, e := range add {
		if !slices.ContainsFunc(list, func(o *openpgp.Entity) bool {
			return bytes.Equal(o.PrimaryKey.Fingerprint, e.PrimaryKey.Fingerprint)
		}) {
			list = append(list, e)
		}
	}
	return list
}

// withMessageID gives a message without a Message-ID one (RFC 6409 section
// 8.3), so the recipients, the Sent copy and the client's own copy can be
// matched. It is derived from the sender and the message, so a client that
// retries after a 4xx reply gets the same one, and the upstream can tell
// the retry from a new message. A message that has one keeps it exactly.
func withMessageID(raw []byte, hdr message.Header, from string) []byte {
	if strings.TrimSpace(hdr.Get("Message-Id")) != "" {
		return raw
	}
	h := sha256.New()
	h.Write([]byte(strings.ToLower(from)))
	h.Write([]byte{0})
	h.Write(raw)
	domain := "mailbridge.invalid"
	if _, d, ok := strings.Cut(from, "@"); ok && d != "" {
		domain = d
	}
	eol := "\r\n"
	if i := bytes.IndexByte(raw, '\n'); i >= 0 && (i == 0 || raw[i-1] != '\r') {
		eol = "\n"
	}
	field := "Message-ID: <mailbridge." + hex.EncodeToString(h.Sum(nil)[:16]) + "@" + domain + ">" + eol
	return append([]byte(field), raw...)
}

func cryptoFailed(what string, err error) error {
	return reject(554, smtp.EnhancedCode{5, 7, 0}, fmt.Errorf("%s: %w", what, err),
		"Encryption failed; the message was not sent")
}

// opBase identifies a message: the same sender and bytes give the same
// value, so when a client retries after a 4xx reply, the upstream, which
// deduplicates by OpID, does not deliver a part that already went out. The
// recipients are left out on purpose: after a 550 for one recipient the
// client sends again without it, and the other recipients' sends must
// still match the first attempt. Each send's OpID adds its own recipients.
func opBase(from string, raw []byte) string {
	h := sha256.New()
	h.Write([]byte(strings.ToLower(from)))
	h.Write([]byte{0})
	h.Write(raw)
	return "smtp-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// opID names one of a message's sends. It includes that send's recipients:
// if a recipient's key appeared between a failed attempt and the retry,
// the split changes and the new sends must not be mistaken for old ones.
func opID(base, kind string, rcpts []string) string {
	h := sha256.New()
	for _, r := range rcpts {
		h.Write([]byte(strings.ToLower(r)))
		h.Write([]byte{0})
	}
	return base + "-" + kind + "-" + hex.EncodeToString(h.Sum(nil)[:6])
}
