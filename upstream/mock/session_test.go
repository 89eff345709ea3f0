package mock

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/mailbridge/mailbridge/crypto"
	"github.com/mailbridge/mailbridge/upstream"
)

func TestLogin(t *testing.T) {
	s := newServer(t, Options{})
	addDemo(t, s)
	ctx := context.Background()

	if _, err := s.Login(ctx, testUser, "wrong"); upstream.KindOf(err) != upstream.AuthFailed {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := s.Login(ctx, "nobody", testPass); upstream.KindOf(err) != upstream.AuthFailed {
		t.Fatalf("unknown user: %v", err)
	}
	sess, err := s.Login(ctx, testUser, testPass)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()

	addrs, err := sess.Addresses(ctx)
	if err != nil || len(addrs) != 2 || addrs[0].Email != testEmail || addrs[0].ID == "" {
		t.Fatalf("Addresses = %+v, %v", addrs, err)
	}
	armored, err := sess.PrivateKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := crypto.UnlockKeys(armored, []byte(testPass)); err != nil {
		t.Fatalf("private key does not unlock with the password: %v", err)
	}
	if _, err := crypto.UnlockKeys(armored, []byte("wrong")); err == nil {
		t.Fatal("private key unlocks with a wrong password")
	}
}

func TestAddUserRejectsDuplicates(t *testing.T) {
	s := newServer(t, Options{})
	addDemo(t, s)
	if err := s.AddUser(UserSpec{Username: testUser, Password: "x", Key: DemoKey()}); err == nil {
		t.Fatal("duplicate username accepted")
	}
	err := s.AddUser(UserSpec{Username: "other", Password: "x", Addresses: []upstream.Address{{Email: "DEMO@example.test"}}, Key: DemoKey()})
	if err == nil {
		t.Fatal("duplicate address accepted")
	}
	if err := s.AddUser(UserSpec{Username: "nopass", Key: DemoKey()}); err == nil {
		t.Fatal("empty password accepted")
	}
}

func TestResumeAndLogout(t *testing.T) {
	s, sess := newAccount(t)
	ctx := context.Background()
	auth := sess.Auth()

	if err := sess.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Mailboxes(ctx); upstream.KindOf(err) != upstream.Permanent {
		t.Fatalf("call on closed session: %v", err)
	}
	again, err := s.Resume(ctx, auth)
	if err != nil {
		t.Fatalf("Resume after Close: %v", err)
	}
	if _, err := again.Mailboxes(ctx); err != nil {
		t.Fatal(err)
	}
	bad := auth
	bad.Token = bytes.Repeat([]byte{1}, 32)
	if _, err := s.Resume(ctx, bad); upstream.KindOf(err) != upstream.AuthFailed {
		t.Fatalf("Resume with a bad token: %v", err)
	}
	other := auth
	other.UserID = "u-someone-else"
	if _, err := s.Resume(ctx, other); upstream.KindOf(err) != upstream.AuthFailed {
		t.Fatalf("Resume with another user ID: %v", err)
	}

	if err := s.Logout(testUser); err != nil {
		t.Fatal(err)
	}
	if _, err := again.Mailboxes(ctx); upstream.KindOf(err) != upstream.AuthFailed {
		t.Fatalf("call after Logout: %v", err)
	}
	if _, err := s.Resume(ctx, auth); upstream.KindOf(err) != upstream.AuthFailed {
		t.Fatalf("Resume after Logout: %v", err)
	}
}

func TestPublicKeys(t *testing.T) {
	s, sess := newAccount(t)
	ctx := context.Background()

	own, err := sess.PublicKeys(ctx, "Alias@Example.test")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := crypto.ReadKeys(own)
	if err != nil || len(keys) != 1 || keys[0].PrivateKey != nil {
		t.Fatalf("account key: %v, %v", keys, err)
	}
	if keys[0].PrimaryKey.KeyId != DemoKey().PrimaryKey.KeyId {
		t.Fatal("account key is not the account's")
	}

	if _, err := sess.PublicKeys(ctx, AliceEmail); upstream.KindOf(err) != upstream.NotFound {
		t.Fatalf("unpublished key: %v", err)
	}
	pub, err := crypto.ArmorPublicKey(AliceKey())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PublishKey(AliceEmail, pub); err != nil {
		t.Fatal(err)
	}
	got, err := sess.PublicKeys(ctx, "ALICE@example.test")
	if err != nil || !bytes.Equal(got, pub) {
		t.Fatalf("published key: %v", err)
	}
}

func TestQuota(t *testing.T) {
	s := newServer(t, Options{QuotaLimit: 100})
	addDemo(t, s)
	sess := login(t, s)
	ctx := context.Background()

	mustImport(t, sess, upstream.ImportRequest{Raw: make([]byte, 60), MailboxIDs: []string{upstream.Inbox}})
	q, err := sess.Quota(ctx)
	if err != nil || q != (upstream.Quota{Used: 60, Limit: 100}) {
		t.Fatalf("Quota = %+v, %v", q, err)
	}
	_, err = sess.Import(ctx, upstream.ImportRequest{Raw: make([]byte, 60)})
	wantKind(t, err, upstream.Permanent)
}

func TestClosedServer(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	addDemo(t, s)
	sess := login(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err = sess.Mailboxes(context.Background())
	if upstream.KindOf(err) != upstream.Temporary || !errors.Is(err, errClosed) {
		t.Fatalf("call after Close: %v", err)
	}
}
