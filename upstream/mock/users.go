package mock

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	bolt "go.etcd.io/bbolt"

	"github.com/mailbridge/mailbridge/crypto"
	"github.com/mailbridge/mailbridge/upstream"
)

// UserSpec describes an account for AddUser.
type UserSpec struct {
	Username string
	Password string
	// Addresses of the account, the primary one first. Empty IDs are
	// filled in. With none, Username must be an email address and becomes
	// the only address.
	Addresses []upstream.Address
	// Key is the account's unlocked key pair; nil generates one. It is
	// stored armored and locked with Password.
	Key *openpgp.Entity
	// TOTPSecret, if set, makes the account need a second factor: the
	// RFC 6238 code of this secret (see TOTPCode), passed to
	// Session.SubmitSecondFactor after Login.
	TOTPSecret []byte
}

// AddUser creates an account with the system labels and an empty event
// log. Usernames are unique, and so are addresses across accounts.
// ErrUserExists is returned by AddUser for a username already taken.
var ErrUserExists = errors.New("mock: user exists")

func (s *Server) AddUser(u UserSpec) error {
	if u.Username == "" || u.Password == "" {
		return errors.New("mock: add user: username and password are required")
	}
	addrs := append([]upstream.Address(nil), u.Addresses...)
	if len(addrs) == 0 {
		if !strings.Contains(u.Username, "@") {
			return errors.New("mock: add user: no address given")
		}
		addrs = []upstream.Address{{Email: u.Username}}
	}
	for i := range addrs {
		if addrs[i].ID == "" {
			addrs[i].ID = "a-" + shortHash(strings.ToLower(addrs[i].Email))
		}
	}
	key := u.Key
	if key == nil {
		var err error
		if key, err = crypto.GenerateKey(addrs[0].Name, addrs[0].Email); err != nil {
			return fmt.Errorf("mock: add user: %w", err)
		}
	}
	priv, err := crypto.ArmorPrivateKey(key, []byte(u.Password))
	if err != nil {
		return fmt.Errorf("mock: add user: %w", err)
	}
	pub, err := crypto.ArmorPublicKey(key)
	if err != nil {
		return fmt.Errorf("mock: add user: %w", err)
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return fmt.Errorf("mock: add user: %w", err)
	}
	rec := &userRecord{
		ID:         "u-" + shortHash(u.Username),
		Username:   u.Username,
		PassSalt:   salt,
		PassHash:   passwordHash(salt, u.Password),
		Addresses:  addrs,
		PrivateKey: priv,
		PublicKey:  pub,
		TOTPSecret: bytes.Clone(u.TOTPSecret),
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bktNames).Get([]byte(u.Username)) != nil {
			return fmt.Errorf("%w: %q", ErrUserExists, u.Username)
		}
		for _, a := range addrs {
			if tx.Bucket(bktAddrs).Get(emailKey(a.Email)) != nil {
				return fmt.Errorf("address %q is taken", a.Email)
			}
			if err := tx.Bucket(bktAddrs).Put(emailKey(a.Email), []byte(rec.ID)); err != nil {
				return err
			}
		}
		ub, err := tx.CreateBucket(userBucket(rec.ID))
		if err != nil {
			return err
		}
		for _, name := range [][]byte{bktLabels, bktMsgs, bktRaw, bktEvents, bktOps} {
			if _, err := ub.CreateBucket(name); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bktNames).Put([]byte(u.Username), []byte(rec.ID)); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bktUsers), []byte(rec.ID), rec)
	})
	if err != nil {
		return fmt.Errorf("mock: add user: %w", err)
	}
	s.log.Info("mock: user added", "user", rec.ID, "addresses", len(addrs))
	return nil
}

// PublishKey puts armored public keys on the key server for an address
// that is not (necessarily) an account of this server. Keys of accounts
// are published automatically and take precedence.
func (s *Server) PublishKey(email string, armoredPublic []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bktKeys).Put(emailKey(email), bytes.Clone(armoredPublic))
	})
}

// Logout revokes every token of the account, so that its sessions fail
// with an Auth error and Resume no longer works, as after a password
// change on the real service.
func (s *Server) Logout(username string) error {
	id, err := s.userID(username)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktTokens)
		var doomed [][]byte
		if err := b.ForEach(func(k, v []byte) error {
			if string(v) == id || string(v) == pendingPrefix+id {
				doomed = append(doomed, bytes.Clone(k))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range doomed {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// userID maps a username to its account ID.
func (s *Server) userID(username string) (string, error) {
	if s.closed() {
		return "", errClosed
	}
	var id string
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bktNames).Get([]byte(username))
		if v == nil {
			return fmt.Errorf("mock: no user %q", username)
		}
		id = string(v)
		return nil
	})
	return id, err
}

// lookupKeys answers the key server: an account's key first, then
// published keys.
func (s *Server) lookupKeys(email string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if id := tx.Bucket(bktAddrs).Get(emailKey(email)); id != nil {
			var rec userRecord
			if _, err := getJSON(tx.Bucket(bktUsers), id, &rec); err != nil {
				return err
			}
			out = bytes.Clone(rec.PublicKey)
			return nil
		}
		if v := tx.Bucket(bktKeys).Get(emailKey(email)); v != nil {
			out = bytes.Clone(v)
			return nil
		}
		return upstream.Errorf(upstream.NotFound, "no public key for this address")
	})
	return out, asUpstream(err)
}

func passwordHash(salt []byte, password string) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(password))
	return h.Sum(nil)
}

func checkPassword(rec *userRecord, password string) bool {
	return subtle.ConstantTimeCompare(passwordHash(rec.PassSalt, password), rec.PassHash) == 1
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}

func emailKey(email string) []byte { return []byte(strings.ToLower(strings.TrimSpace(email))) }

func tokenKey(token []byte) []byte {
	sum := sha256.Sum256(token)
	return sum[:]
}
