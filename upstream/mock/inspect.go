package mock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/mailbridge/mailbridge/crypto"
	"github.com/mailbridge/mailbridge/upstream"
)

// Deliver makes new mail arrive: it encrypts the plaintext RFC 822 message
// plain to the account's key in the given format, stores it with the
// labels (nil means Inbox) and emits MessageCreated. It returns the new
// message ID. Faults do not apply.
func (s *Server) Deliver(username string, plain []byte, mailboxIDs []string, format Format) (string, error) {
	return s.DeliverSigned(username, plain, mailboxIDs, format, nil)
}

// DeliverSigned is Deliver with the message signed by signer, an unlocked
// key (nil for none).
func (s *Server) DeliverSigned(username string, plain []byte, mailboxIDs []string, format Format, signer *openpgp.Entity) (string, error) {
	id, err := s.userID(username)
	if err != nil {
		return "", err
	}
	pub, err := s.publicKey(id)
	if err != nil {
		return "", err
	}
	raw, err := encrypt(format, plain, pub, signer)
	if err != nil {
		return "", fmt.Errorf("mock: deliver: %w", err)
	}
	if mailboxIDs == nil {
		mailboxIDs = []string{upstream.Inbox}
	}
	var meta upstream.MessageMeta
	err = s.write(func(w *wtx) error {
		a, err := w.account(id)
		if err != nil {
			return err
		}
		meta, err = s.store(a, storeReq{raw: raw, labels: mailboxIDs})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("mock: deliver: %w", err)
	}
	return meta.ID, nil
}

// publicKey returns the parsed public key of an account.
func (s *Server) publicKey(userID string) (openpgp.EntityList, error) {
	var armored []byte
	err := s.read(userID, func(a *account) error {
		armored = bytes.Clone(a.rec.PublicKey)
		return nil
	})
	if err != nil {
		return nil, err
	}
	keys, err := crypto.ReadKeys(armored)
	if err != nil {
		return nil, fmt.Errorf("mock: account key: %w", err)
	}
	return keys, nil
}

// Messages returns every message of the account with its stored bytes, in
// ID order.
func (s *Server) Messages(username string) ([]upstream.Message, error) {
	id, err := s.userID(username)
	if err != nil {
		return nil, err
	}
	var out []upstream.Message
	err = s.read(id, func(a *account) error {
		raw := a.bucket(bktRaw)
		return a.bucket(bktMsgs).ForEach(func(k, v []byte) error {
			var m upstream.MessageMeta
			if err := json.Unmarshal(v, &m); err != nil {
				return fmt.Errorf("decode message %s: %w", k, err)
			}
			out = append(out, upstream.Message{MessageMeta: m, Raw: bytes.Clone(raw.Get(k))})
			return nil
		})
	})
	return out, err
}

// Snapshot is an account's state without message bytes, comparable with
// reflect.DeepEqual across restarts.
type Snapshot struct {
	UserID      string
	Addresses   []upstream.Address
	Mailboxes   []upstream.Mailbox
	Messages    []upstream.MessageMeta // in ID order
	LatestEvent string
	Used        int64
}

// Snapshot returns the account's current state.
func (s *Server) Snapshot(username string) (Snapshot, error) {
	id, err := s.userID(username)
	if err != nil {
		return Snapshot{}, err
	}
	snap := Snapshot{UserID: id}
	err = s.read(id, func(a *account) error {
		snap.Addresses = append(snap.Addresses, a.rec.Addresses...)
		snap.LatestEvent = strconv.FormatUint(a.rec.LastEvent, 10)
		snap.Used = a.rec.Used
		labels, err := a.labels()
		if err != nil {
			return err
		}
		snap.Mailboxes = labels
		return a.bucket(bktMsgs).ForEach(func(k, v []byte) error {
			var m upstream.MessageMeta
			if err := json.Unmarshal(v, &m); err != nil {
				return fmt.Errorf("decode message %s: %w", k, err)
			}
			snap.Messages = append(snap.Messages, m)
			return nil
		})
	})
	return snap, err
}
