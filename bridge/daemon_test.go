package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zalando/go-keyring"

	"github.com/mailbridge/mailbridge/bridge"
	"github.com/mailbridge/mailbridge/internal/rawimap"
	"github.com/mailbridge/mailbridge/upstream"
	"github.com/mailbridge/mailbridge/upstream/mock"
	"github.com/mailbridge/mailbridge/vault"
)

func TestLockNamesTheHolder(t *testing.T) {
	dir := t.TempDir()
	up := newMock(t, 0)
	br, err := bridge.New(bridge.Options{DataDir: dir, Backend: up, LockNote: "serve"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bridge.New(bridge.Options{DataDir: dir, Backend: up})
	var le *bridge.LockedError
	if !errors.As(err, &le) || le.PID != os.Getpid() || le.Note != "serve" {
		t.Fatalf("second New: %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "PID "+strconv.Itoa(os.Getpid())) || !strings.Contains(msg, dir) {
		t.Errorf("unclear message: %s", msg)
	}
	br.Close()
	again, err := bridge.New(bridge.Options{DataDir: dir, Backend: up})
	if err != nil {
		t.Fatalf("New after Close: %v", err)
	}
	again.Close()
}

// TestKeychainErrorKeepsData: a vault keyed in the keychain, opened while
// the keychain fails, stops the bridge and changes nothing on disk.
func TestKeychainErrorKeepsData(t *testing.T) {
	keyring.MockInit()
	dir := t.TempDir()
	br, err := bridge.New(bridge.Options{DataDir: dir, Keyring: vault.SystemKeyring(), Backend: newMock(t, 0)})
	if err != nil {
		t.Fatal(err)
	}
	acct, err := vault.NewAccount("someone", []string{"someone@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := br.Vault().PutAccount(acct); err != nil {
		t.Fatal(err)
	}
	if br.Vault().KeySource() != vault.KeySourceKeychain {
		t.Fatalf("key source %s", br.Vault().KeySource())
	}
	br.Close()
	before := snapshot(t, dir)

	keyring.MockInitWithError(errors.New("the keychain is locked"))
	_, err = bridge.New(bridge.Options{DataDir: dir, Keyring: vault.SystemKeyring()})
	if !errors.Is(err, vault.ErrKeyUnavailable) {
		t.Fatalf("New with a broken keychain: %v, want ErrKeyUnavailable", err)
	}
	if after := snapshot(t, dir); after != before {
		t.Errorf("files changed:\nbefore %s\nafter  %s", before, after)
	}
	keyring.MockInit()
}

// snapshot lists every file under dir with its size and a content hash.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "mailbridge.lock" {
			return err
		}
		data, _ := os.ReadFile(p)
		fmt.Fprintf(&b, "%s:%x ", strings.TrimPrefix(p, dir), data[:min(len(data), 64)])
		return nil
	})
	return b.String()
}

// panicky makes every session of one user panic when listing messages,
// as a buggy backend might, on the syncer's own goroutine.
type panicky struct {
	*mock.Server
	victim string // upstream user ID
}

func (p panicky) Resume(ctx context.Context, a upstream.Auth) (upstream.Session, error) {
	s, err := p.Server.Resume(ctx, a)
	if err != nil || a.UserID != p.victim {
		return s, err
	}
	return panickySession{s}, nil
}

type panickySession struct{ upstream.Session }

func (panickySession) ListMessages(context.Context, string, int) ([]upstream.MessageMeta, error) {
	panic("backend bug")
}

func TestCrashingAccountSparesTheOthers(t *testing.T) {
	up := newMock(t, 10)
	const other = "other@example.test"
	if err := up.AddUser(mock.UserSpec{Username: other, Password: "pw"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	setup, err := bridge.New(bridge.Options{DataDir: dir, Backend: up})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	victim, err := setup.AddAccount(ctx, other, "pw", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := setup.AddAccount(ctx, liveUser, livePass, nil); err != nil {
		t.Fatal(err)
	}
	setup.Close()

	br, err := bridge.New(bridge.Options{DataDir: dir, Backend: panicky{up, victim.UpstreamUser}, Ports: &bridge.Ports{}})
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	info, stop := run(t, br)
	defer stop()

	// The healthy account syncs and serves.
	var healthy bridge.AccountStatus
	waitFor(t, func() bool {
		for _, a := range br.Status().Accounts {
			if a.Username == liveUser {
				healthy = a
			}
		}
		return healthy.Synced
	})
	if healthy.Total != 10 {
		t.Errorf("healthy account: %+v", healthy)
	}
	c, err := rawimap.DialTLS(fmt.Sprintf("127.0.0.1:%d", info.IMAPS.Port), br.Cert().PEM())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, a := range info.Accounts {
		if a.Username == liveUser {
			if _, err := c.OK("LOGIN %s %s", a.Username, a.Password); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The crashing one says so in its status.
	waitFor(t, func() bool {
		for _, a := range br.Status().Accounts {
			if a.Username == other && strings.Contains(a.LastError, "backend bug") {
				return true
			}
		}
		return false
	})
}

func TestConfigAppliesLive(t *testing.T) {
	dir := t.TempDir()
	br, err := bridge.New(bridge.Options{DataDir: dir, Backend: newMock(t, 0), Ports: &bridge.Ports{}})
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	info, stop := run(t, br)
	defer stop()

	old := info.IMAP.Port
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	if _, err := br.SetConfig("imap-port", strconv.Itoa(port)); err != nil {
		t.Fatal(err)
	}
	greets(t, port, true)
	greets(t, old, false)

	if _, err := br.SetConfig("imap-security", "off"); err != nil {
		t.Fatal(err)
	}
	greets(t, port, false)
	for _, l := range br.Status().Listeners {
		if l.Name == "imap" && l.Listening {
			t.Error("status shows a listener that is off")
		}
	}

	// A clash is refused and changes nothing.
	if _, err := br.SetConfig("smtp-port", strconv.Itoa(info.IMAPS.Port)); err == nil {
		t.Error("port clash accepted")
	}
	greets(t, info.IMAPS.Port, true)
	if _, err := br.SetConfig("no-such-key", "1"); err == nil || !strings.Contains(err.Error(), "settings are:") {
		t.Errorf("unknown key: %v", err)
	}

	// The control socket is private and answers.
	fi, err := os.Stat(bridge.SocketPath(dir))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket: %v %v", fi, err)
	}
	cl, err := bridge.Dial(dir)
	if err != nil {
		t.Fatal(err)
	}
	var entries []bridge.ConfigEntry
	if err := cl.Call(context.Background(), bridge.MethodConfigSet, bridge.ConfigSetParams{Key: "imap-security", Value: "tls"}, &entries, nil); err != nil {
		t.Fatal(err)
	}
	greets(t, port, true)
	var st bridge.Status
	if err := cl.Call(context.Background(), bridge.MethodStatus, nil, &st, nil); err != nil || !st.Running {
		t.Fatalf("status over the socket: %+v %v", st, err)
	}
	err = cl.Call(context.Background(), "nope", nil, nil, nil)
	var re *bridge.RemoteError
	if !errors.As(err, &re) || !strings.Contains(re.Msg, "unknown command") {
		t.Errorf("unknown method: %v", err)
	}
}

// TestSecondFactorOverTheSocket adds an account that needs a TOTP code
// through the control socket, answering the daemon's prompt.
func TestSecondFactorOverTheSocket(t *testing.T) {
	up := newMock(t, 0)
	secret := []byte("0123456789abcdefghij")
	if err := up.AddUser(mock.UserSpec{Username: "2fa@example.test", Password: "pw", TOTPSecret: secret}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	br, err := bridge.New(bridge.Options{DataDir: dir, Backend: up, Ports: &bridge.Ports{}})
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	_, stop := run(t, br)
	defer stop()
	cl, err := bridge.Dial(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	params := bridge.AddAccountParams{Username: "2fa@example.test", Password: "pw"}
	if err := cl.Call(ctx, bridge.MethodAccountAdd, params, nil, nil); err == nil {
		t.Fatal("added without a second factor")
	}
	var asked []string
	prompt := func(_ context.Context, name, text string) (string, error) {
		asked = append(asked, name)
		if len(asked) == 1 {
			return "not-a-code", nil
		}
		return mock.TOTPCode(secret, time.Now()), nil
	}
	var acct bridge.AccountInfo
	if err := cl.Call(ctx, bridge.MethodAccountAdd, params, &acct, prompt); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 2 || asked[0] != bridge.PromptSecondFactor || acct.Username != "2fa@example.test" || acct.Password == "" {
		t.Errorf("asked %v, got %+v", asked, acct)
	}
	waitFor(t, func() bool { return len(br.Status().Accounts) == 1 && br.Status().Accounts[0].Synced })
}

// run runs br until the returned stop is called.
func run(t *testing.T, br *bridge.Bridge) (bridge.Info, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan bridge.Info, 1)
	done := make(chan error, 1)
	go func() { done <- br.Run(ctx, func(i bridge.Info) { ready <- i }) }()
	select {
	case info := <-ready:
		return info, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v", err)
	case <-time.After(time.Minute):
		cancel()
		t.Fatal("bridge not ready")
	}
	return bridge.Info{}, nil
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// greets checks whether an IMAP server answers on port, plain or TLS.
func greets(t *testing.T, port int, want bool) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 5*time.Second)
	if err != nil {
		if want {
			t.Errorf("port %d: %v", port, err)
		}
		return
	}
	defer conn.Close()
	if !want {
		t.Errorf("port %d still accepts connections", port)
	}
}
