package bridge_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/mailbridge/mailbridge/bridge"
	"github.com/mailbridge/mailbridge/crypto"
	"github.com/mailbridge/mailbridge/internal/smtpsend"
	"github.com/mailbridge/mailbridge/upstream/mock"
)

// sendMail submits one message over the bridge's implicit-TLS SMTP port.
func sendMail(t *testing.T, br *bridge.Bridge, info bridge.Info, to, subject string) {
	t.Helper()
	a := info.Accounts[0]
	msg := "From: " + a.Username + "\r\nTo: " + to + "\r\nSubject: " + subject +
		"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbody of " + subject + "\r\n"
	addr := fmt.Sprintf("127.0.0.1:%d", info.SMTPS.Port)
	if err := smtpsend.Send(addr, "127.0.0.1", br.Cert().PEM(), a.Username, a.Password, a.Username, []string{to}, []byte(msg)); err != nil {
		t.Fatalf("send %q: %v", subject, err)
	}
}

// delivered returns the one copy the mock handed out for rcpt.
func delivered(t *testing.T, up *mock.Server, rcpt string) []byte {
	t.Helper()
	var out [][]byte
	for _, d := range up.Outbound() {
		if strings.EqualFold(d.Recipient, rcpt) {
			out = append(out, d.Raw)
		}
	}
	if len(out) != 1 {
		t.Fatalf("%d copies delivered to %s, want 1", len(out), rcpt)
	}
	return out[0]
}

// TestPinnedKeyAndSigningLive sends through a running bridge: to an
// address the key server does not know but a key is pinned for (PGP/MIME
// to that key), and, with the account signing and attaching its key, to
// an address with no key at all (multipart/signed, verifiable).
func TestPinnedKeyAndSigningLive(t *testing.T) {
	up := newMock(t, 0)
	info, br, _ := runBridge(t, t.TempDir(), up, true)

	contact, err := crypto.GenerateKey("Contact", "contact@elsewhere.test")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := crypto.ArmorPublicKey(contact)
	if err != nil {
		t.Fatal(err)
	}
	var pinned []bridge.PinnedKey
	err = callJSON(br, bridge.MethodKeyPin, bridge.KeyPinParams{Account: liveUser, Key: pub}, &pinned)
	if err != nil || len(pinned) != 1 || pinned[0].Email != "contact@elsewhere.test" {
		t.Fatalf("pin: %+v %v", pinned, err)
	}
	sendMail(t, br, info, "Contact@Elsewhere.test", "to the pinned key")
	res := crypto.Decrypt(delivered(t, up, "Contact@Elsewhere.test"), openpgp.EntityList{contact}, nil)
	if res.Failed || res.Format != crypto.FormatPGPMIME || !bytes.Contains(res.Message, []byte("body of to the pinned key")) {
		t.Fatalf("copy for the pinned key: format %s, failed %v (%s)\n%s", res.Format, res.Failed, res.Reason, res.Message)
	}

	// The sender's public key, as a recipient would fetch it.
	sess, err := up.Login(context.Background(), liveUser, livePass)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	armored, err := sess.PublicKeys(context.Background(), liveUser)
	if err != nil {
		t.Fatal(err)
	}
	senderKeys, err := crypto.ReadKeys(armored)
	if err != nil {
		t.Fatal(err)
	}

	for _, kv := range [][2]string{{"sign-unencrypted", "true"}, {"attach-public-key", "on"}} {
		p := bridge.ConfigSetParams{Account: liveUser, Key: kv[0], Value: kv[1]}
		if err := callJSON(br, bridge.MethodConfigSet, p, nil); err != nil {
			t.Fatal(err)
		}
	}
	sendMail(t, br, info, "nokey@elsewhere.test", "signed in clear")
	raw := delivered(t, up, "nokey@elsewhere.test")
	if !bytes.Contains(raw, []byte("multipart/signed")) || !bytes.Contains(raw, []byte("application/pgp-keys")) {
		t.Fatalf("not signed with the key attached:\n%s", raw)
	}
	res = crypto.Decrypt(raw, nil, func(string) openpgp.EntityList { return senderKeys })
	if res.Format != crypto.FormatSigned || res.Signature != crypto.SigValid {
		t.Fatalf("signed copy: format %s, signature %s", res.Format, res.Signature)
	}

	// Back to the bridge-wide default: sent exactly as written.
	p := bridge.ConfigSetParams{Account: liveUser, Key: "sign-unencrypted", Value: bridge.ValueDefault}
	if err := callJSON(br, bridge.MethodConfigSet, p, nil); err != nil {
		t.Fatal(err)
	}
	sendMail(t, br, info, "again@elsewhere.test", "unsigned again")
	if raw := delivered(t, up, "again@elsewhere.test"); bytes.Contains(raw, []byte("multipart/signed")) {
		t.Fatalf("signed after the setting went back to the default:\n%s", raw)
	}
}

// callJSON runs a control method as the CLI would through the socket.
func callJSON(br *bridge.Bridge, method string, params, result any) error {
	cl, err := bridge.Dial(filepath.Dir(br.Vault().Path()))
	if err != nil {
		return err
	}
	return cl.Call(context.Background(), method, params, result, nil)
}
