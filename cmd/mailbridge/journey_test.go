package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/bridge"
	"github.com/mailbridge/mailbridge/upstream/mock"
)

// cli runs the real binary against one data dir, as a user would from a
// shell, with the development backend.
type cli struct {
	t    *testing.T
	bin  string
	dir  string
	args []string // global flags
}

func newCLI(t *testing.T) *cli {
	return &cli{t: t, bin: buildBinary(t), dir: t.TempDir()}
}

func (c *cli) command(stdin string, args ...string) *exec.Cmd {
	all := append([]string{"--data-dir", c.dir, "--upstream", "mock"}, c.args...)
	cmd := exec.Command(c.bin, append(all, args...)...)
	// The test's environment must not choose another data dir or backend.
	cmd.Env = append(os.Environ(), envDataDir+"=", envUpstream+"=", envPassphraseFile+"=")
	cmd.Stdin = strings.NewReader(stdin)
	return cmd
}

// run runs a command that must succeed and returns its stdout.
func (c *cli) run(stdin string, args ...string) string {
	c.t.Helper()
	out, err := c.try(stdin, args...)
	if err != nil {
		c.t.Fatalf("mailbridge %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// try runs a command and returns its stdout, or an error with its stderr.
func (c *cli) try(stdin string, args ...string) (string, error) {
	cmd := c.command(stdin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), &cmdError{err: err, stderr: stderr.String()}
	}
	return stdout.String(), nil
}

type cmdError struct {
	err    error
	stderr string
}

func (e *cmdError) Error() string { return e.err.Error() + "\n" + e.stderr }

func (c *cli) writeFile(name, content string) string {
	c.t.Helper()
	p := filepath.Join(c.t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		c.t.Fatal(err)
	}
	return p
}

func (c *cli) status() bridge.Status {
	c.t.Helper()
	var st bridge.Status
	if err := json.Unmarshal([]byte(c.run("", "status", "--json")), &st); err != nil {
		c.t.Fatal(err)
	}
	return st
}

// waitSynced polls status until every account has synced.
func (c *cli) waitSynced(n int) bridge.Status {
	c.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st := c.status()
		ok := len(st.Accounts) == n
		for _, a := range st.Accounts {
			ok = ok && a.Synced && a.State == "online"
		}
		if ok {
			return st
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("accounts not synced: %+v", st.Accounts)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// infoFile saves `info --json` for the Python checks.
func (c *cli) infoFile() (string, bridge.Info) {
	c.t.Helper()
	out := c.run("", "info", "--json")
	var info bridge.Info
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		c.t.Fatal(err)
	}
	return c.writeFile("info.json", out), info
}

// daemon is `mailbridge serve` running in the background.
type daemon struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan error
}

func (c *cli) serve() *daemon {
	c.t.Helper()
	cmd := c.command("", "serve")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	d := &daemon{cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cmd.Process.Kill() })
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		closed := false
		for sc.Scan() {
			d.stderr.Write(append(sc.Bytes(), '\n'))
			if !closed && strings.HasPrefix(sc.Text(), "mailbridge is running") {
				close(ready)
				closed = true
			}
		}
		d.done <- cmd.Wait()
	}()
	select {
	case <-ready:
	case err := <-d.done:
		c.t.Fatalf("serve exited early: %v\n%s", err, d.stderr.String())
	case <-time.After(time.Minute):
		c.t.Fatalf("serve not ready:\n%s", d.stderr.String())
	}
	return d
}

// stop sends SIGTERM and wants exit status 0.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("serve did not exit cleanly on SIGTERM: %v\n%s", err, d.stderr.String())
		}
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		t.Fatalf("serve did not stop on SIGTERM:\n%s", d.stderr.String())
	}
}

func (c *cli) python(args ...string) (string, error) {
	out, err := exec.Command("python3", append([]string{"testdata/journey.py"}, args...)...).CombinedOutput()
	return string(out), err
}

// setPorts gives the four listeners free ports, with the daemon stopped.
func (c *cli) setPorts() []int {
	ports := freePorts(c.t, 4)
	for i, key := range []string{"imap-port", "imaps-port", "smtp-port", "smtps-port"} {
		c.run("", "config", "set", key, strconv.Itoa(ports[i]))
	}
	return ports
}

func cacheFiles(t *testing.T, dir, id string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "cache", id+"*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestUserJourney is issue 6's "how it is checked", with the real binary:
// create users on the mock, add accounts (password from a file, from
// stdin, and with a second factor), serve, check status over the control
// socket, read and send mail with Python, change settings live, reset a
// password, refuse a second daemon, stop and restart, remove accounts.
func TestUserJourney(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	lookPath(t, "python3")
	c := newCLI(t)
	const alice, bob = "alice@journey.test", "bob@journey.test"
	pwFile := c.writeFile("alice.pw", "alice-upstream-pw\n")
	c.run("", "mock", "add-user", alice, "--password-file", pwFile, "--messages", "20")
	var bobUser struct {
		TOTPSecret string `json:"totp_secret"`
	}
	if err := json.Unmarshal([]byte(c.run("bob-upstream-pw\n", "mock", "add-user", bob, "--totp", "--messages", "5", "--json")), &bobUser); err != nil {
		t.Fatal(err)
	}
	secret, err := mock.DecodeTOTPSecret(bobUser.TOTPSecret)
	if err != nil {
		t.Fatal(err)
	}

	// Offline: the password from a file; a wrong one is refused clearly.
	if _, err := c.try("wrong\n", "account", "add", alice); err == nil || !strings.Contains(err.Error(), "wrong username or password") {
		t.Fatalf("wrong password: %v", err)
	}
	out := c.run("", "account", "add", alice, "--password-file", pwFile)
	if !strings.Contains(out, "Added "+alice) {
		t.Fatalf("account add printed:\n%s", out)
	}
	ports := c.setPorts()

	d := c.serve()
	// A second daemon is refused, naming the first.
	_, err = c.try("", "serve")
	if err == nil || !strings.Contains(err.Error(), "PID "+strconv.Itoa(d.cmd.Process.Pid)) ||
		!strings.Contains(err.Error(), "already using") {
		t.Fatalf("second serve: %v", err)
	}

	// Online: the password from stdin, then a second factor (a wrong code
	// first, which is asked again).
	wrong := mock.TOTPCode(secret, time.Now().Add(-time.Hour))
	good := mock.TOTPCode(secret, time.Now())
	if wrong == good || wrong == mock.TOTPCode(secret, time.Now().Add(30*time.Second)) {
		wrong = "" // astronomically unlikely; skip the wrong try
	}
	stdin := "bob-upstream-pw\n"
	if wrong != "" {
		stdin += wrong + "\n"
	}
	stdin += good + "\n"
	if out, err := c.try("bob-upstream-pw\n", "account", "add", bob); err == nil {
		t.Fatalf("second factor skipped:\n%s", out)
	}
	c.run(stdin, "account", "add", bob)

	st := c.waitSynced(2)
	if !st.Running || st.PID != d.cmd.Process.Pid || st.VaultKey != "file" || st.Upstream == "" {
		t.Errorf("status: %+v", st)
	}
	if len(st.Listeners) != 4 || !st.Listeners[0].Listening || st.Listeners[0].Address != "127.0.0.1:"+strconv.Itoa(ports[0]) {
		t.Errorf("listeners: %+v", st.Listeners)
	}
	if st.Certificate.NotAfter.Before(time.Now().Add(30 * 24 * time.Hour)) {
		t.Errorf("certificate: %+v", st.Certificate)
	}
	ids := map[string]string{}
	for _, a := range st.Accounts {
		ids[a.Username] = a.ID
		if a.Total == 0 || a.Done != a.Total || a.Outbox != 0 || a.LastError != "" {
			t.Errorf("account status: %+v", a)
		}
	}

	infoPath, info := c.infoFile()
	if len(info.Accounts) != 2 {
		t.Fatalf("info accounts: %+v", info.Accounts)
	}
	for _, user := range []string{alice, bob} {
		if out, err := c.python("login", infoPath, user); err != nil {
			t.Fatalf("login %s: %v\n%s\n%s", user, err, out, d.stderr.String())
		}
	}
	if out, err := c.python("mail", infoPath, alice, bob, "journey-hello"); err != nil {
		t.Fatalf("alice to bob: %v\n%s\n%s", err, out, d.stderr.String())
	}

	// The unencrypted-sending policy applies to the next message.
	if out, err := c.python("plain", infoPath, alice, "stranger@nowhere.test"); err != nil {
		t.Fatalf("plain mail with the default policy: %v\n%s", err, out)
	}
	c.run("", "config", "set", "unencrypted-sending", "refuse")
	if out, err := c.python("plain", infoPath, alice, "stranger@nowhere.test"); exitStatus(err) != 3 {
		t.Fatalf("plain mail with unencrypted-sending=refuse: %v\n%s", err, out)
	}
	c.run("", "config", "set", "unencrypted-sending", "allow")

	// Password reset: the old one is refused at once, the new one works.
	oldPath := infoPath
	c.run("", "password", "reset", alice)
	infoPath, _ = c.infoFile()
	if out, err := c.python("login", infoPath, alice); err != nil {
		t.Fatalf("new password: %v\n%s", err, out)
	}
	if out, err := c.python("login", oldPath, alice); exitStatus(err) != 2 {
		t.Fatalf("old password still works: %v\n%s", err, out)
	}

	// A new port applies without a restart.
	newPort := freePorts(t, 1)[0]
	c.run("", "config", "set", "imap-port", strconv.Itoa(newPort))
	infoPath, info = c.infoFile()
	if info.IMAP.Port != newPort {
		t.Fatalf("info shows IMAP port %d, want %d", info.IMAP.Port, newPort)
	}
	if out, err := c.python("login", infoPath, bob); err != nil {
		t.Fatalf("login on the new port: %v\n%s", err, out)
	}
	if out, err := c.python("login", oldPath, bob); err == nil {
		t.Fatalf("old port still serves:\n%s", out)
	}
	if _, err := c.try("", "config", "set", "imap-port", strconv.Itoa(ports[1])); err == nil {
		t.Error("a port clash was accepted")
	}

	// Stop and restart: everything is still there.
	d.stop(t)
	if _, err := os.Stat(bridge.SocketPath(c.dir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("control socket left behind: %v", err)
	}
	if _, err := c.try("", "status"); exitStatus(err) != 3 {
		t.Errorf("status without a daemon: %v, want exit status 3", err)
	}
	d = c.serve()
	c.waitSynced(2)
	if out, err := c.python("login", infoPath, alice); err != nil {
		t.Fatalf("login after restart: %v\n%s", err, out)
	}

	// Remove bob while running: cut off, cache and secrets gone.
	if len(cacheFiles(t, c.dir, ids[bob])) == 0 {
		t.Fatal("bob has no cache file; the removal check would prove nothing")
	}
	c.run("", "account", "remove", bob)
	if f := cacheFiles(t, c.dir, ids[bob]); len(f) != 0 {
		t.Errorf("bob's cache is left: %v", f)
	}
	if out, err := c.python("login", infoPath, bob); exitStatus(err) != 2 {
		t.Errorf("removed account still logs in: %v\n%s", err, out)
	}
	d.stop(t)

	// Remove alice with no daemon running.
	c.run("", "account", "remove", alice)
	if f := cacheFiles(t, c.dir, ids[alice]); len(f) != 0 {
		t.Errorf("alice's cache is left: %v", f)
	}
	_, info = c.infoFile()
	if len(info.Accounts) != 0 {
		t.Errorf("accounts left in the vault: %+v", info.Accounts)
	}
	if _, err := c.try("", "account", "remove", alice); err == nil || !strings.Contains(err.Error(), "no such account") {
		t.Errorf("removing twice: %v", err)
	}
}

// TestPassphraseVault runs the daemon with a passphrase-protected vault.
func TestPassphraseVault(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	c := newCLI(t)
	pass := c.writeFile("vault.pass", "a long vault passphrase\n")
	c.args = []string{"--vault-passphrase-file", pass}
	c.run("pw\n", "mock", "add-user", "carol@journey.test")
	c.run("pw\n", "account", "add", "carol@journey.test")
	c.setPorts()
	d := c.serve()
	if st := c.waitSynced(1); st.VaultKey != "passphrase" {
		t.Errorf("vault key = %q, want passphrase", st.VaultKey)
	}
	d.stop(t)
	if _, err := os.Stat(filepath.Join(c.dir, "vault.key")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a key file was written for a passphrase vault")
	}

	before, err := os.ReadFile(filepath.Join(c.dir, "vault.enc"))
	if err != nil {
		t.Fatal(err)
	}
	c.args = nil
	_, err = c.try("", "serve")
	if err == nil || !strings.Contains(err.Error(), "Nothing was changed or deleted") {
		t.Fatalf("serve without the passphrase: %v", err)
	}
	c.args = []string{"--vault-passphrase-file", c.writeFile("wrong.pass", "wrong\n")}
	if _, err := c.try("", "info"); err == nil || !strings.Contains(err.Error(), "passphrase") {
		t.Fatalf("info with a wrong passphrase: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(c.dir, "vault.enc"))
	if !bytes.Equal(before, after) {
		t.Error("failed opens changed the vault")
	}
}

func exitStatus(err error) int {
	var ee *exec.ExitError
	var ce *cmdError
	if errors.As(err, &ce) {
		err = ce.err
	}
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err == nil {
		return 0
	}
	return -1
}
