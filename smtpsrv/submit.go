package smtpsrv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
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

// recipient is one envelope recipient and the keys it publishes, if any.
type recipient struct {
	addr string
	keys openpgp.EntityList
}

// submit checks one message against the account's policy, prepares what
// each recipient gets and hands it to the upstream.
//
// Recipients with published keys share one PGP/MIME message, encrypted to
// all of them and to the sender and signed by the sender; the others share
// the message as the client wrote it. Bcc is removed from both. The
// sender's copy for Sent is the message as written, Bcc included, encrypted
// whole to the sender.
func (s *Server) submit(ctx context.Context, acct Account, env envelope, raw []byte) (submitted, error) {
	hdr, err := checkMessage(raw)
	if err != nil {
		return submitted{}, err
	}
	if err := checkFrom(hdr, acct.Addresses()); err != nil {
		return submitted{}, err
	}
	keys := acct.Keys()
	if len(keys) == 0 || keys[0] == nil {
		return submitted{}, errNoKeys
	}
	signer := keys[0]
	self := openpgp.EntityList{signer}

	rcpts, err := lookupKeys(ctx, acct.Upstream(), env.rcpts)
	if err != nil {
		return submitted{}, err
	}
	var keyed, plain []string
	var to openpgp.EntityList
	for _, r := range rcpts {
		if len(r.keys) > 0 {
			keyed = append(keyed, r.addr)
			to = append(to, r.keys...)
		} else {
			plain = append(plain, r.addr)
		}
	}

	visible := stripBcc(raw)
	sentCopy, err := crypto.EncryptWhole(raw, self, signer)
	if err != nil {
		return submitted{}, cryptoFailed("encrypting the copy for Sent", err)
	}

	base := opBase(env, raw)
	res := submitted{opID: base, encrypted: len(keyed), plain: len(plain)}
	var sends []upstream.SendRequest
	if len(keyed) > 0 {
		enc, err := crypto.EncryptMIME(visible, append(to, self...), signer)
		if err != nil {
			return submitted{}, cryptoFailed("encrypting the message", err)
		}
		sends = append(sends, upstream.SendRequest{
			OpID: opID(base, "pgp", keyed), From: env.from, Recipients: keyed, Raw: enc,
		})
	}
	if len(plain) > 0 {
		sends = append(sends, upstream.SendRequest{
			OpID: opID(base, "plain", plain), From: env.from, Recipients: plain, Raw: visible,
		})
	}
	if len(sends) == 0 {
		// go-smtp refuses DATA without RCPT; this only guards the index below.
		return submitted{}, reject(554, smtp.EnhancedCode{5, 5, 1}, nil, "No valid recipients")
	}
	// Only the first send carries the Sent copy, so a message split into an
	// encrypted and a plain send still lands in Sent once; the second send
	// has SentCopy nil and the upstream stores nothing for it.
	sends[0].SentCopy = sentCopy

	for _, req := range sends {
		if _, err := acct.Upstream().Send(ctx, req); err != nil {
			return submitted{}, &sendError{err: err}
		}
	}
	return res, nil
}

// lookupKeys asks the key server for each distinct recipient's keys, so a
// recipient named twice still gets one copy. NotFound means the recipient
// has no key; any other failure is temporary, because sending in clear to
// someone whose key could not be fetched would be the wrong fallback.
func lookupKeys(ctx context.Context, up upstream.Session, addrs []string) ([]recipient, error) {
	seen := make(map[string]bool, len(addrs))
	var out []recipient
	for _, a := range addrs {
		k := strings.ToLower(a)
		if seen[k] {
			continue
		}
		seen[k] = true
		armored, err := up.PublicKeys(ctx, a)
		if upstream.KindOf(err) == upstream.NotFound {
			out = append(out, recipient{addr: a})
			continue
		}
		if err != nil {
			return nil, &keyLookupError{addr: a, err: err}
		}
		keys, err := crypto.ReadKeys(armored)
		if err != nil {
			// The key server claims a key but it is unusable. Failing closed
			// keeps mail meant to be encrypted from going out in clear.
			return nil, reject(554, smtp.EnhancedCode{5, 7, 0}, err,
				"The published key of <%s> cannot be read; the message was not sent", a)
		}
		usable := usableKeys(keys)
		if len(usable) == 0 {
			return nil, reject(554, smtp.EnhancedCode{5, 7, 0}, nil,
				"The published key of <%s> is expired or revoked; the message was not sent", a)
		}
		out = append(out, recipient{addr: a, keys: usable})
	}
	return out, nil
}

// usableKeys keeps the entities that can encrypt now. One expired key
// among several published ones must not block the message.
func usableKeys(list openpgp.EntityList) openpgp.EntityList {
	now := time.Now()
	var out openpgp.EntityList
	for _, e := range list {
		if _, ok := e.EncryptionKey(now); ok {
			out = append(out, e)
		}
	}
	return out
}

func cryptoFailed(what string, err error) error {
	return reject(554, smtp.EnhancedCode{5, 7, 0}, fmt.Errorf("%s: %w", what, err),
		"Encryption failed; the message was not sent")
}

// opBase identifies a message: the same envelope and bytes give the same
// value, so when a client retries after a 4xx reply, the upstream, which
// deduplicates by OpID, does not deliver a part that already went out.
func opBase(env envelope, raw []byte) string {
	h := sha256.New()
	h.Write([]byte(strings.ToLower(env.from)))
	h.Write([]byte{0})
	rcpts := make([]string, len(env.rcpts))
	for i, r := range env.rcpts {
		rcpts[i] = strings.ToLower(r)
	}
	slices.Sort(rcpts)
	for _, r := range rcpts {
		h.Write([]byte(r))
		h.Write([]byte{0})
	}
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
