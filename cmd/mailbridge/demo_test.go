package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/bridge"
	"github.com/mailbridge/mailbridge/crypto"
	"github.com/mailbridge/mailbridge/upstream"
	"github.com/mailbridge/mailbridge/upstream/mock"
)

// TestDemoEndToEnd is the whole path as a user meets it: the real binary's
// demo, the settings `info --json` prints, Python's imaplib and smtplib as
// the mail client, gpg as the recipient, and a clean exit on SIGTERM.
func TestDemoEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	python := lookPath(t, "python3")
	gpg := lookPath(t, "gpg")

	bin := buildBinary(t)
	dir := t.TempDir()
	const seed, n = 7, 200
	ports := freePorts(t, 4)

	d := startDemo(t, bin, dir, ports, n, seed)

	infoJSON, err := exec.Command(bin, "info", "--data-dir", dir, "--json").Output()
	if err != nil {
		t.Fatalf("info --json: %v", err)
	}
	var info bridge.Info
	if err := json.Unmarshal(infoJSON, &info); err != nil {
		t.Fatalf("info --json printed %q: %v", infoJSON, err)
	}
	if info.IMAP.Port != ports[0] || info.IMAPS.Port != ports[1] || info.SMTP.Port != ports[2] || info.SMTPS.Port != ports[3] {
		t.Fatalf("info shows ports %+v, demo was started with %v", info, ports)
	}
	if len(info.Accounts) != 1 || info.Accounts[0].Username != demoUser || info.Accounts[0].Password == "" {
		t.Fatalf("info accounts = %+v", info.Accounts)
	}
	if info.Accounts[0].Password == demoPassword {
		t.Fatal("the client password is the upstream password")
	}
	// The running demo answers status over its control socket.
	statusJSON, err := exec.Command(bin, "status", "--data-dir", dir, "--json").Output()
	if err != nil {
		t.Fatalf("status --json: %v", err)
	}
	var st bridge.Status
	if err := json.Unmarshal(statusJSON, &st); err != nil {
		t.Fatalf("status --json printed %q: %v", statusJSON, err)
	}
	if !st.Running || st.PID != d.cmd.Process.Pid || len(st.Accounts) != 1 || !st.Accounts[0].Synced || st.Accounts[0].Total < n {
		t.Fatalf("status: %+v", st)
	}
	infoPath := filepath.Join(t.TempDir(), "info.json")
	if err := os.WriteFile(infoPath, infoJSON, 0o600); err != nil {
		t.Fatal(err)
	}

	subject := "E2E secret subject " + strconv.FormatInt(time.Now().UnixNano(), 36)
	out, err := exec.Command(python, "testdata/client.py", infoPath, strconv.Itoa(n), subject).CombinedOutput()
	if err != nil {
		t.Fatalf("python client: %v\n%s\n--- demo output ---\n%s", err, out, d.output())
	}
	t.Logf("python client: %s", bytes.TrimSpace(out))

	checkDeliveredToAlice(t, gpg, dir, subject)
	checkNoPlaintext(t, dir, seed, n, subject)

	if err := d.stop(); err != nil {
		t.Fatalf("demo did not exit cleanly on SIGTERM: %v\n%s", err, d.output())
	}
}

// checkDeliveredToAlice decrypts and verifies, with gpg and alice.asc, the
// copy the demo delivered to alice.
func checkDeliveredToAlice(t *testing.T, gpg, dir, subject string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "delivered", "alice@example.test", "*.eml"))
	if len(files) != 1 {
		t.Fatalf("want 1 delivered message for alice, got %d", len(files))
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(subject)) || bytes.Contains(raw, []byte("end-to-end test body")) {
		t.Fatal("the delivered message shows its subject or body in the clear")
	}
	if !bytes.Contains(raw, []byte("multipart/encrypted")) {
		t.Fatalf("delivered message is not PGP/MIME:\n%s", raw)
	}
	armored := pgpBlock(raw)
	if armored == nil {
		t.Fatal("no PGP MESSAGE block in the delivered message")
	}

	home := t.TempDir()
	run := func(stdin []byte, args ...string) ([]byte, []byte) {
		cmd := exec.Command(gpg, append([]string{"--homedir", home, "--batch", "--pinentry-mode", "loopback", "--trust-model", "always"}, args...)...)
		cmd.Stdin = bytes.NewReader(stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("gpg %v: %v\n%s", args, err, stderr.Bytes())
		}
		return stdout.Bytes(), stderr.Bytes()
	}
	alice, err := os.ReadFile(filepath.Join(dir, "alice.asc"))
	if err != nil {
		t.Fatal(err)
	}
	run(alice, "--import")
	demoPub, err := crypto.ArmorPublicKey(mock.DemoKey())
	if err != nil {
		t.Fatal(err)
	}
	run(demoPub, "--import")
	plain, status := run(armored, "--status-fd", "2", "--decrypt")
	if !bytes.Contains(plain, []byte("end-to-end test body")) {
		t.Fatalf("gpg decrypted something else:\n%s", plain)
	}
	if !bytes.Contains(plain, []byte(subject)) {
		t.Fatalf("protected headers lack the subject:\n%s", plain)
	}
	if !bytes.Contains(status, []byte("GOODSIG")) || !bytes.Contains(status, []byte("DECRYPTION_OKAY")) {
		t.Fatalf("gpg did not verify the signature:\n%s", status)
	}
}

func pgpBlock(b []byte) []byte {
	start := bytes.Index(b, []byte("-----BEGIN PGP MESSAGE-----"))
	end := bytes.Index(b, []byte("-----END PGP MESSAGE-----"))
	if start < 0 || end < start {
		return nil
	}
	return b[start : end+len("-----END PGP MESSAGE-----")]
}

// checkNoPlaintext reads every file of the bridge's own under the data dir
// and fails if a seeded subject or line of body text, or the message just
// sent, is in it in the clear.
func checkNoPlaintext(t *testing.T, dir string, seed int64, n int, sent string) {
	t.Helper()
	needles := [][]byte{[]byte(sent), []byte("end-to-end test body")}
	for _, m := range mock.SeedMessages(n, seed, upstream.Address{Email: demoUser, Name: "Demo User"}) {
		needles = append(needles, plaintextNeedles(m.Raw)...)
	}
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if rel == "upstream" || rel == "delivered" {
			return filepath.SkipDir
		}
		if !e.Type().IsRegular() || rel == "alice.asc" {
			return nil // directories, and the control socket
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, nd := range needles {
			if bytes.Contains(data, nd) {
				t.Errorf("%s holds plaintext %q", rel, nd)
				return nil
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// plaintextNeedles picks from a seeded message its subject and its longer
// lines of text: the things that must never be in the cache in the clear.
func plaintextNeedles(msg []byte) [][]byte {
	var out [][]byte
	msg = bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n"))
	header, body, _ := bytes.Cut(msg, []byte("\n\n"))
	for line := range bytes.SplitSeq(header, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("Subject: ")); ok && len(v) >= 8 {
			out = append(out, v)
		}
	}
	for line := range bytes.SplitSeq(body, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) >= 24 && !bytes.HasPrefix(line, []byte("--")) && !bytes.Contains(line, []byte(":")) &&
			bytes.Count(line, []byte(" ")) >= 3 {
			out = append(out, line)
		}
	}
	return out
}

type demo struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

func startDemo(t *testing.T, bin, dir string, ports []int, n int, seed int64) *demo {
	t.Helper()
	cmd := exec.Command(bin, "demo", "--data-dir", dir,
		"--imap-port", strconv.Itoa(ports[0]), "--imaps-port", strconv.Itoa(ports[1]),
		"--smtp-port", strconv.Itoa(ports[2]), "--smtps-port", strconv.Itoa(ports[3]),
		"--messages", strconv.Itoa(n), "--seed", strconv.FormatInt(seed, 10))
	cmd.Env = append(os.Environ(), "MAILBRIDGE_DATA_DIR=")
	out := &syncBuffer{}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &demo{cmd: cmd, out: out, done: make(chan error, 1)}
	synced := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			out.Write(append(sc.Bytes(), '\n'))
			if strings.HasPrefix(sc.Text(), "initial sync complete") {
				close(synced)
			}
		}
		d.done <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	select {
	case <-synced:
	case err := <-d.done:
		t.Fatalf("demo exited early: %v\n%s", err, out.String())
	case <-ctx.Done():
		t.Fatalf("demo did not finish its initial sync:\n%s", out.String())
	}
	return d
}

func (d *demo) output() string { return d.out.String() }

func (d *demo) stop() error {
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		return err
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		return context.DeadlineExceeded
	}
}

// buildBinary builds the binary once per test binary; tests share it.
func buildBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "mailbridge-bin-*")
		if err != nil {
			built.err = err
			return
		}
		built.dir = dir
		built.path = filepath.Join(dir, "mailbridge")
		out, err := exec.Command("go", "build", "-race", "-o", built.path, ".").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// built is the binary buildBinary made; TestMain removes it.
var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	// A -race binary sleeps a second at exit (GORACE atexit_sleep_ms) to
	// let reports flush; with dozens of short CLI runs per test that is
	// most of the time spent. Reports are still printed, just not waited for.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// freePorts asks the kernel for n free ports; the tiny window before the
// demo binds them again is acceptable on a test machine's loopback.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

func lookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed", name)
	}
	return p
}
