package crypto

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

func TestGenerateKeyIsV4Curve25519(t *testing.T) {
	e, err := GenerateKey("Zoë", "zoe@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if e.PrimaryKey.Version != 4 || e.PrimaryKey.PubKeyAlgo != packet.PubKeyAlgoEdDSA {
		t.Errorf("primary key v%d algo %d, want v4 EdDSA", e.PrimaryKey.Version, e.PrimaryKey.PubKeyAlgo)
	}
	if len(e.Subkeys) != 1 || e.Subkeys[0].PublicKey.PubKeyAlgo != packet.PubKeyAlgoECDH {
		t.Fatalf("want one ECDH subkey, got %d", len(e.Subkeys))
	}
	if _, ok := e.Identities["Zoë <zoe@example.org>"]; !ok {
		t.Errorf("identities = %v", e.Identities)
	}
}

func TestArmorPrivateKeyRoundTrip(t *testing.T) {
	e, err := GenerateKey("Zoë", "zoe@example.org")
	if err != nil {
		t.Fatal(err)
	}
	armored, err := ArmorPrivateKey(e, []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(armored, []byte("-----BEGIN PGP PRIVATE KEY BLOCK-----\r\n")) {
		t.Errorf("armor header: %q", armored[:40])
	}
	if isLocked(e) {
		t.Error("ArmorPrivateKey locked the caller's entity")
	}
	locked, err := ReadKeys(armored)
	if err != nil {
		t.Fatal(err)
	}
	if !isLocked(locked[0]) {
		t.Error("armored private key is not locked")
	}
	if _, err := UnlockKeys(armored, []byte("wrong")); !errors.Is(err, ErrBadPassphrase) {
		t.Errorf("wrong passphrase: err = %v, want ErrBadPassphrase", err)
	}
	unlocked, err := UnlockKeys(armored, []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	if isLocked(unlocked[0]) || unlocked[0].PrimaryKey.KeyId != e.PrimaryKey.KeyId {
		t.Error("unlocked key differs or is still locked")
	}
	// The unlocked key must actually work.
	enc, err := EncryptWhole([]byte("Subject: x\r\n\r\nhi\r\n"), unlocked, unlocked[0])
	if err != nil {
		t.Fatal(err)
	}
	if res := Decrypt(enc, unlocked, nil); res.Failed {
		t.Fatalf("decrypt with unlocked key: %s", res.Reason)
	}
	if _, err := ArmorPrivateKey(locked[0], []byte("x")); err == nil {
		t.Error("ArmorPrivateKey accepted a locked key")
	}
	if _, err := ArmorPrivateKey(e, nil); err == nil {
		t.Error("ArmorPrivateKey accepted an empty passphrase")
	}
}

func TestReadKeysSeveralAndBinary(t *testing.T) {
	alice, bob := key(t, "alice"), key(t, "bob")
	pa, err := ArmorPublicKey(alice)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := ArmorPublicKey(bob)
	if err != nil {
		t.Fatal(err)
	}
	both := append(append([]byte("some text before\n"), pa...), pb...)
	el, err := ReadKeys(both)
	if err != nil {
		t.Fatal(err)
	}
	if len(el) != 2 || el[0].PrimaryKey.KeyId != alice.PrimaryKey.KeyId || el[1].PrimaryKey.KeyId != bob.PrimaryKey.KeyId {
		t.Fatalf("got %d keys", len(el))
	}
	if el[0].PrivateKey != nil {
		t.Error("public key read with a private part")
	}
	var bin bytes.Buffer
	if err := alice.Serialize(&bin); err != nil {
		t.Fatal(err)
	}
	if err := bob.Serialize(&bin); err != nil {
		t.Fatal(err)
	}
	el, err = ReadKeys(bin.Bytes())
	if err != nil || len(el) != 2 {
		t.Fatalf("binary: %d keys, err %v", len(el), err)
	}
	for _, bad := range [][]byte{nil, []byte("no key here"), pa[:len(pa)/2]} {
		if _, err := ReadKeys(bad); err == nil {
			t.Errorf("ReadKeys(%.20q) succeeded", bad)
		}
	}
	if _, err := UnlockKeys(pa, []byte("x")); err == nil {
		t.Error("UnlockKeys accepted a public key")
	}
}
