package mock

import (
	"bytes"
	"embed"
	"fmt"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// Fixture keys: v4 Ed25519/Curve25519, unlocked, generated once. Key
// generation cannot be made deterministic, so seeded data that needs fixed
// keys reads them from here.
//
//go:embed fixtures/*.asc
var fixtureFS embed.FS

// Email addresses of the fixture keys.
const (
	DemoEmail  = "demo@example.test"
	AliceEmail = "alice@example.test"
)

// fixtureArmored returns the armored private key of a fixture by file name.
func fixtureArmored(name string) []byte {
	data, err := fixtureFS.ReadFile("fixtures/" + name + ".asc")
	if err != nil {
		panic(fmt.Sprintf("mock: missing fixture key %s: %v", name, err))
	}
	return data
}

// fixtureKey parses a fixture into a fresh entity, so callers may modify
// what they get. The embedded data is tested; failing here is a build
// defect, not bad input.
func fixtureKey(name string) *openpgp.Entity {
	list, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(fixtureArmored(name)))
	if err != nil || len(list) != 1 {
		panic(fmt.Sprintf("mock: bad fixture key %s: %v", name, err))
	}
	return list[0]
}

// DemoKey returns the fixed, unlocked key pair of demo@example.test, the
// account of `mailbridge demo`.
func DemoKey() *openpgp.Entity { return fixtureKey("demo") }

// AliceKey returns the fixed, unlocked key pair of alice@example.test, a
// correspondent outside the server whose public key Seed publishes.
func AliceKey() *openpgp.Entity { return fixtureKey("alice") }

// AliceArmored returns Alice's unlocked private key, armored, for the demo
// to write out as alice.asc (to import into gpg, say).
func AliceArmored() []byte { return bytes.Clone(fixtureArmored("alice")) }
