package vault

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/argon2"
)

// Argon2id cost for a new passphrase-keyed vault: RFC 9106's second
// recommended setting (64 MiB, 3 passes), about a quarter of a second on
// a laptop. The values are stored in the header, so they can be raised
// later without breaking existing vaults.
const (
	kdfTime    = 3
	kdfMemory  = 64 * 1024 // KiB
	kdfThreads = 4
	saltSize   = 16
	kdfSize    = saltSize + 4 + 4 + 1
)

// kdfParams derive the vault key from a passphrase.
type kdfParams struct {
	salt    []byte
	time    uint32
	memory  uint32 // KiB
	threads uint8
}

// newKDF returns parameters with a fresh salt.
func newKDF() (kdfParams, error) {
	salt := make([]byte, saltSize)
	if _, err := rand.Read(salt); err != nil {
		return kdfParams{}, fmt.Errorf("vault: random salt: %w", err)
	}
	return kdfParams{salt: salt, time: kdfTime, memory: kdfMemory, threads: kdfThreads}, nil
}

func (k kdfParams) appendTo(b []byte) []byte {
	b = append(b, k.salt...)
	b = binary.BigEndian.AppendUint32(b, k.time)
	b = binary.BigEndian.AppendUint32(b, k.memory)
	return append(b, k.threads)
}

// parseKDF reads kdfSize bytes written by appendTo. Absurd costs are
// refused so a damaged header cannot make Open allocate gigabytes.
func parseKDF(b []byte) (kdfParams, error) {
	k := kdfParams{
		salt:    append([]byte(nil), b[:saltSize]...),
		time:    binary.BigEndian.Uint32(b[saltSize:]),
		memory:  binary.BigEndian.Uint32(b[saltSize+4:]),
		threads: b[saltSize+8],
	}
	if k.time < 1 || k.time > 100 || k.memory < 8*1024 || k.memory > 4*1024*1024 || k.threads < 1 {
		return kdfParams{}, fmt.Errorf("%w: implausible passphrase parameters in header", ErrDecrypt)
	}
	return k, nil
}

// derive turns the passphrase into the vault key.
func (k kdfParams) derive(passphrase []byte) []byte {
	return argon2.IDKey(passphrase, k.salt, k.time, k.memory, k.threads, keySize)
}
