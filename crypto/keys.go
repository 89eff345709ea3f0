package crypto

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// GenerateKey creates a v4 key pair: an Ed25519 primary signing key and a
// Curve25519 encryption subkey, with one user ID "name <email>". v4 keeps
// the key usable by GnuPG 2.2, which rejects v6 keys.
func GenerateKey(name, email string) (*openpgp.Entity, error) {
	cfg := newConfig()
	cfg.Algorithm = packet.PubKeyAlgoEdDSA
	cfg.Curve = packet.Curve25519
	e, err := openpgp.NewEntity(name, "", email, cfg)
	if err != nil {
		return nil, fmt.Errorf("crypto: generate key for %q: %w", email, err)
	}
	return e, nil
}

// ArmorPublicKey returns the armored public key (certificate) of e.
func ArmorPublicKey(e *openpgp.Entity) ([]byte, error) {
	if e == nil {
		return nil, errors.New("crypto: nil entity")
	}
	var bin bytes.Buffer
	if err := e.Serialize(&bin); err != nil {
		return nil, fmt.Errorf("crypto: serialize public key: %w", err)
	}
	return armorBytes(armorPublicKey, bin.Bytes()), nil
}

// ArmorPrivateKey returns e's private key armored and locked with
// passphrase. e itself is left untouched: the locking happens on a copy, so
// a caller holding an unlocked entity can keep using it. Every private key
// in e must be unlocked.
func ArmorPrivateKey(e *openpgp.Entity, passphrase []byte) ([]byte, error) {
	if e == nil || e.PrivateKey == nil {
		return nil, errors.New("crypto: entity has no private key")
	}
	if len(passphrase) == 0 {
		return nil, errors.New("crypto: empty passphrase")
	}
	if isLocked(e) {
		return nil, errors.New("crypto: private key is locked")
	}
	var bin bytes.Buffer
	if err := e.SerializePrivateWithoutSigning(&bin, nil); err != nil {
		return nil, fmt.Errorf("crypto: serialize private key: %w", err)
	}
	dup, err := openpgp.ReadEntity(packet.NewReader(&bin))
	if err != nil {
		return nil, fmt.Errorf("crypto: copy private key: %w", err)
	}
	if err := dup.EncryptPrivateKeys(passphrase, newConfig()); err != nil {
		return nil, fmt.Errorf("crypto: lock private key: %w", err)
	}
	bin.Reset()
	if err := dup.SerializePrivateWithoutSigning(&bin, nil); err != nil {
		return nil, fmt.Errorf("crypto: serialize locked key: %w", err)
	}
	return armorBytes(armorPrivateKey, bin.Bytes()), nil
}

// ReadKeys parses one or more keys, public or private, armored (several
// blocks may follow each other) or binary. Private keys stay locked.
func ReadKeys(data []byte) (openpgp.EntityList, error) {
	var list openpgp.EntityList
	if len(data) > 0 && data[0]&0x80 != 0 {
		el, err := openpgp.ReadKeyRing(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("crypto: read binary keys: %w", err)
		}
		return el, nil
	}
	rest := data
	for {
		start, ok := findArmorStart(rest, "")
		if !ok {
			break
		}
		blk, err := decodeArmor(rest, start)
		if err != nil {
			return nil, fmt.Errorf("crypto: read keys: %w", err)
		}
		if blk.Type != armorPublicKey && blk.Type != armorPrivateKey {
			return nil, fmt.Errorf("crypto: read keys: unexpected armor block %q", blk.Type)
		}
		el, err := openpgp.ReadKeyRing(bytes.NewReader(blk.Data))
		if err != nil {
			return nil, fmt.Errorf("crypto: read keys: %w", err)
		}
		list = append(list, el...)
		rest = rest[blk.End:]
	}
	if len(list) == 0 {
		return nil, errors.New("crypto: read keys: no OpenPGP key found")
	}
	return list, nil
}

// UnlockKeys parses armored (or binary) private keys and unlocks them with
// passphrase. It fails with an error wrapping ErrBadPassphrase when the
// passphrase does not fit, and when the data holds no private key at all.
func UnlockKeys(armored []byte, passphrase []byte) (openpgp.EntityList, error) {
	list, err := ReadKeys(armored)
	if err != nil {
		return nil, err
	}
	found := false
	for _, e := range list {
		if e.PrivateKey == nil {
			continue
		}
		found = true
		if err := e.DecryptPrivateKeys(passphrase); err != nil {
			// With a well-formed key (ReadKeys accepted it) a failure here is
			// the passphrase; the library reports it as a checksum or AEAD
			// error, so map it to one sentinel.
			return nil, fmt.Errorf("crypto: unlock key %X: %w", e.PrimaryKey.Fingerprint, ErrBadPassphrase)
		}
	}
	if !found {
		return nil, errors.New("crypto: unlock keys: no private key found")
	}
	return list, nil
}

// isLocked reports whether any private key material of e is still encrypted.
func isLocked(e *openpgp.Entity) bool {
	if e.PrivateKey != nil && e.PrivateKey.Encrypted {
		return true
	}
	for _, s := range e.Subkeys {
		if s.PrivateKey != nil && s.PrivateKey.Encrypted {
			return true
		}
	}
	return false
}
