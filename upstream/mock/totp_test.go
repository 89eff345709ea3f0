package mock

import (
	"context"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/upstream"
)

// TestTOTPVectors checks the RFC 6238 appendix B test vectors for SHA-1
// (truncated to 6 digits, as authenticator apps use them).
func TestTOTPVectors(t *testing.T) {
	secret := []byte("12345678901234567890")
	for _, tc := range []struct {
		unix int64
		want string
	}{
		{59, "287082"},
		{1111111109, "081804"},
		{1111111111, "050471"},
		{1234567890, "005924"},
		{2000000000, "279037"},
		{20000000000, "353130"},
	} {
		if got := TOTPCode(secret, time.Unix(tc.unix, 0)); got != tc.want {
			t.Errorf("TOTP at %d = %s, want %s", tc.unix, got, tc.want)
		}
	}
}

func TestCheckTOTPSkew(t *testing.T) {
	secret := []byte("a secret of some length")
	now := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{
		{now, true},
		{now.Add(-totpStep), true},
		{now.Add(totpStep), true},
		{now.Add(-3 * totpStep), false},
		{now.Add(3 * totpStep), false},
	} {
		if got := checkTOTP(secret, TOTPCode(secret, tc.at), now); got != tc.want {
			t.Errorf("code from %v checked at %v: %v, want %v", tc.at, now, got, tc.want)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if checkTOTP(secret, bad, now) {
			t.Errorf("code %q accepted", bad)
		}
	}
}

func TestTOTPSecretEncoding(t *testing.T) {
	secret := []byte("0123456789abcdefghij")
	text := EncodeTOTPSecret(secret)
	back, err := DecodeTOTPSecret(" " + text[:4] + " " + text[4:] + "==")
	if err != nil || string(back) != string(secret) {
		t.Fatalf("round trip: %q, %v", back, err)
	}
	if _, err := DecodeTOTPSecret("not base32!"); err == nil {
		t.Error("garbage accepted")
	}
}

func TestSecondFactorLogin(t *testing.T) {
	dir := t.TempDir()
	s := newServer(t, Options{Dir: dir})
	secret := []byte("twenty bytes secret!")
	err := s.AddUser(UserSpec{Username: "totp@example.test", Password: testPass, Key: DemoKey(), TOTPSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sess, err := s.Login(ctx, "totp@example.test", testPass)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	defer sess.Close()
	if _, err := sess.Addresses(ctx); upstream.KindOf(err) != upstream.SecondFactor {
		t.Fatalf("Addresses before the code: %v, want SecondFactor", err)
	}
	// Resuming the pending token does not skip the second factor.
	if _, err := s.Resume(ctx, sess.Auth()); upstream.KindOf(err) != upstream.SecondFactor {
		t.Fatalf("Resume before the code: %v, want SecondFactor", err)
	}

	wrong := TOTPCode(secret, time.Now().Add(-10*totpStep))
	if err := sess.SubmitSecondFactor(ctx, wrong); upstream.KindOf(err) != upstream.AuthFailed {
		t.Fatalf("wrong code: %v, want AuthFailed", err)
	}
	if err := sess.SubmitSecondFactor(ctx, TOTPCode(secret, time.Now())); err != nil {
		t.Fatalf("right code after a wrong one: %v", err)
	}
	if _, err := sess.Addresses(ctx); err != nil {
		t.Fatalf("Addresses after the code: %v", err)
	}
	if err := sess.SubmitSecondFactor(ctx, "000000"); err != nil {
		t.Errorf("SubmitSecondFactor on a complete session: %v", err)
	}

	// The completed token survives a restart, like any other.
	auth := sess.Auth()
	s.Close()
	s2 := newServer(t, Options{Dir: dir})
	again, err := s2.Resume(ctx, auth)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if _, err := again.Addresses(ctx); err != nil {
		t.Errorf("resumed after restart: %v", err)
	}
}

func TestNoSecondFactorWithoutSecret(t *testing.T) {
	_, sess := newAccount(t)
	if err := sess.SubmitSecondFactor(context.Background(), "123456"); err != nil {
		t.Errorf("SubmitSecondFactor without a second factor: %v", err)
	}
}
