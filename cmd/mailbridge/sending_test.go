package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/mailbridge/mailbridge/bridge"
	"github.com/mailbridge/mailbridge/crypto"
	"github.com/mailbridge/mailbridge/upstream/mock"
)

// deliveredCopy reads the one message the development backend delivered
// to rcpt (DATA-DIR/delivered/RCPT/*.eml).
func (c *cli) deliveredCopy(rcpt string) []byte {
	c.t.Helper()
	files, err := filepath.Glob(filepath.Join(c.dir, "delivered", strings.ToLower(rcpt), "*.eml"))
	if err != nil || len(files) != 1 {
		c.t.Fatalf("deliveries to %s: %v %v, want one", rcpt, files, err)
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		c.t.Fatal(err)
	}
	return raw
}

// TestSendingPolicyJourney is issue 5's per-account sending settings and
// pinned keys with the real binary and Python's smtplib: a key pinned for
// an address the key server does not know encrypts mail to it; an account
// that signs and attaches its key sends verifiable multipart/signed mail
// to a keyless address; settings and pins work with and without a daemon.
func TestSendingPolicyJourney(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	lookPath(t, "python3")
	c := newCLI(t)
	const alice, contact, alias, stranger = "alice@policy.test", "contact@elsewhere.test", "c@alias.test", "nokey@elsewhere.test"
	c.run("alice-pw\n", "mock", "add-user", alice)
	c.run("alice-pw\n", "account", "add", alice)
	c.setPorts()

	key, err := crypto.GenerateKey("Contact", contact)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := crypto.ArmorPublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := crypto.ArmorPrivateKey(key, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	fpr := strings.ToUpper(key.PrimaryKey.KeyIdString())

	// Without a daemon: a private key is refused; the public one pinned
	// for its own address, and from stdin for an alias.
	if _, err := c.try("", "key", "pin", alice, c.writeFile("priv.asc", string(priv))); err == nil || !strings.Contains(err.Error(), "private key") {
		t.Fatalf("pinning a private key: %v", err)
	}
	if out := c.run("", "key", "pin", alice, c.writeFile("contact.asc", string(pub))); !strings.Contains(out, "<"+contact+">") {
		t.Fatalf("key pin printed:\n%s", out)
	}

	d := c.serve()
	c.waitSynced(1)
	c.run(string(pub), "key", "pin", alice, "-", "--email", alias)
	var keys []bridge.PinnedKey
	if err := json.Unmarshal([]byte(c.run("", "key", "list", alice, "--json")), &keys); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Email != alias || keys[1].Email != contact ||
		!strings.HasSuffix(keys[1].Fingerprint, fpr) || !keys[1].Usable {
		t.Fatalf("key list: %+v", keys)
	}

	infoPath, _ := c.infoFile()
	if out, err := c.python("plain", infoPath, alice, "Contact@Elsewhere.test"); err != nil {
		t.Fatalf("mail to the pinned key: %v\n%s\n%s", err, out, d.stderr.String())
	}
	res := crypto.Decrypt(c.deliveredCopy(contact), openpgp.EntityList{key}, nil)
	if res.Failed || res.Format != crypto.FormatPGPMIME || !bytes.Contains(res.Message, []byte("publishes no key")) {
		t.Fatalf("copy for the pinned key: format %s, failed %v %s", res.Format, res.Failed, res.Reason)
	}

	// Signing for this account only, the key attached bridge-wide.
	c.run("", "config", "set", "--account", alice, "sign-unencrypted", "true")
	c.run("", "config", "set", "attach-public-key", "true")
	for _, line := range strings.Split(c.run("", "config", "get", "--account", alice), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case f[0] == "sign-unencrypted" && (f[1] != "true" || !strings.Contains(line, "(this account)")),
			f[0] == "attach-public-key" && (f[1] != "true" || !strings.Contains(line, "default")):
			t.Errorf("config get --account: %q", line)
		}
	}
	if got := strings.TrimSpace(c.run("", "config", "get", "sign-unencrypted")); got != "false" {
		t.Errorf("the account's setting changed the bridge-wide one: %q", got)
	}
	if out, err := c.python("plain", infoPath, alice, stranger); err != nil {
		t.Fatalf("mail to a keyless address: %v\n%s", err, out)
	}
	signed := c.deliveredCopy(stranger)
	if !bytes.Contains(signed, []byte("multipart/signed")) || !bytes.Contains(signed, []byte("application/pgp-keys")) {
		t.Fatalf("not signed with the key attached:\n%s", signed)
	}

	// Unpinned, and the account refusing unencrypted mail: refused.
	c.run("", "key", "unpin", alice, contact)
	c.run("", "config", "set", "--account", alice, "unencrypted-sending", "refuse")
	if out, err := c.python("plain", infoPath, alice, contact); exitStatus(err) != 3 {
		t.Fatalf("unencrypted mail with the account refusing it: %v\n%s", err, out)
	}
	d.stop(t)

	// The signature verifies with alice's key from the mail service.
	aliceKeys := publishedKeys(t, c.dir, alice, "alice-pw")
	res = crypto.Decrypt(signed, nil, func(string) openpgp.EntityList { return aliceKeys })
	if res.Format != crypto.FormatSigned || res.Signature != crypto.SigValid {
		t.Fatalf("signed copy: format %s, signature %s", res.Format, res.Signature)
	}

	// Without a daemon, the settings and the remaining pin are still there.
	if got := strings.TrimSpace(c.run("", "config", "get", "--account", alice, "unencrypted-sending")); got != "refuse" {
		t.Errorf("unencrypted-sending for alice after restart: %q", got)
	}
	c.run("", "config", "set", "--account", alice, "unencrypted-sending", "default")
	if got := strings.TrimSpace(c.run("", "config", "get", "--account", alice, "unencrypted-sending")); got != "allow" {
		t.Errorf("unencrypted-sending for alice back to the default: %q", got)
	}
	if out := c.run("", "key", "list", alice); !strings.Contains(out, "\n"+alias+" ") || strings.Contains(out, "\n"+contact+" ") {
		t.Errorf("key list without a daemon:\n%s", out)
	}
}

// publishedKeys asks the development backend's key server for user's
// keys, with no daemon holding its state.
func publishedKeys(t *testing.T, dataDir, user, password string) openpgp.EntityList {
	t.Helper()
	up, err := mock.New(mock.Options{Dir: filepath.Join(dataDir, "upstream")})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	sess, err := up.Login(context.Background(), user, password)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	armored, err := sess.PublicKeys(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := crypto.ReadKeys(armored)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}
