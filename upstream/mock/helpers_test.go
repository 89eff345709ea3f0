package mock

import (
	"context"
	"errors"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/mailbridge/mailbridge/upstream"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		os.Exit(killHelper(dir))
	}
	goleak.VerifyTestMain(m)
}

const (
	testUser  = "demo"
	testPass  = "correct horse battery staple"
	testEmail = "demo@example.test"
)

func newServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// newAccount starts a memory-only server with the demo account (fixture
// key) and returns a logged-in session.
func newAccount(t testing.TB) (*Server, upstream.Session) {
	t.Helper()
	s := newServer(t, Options{})
	addDemo(t, s)
	return s, login(t, s)
}

func addDemo(t testing.TB, s *Server) {
	t.Helper()
	err := s.AddUser(UserSpec{
		Username:  testUser,
		Password:  testPass,
		Addresses: []upstream.Address{{Email: testEmail, Name: "Demo User"}, {Email: "alias@example.test"}},
		Key:       DemoKey(),
	})
	if err != nil {
		t.Fatalf("AddUser: %v", err)
	}
}

func login(t testing.TB, s *Server) upstream.Session {
	t.Helper()
	sess, err := s.Login(context.Background(), testUser, testPass)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess
}

// wantKind fails unless err is an upstream error of kind k.
func wantKind(t testing.TB, err error, k upstream.ErrorKind) {
	t.Helper()
	var ue *upstream.Error
	if !errors.As(err, &ue) || ue.Kind != k {
		t.Fatalf("error = %v, want kind %v", err, k)
	}
}

func mustImport(t testing.TB, sess upstream.Session, req upstream.ImportRequest) upstream.MessageMeta {
	t.Helper()
	if req.Raw == nil {
		req.Raw = []byte("-----BEGIN PGP MESSAGE-----\n\nstub\n-----END PGP MESSAGE-----\n")
	}
	m, err := sess.Import(context.Background(), req)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	return m
}

func mustMeta(t testing.TB, sess upstream.Session, id string) upstream.MessageMeta {
	t.Helper()
	m, err := sess.GetMessage(context.Background(), id)
	if err != nil {
		t.Fatalf("GetMessage(%s): %v", id, err)
	}
	return m.MessageMeta
}
