package main

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/mailbridge/mailbridge/bridge"
	"github.com/mailbridge/mailbridge/upstream"
	"github.com/mailbridge/mailbridge/upstream/mock"
)

// The demo every client test starts: small, so each test takes seconds.
const clientSeed, clientMessages = 3, 30

// clientEnv is one running demo for one client test, with the settings a
// user would copy into that client.
type clientEnv struct {
	t        *testing.T
	d        *demo
	bin      string
	dir      string // the demo's data dir
	work     string // the client's own folder: config, state, mail
	info     bridge.Info
	infoPath string
}

// needClients skips the test in -short mode (it builds and runs the
// binary) and unless the programs are installed, with python3, which
// checks what they did; it returns the programs' paths.
func needClients(t *testing.T, programs ...string) []string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	lookPath(t, "python3")
	paths := make([]string, len(programs))
	for i, p := range programs {
		paths[i] = lookPath(t, p)
	}
	return paths
}

func startClientDemo(t *testing.T) *clientEnv {
	t.Helper()
	bin := buildBinary(t)
	e := &clientEnv{t: t, bin: bin, dir: t.TempDir(), work: t.TempDir()}
	e.d = startDemo(t, bin, e.dir, freePorts(t, 4), clientMessages, clientSeed)
	out, err := exec.Command(bin, "info", "--data-dir", e.dir, "--json").Output()
	if err != nil {
		t.Fatalf("info --json: %v", err)
	}
	if err := json.Unmarshal(out, &e.info); err != nil {
		t.Fatal(err)
	}
	if len(e.info.Accounts) != 1 {
		t.Fatalf("info accounts: %+v", e.info.Accounts)
	}
	e.infoPath = filepath.Join(e.work, "info.json")
	if err := os.WriteFile(e.infoPath, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// config renders testdata/clients/NAME (a text/template) into the client's
// folder with the given file mode and returns its path. extra adds values
// for one client's template.
func (e *clientEnv) config(name string, mode os.FileMode, extra map[string]any) string {
	e.t.Helper()
	tmpl, err := template.ParseFiles(filepath.Join("testdata", "clients", name))
	if err != nil {
		e.t.Fatal(err)
	}
	testdata, err := filepath.Abs(filepath.Join("testdata", "clients"))
	if err != nil {
		e.t.Fatal(err)
	}
	vars := map[string]any{
		// Not 127.0.0.1: offlineimap matches only DNS names in the
		// certificate, and localhost is one of them.
		"Host":      "localhost",
		"IMAPPort":  e.info.IMAP.Port,
		"IMAPSPort": e.info.IMAPS.Port,
		"User":      e.info.Accounts[0].Username,
		"Password":  e.info.Accounts[0].Password,
		"Cert":      e.info.Certificate,
		"Work":      e.work,
		"Testdata":  testdata,
	}
	maps.Copy(vars, extra)
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, vars); err != nil {
		e.t.Fatal(err)
	}
	p := filepath.Join(e.work, strings.TrimSuffix(name, ".tmpl"))
	if err := os.WriteFile(p, buf.Bytes(), mode); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// imapState is every named mailbox (all if none) as Python's imaplib sees
// it: Message-ID to sorted flags.
func (e *clientEnv) imapState(mailboxes ...string) map[string]map[string][]string {
	e.t.Helper()
	args := append([]string{"testdata/clients/imapstate.py", e.infoPath}, mailboxes...)
	cmd := exec.Command("python3", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		e.t.Fatalf("imapstate.py: %v\n%s", err, stderr.Bytes())
	}
	var state map[string]map[string][]string
	if err := json.Unmarshal(out, &state); err != nil {
		e.t.Fatal(err)
	}
	return state
}

// waitPushed waits until the bridge has pushed every local change to the
// upstream without an error.
func (e *clientEnv) waitPushed() {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.Command(e.bin, "status", "--data-dir", e.dir, "--json").Output()
		if err != nil {
			e.t.Fatalf("status: %v", err)
		}
		var st bridge.Status
		if err := json.Unmarshal(out, &st); err != nil {
			e.t.Fatal(err)
		}
		if len(st.Accounts) == 1 && st.Accounts[0].LastError != "" {
			e.t.Fatalf("account error: %s", st.Accounts[0].LastError)
		}
		if len(st.Accounts) == 1 && st.Accounts[0].Outbox == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("changes not pushed upstream: %+v", st.Accounts)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop stops the demo and fails on an unclean exit or on anything the
// bridge logged as a warning or error while the client ran.
func (e *clientEnv) stop() {
	e.t.Helper()
	if err := e.d.stop(); err != nil {
		e.t.Fatalf("demo did not exit cleanly on SIGTERM: %v\n%s", err, e.d.output())
	}
	for _, line := range strings.Split(e.d.output(), "\n") {
		if (strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR")) &&
			!strings.Contains(line, "no OS keychain configured") {
			e.t.Errorf("the bridge logged: %s", line)
		}
	}
}

// seedMailbox is what the demo seeded under one label: Message-ID to
// sorted IMAP flags. It comes from the mock's generator, not from the
// bridge, so a client's copy is checked against the source.
func seedMailbox(label string) map[string][]string {
	out := map[string][]string{}
	for _, m := range mock.SeedMessages(clientMessages, clientSeed, upstream.Address{Email: demoUser, Name: "Demo User"}) {
		if slices.Contains(m.MailboxIDs, label) {
			out[m.MessageID] = imapFlags(m.Flags)
		}
	}
	return out
}

// seedOnlyIn is the seeded messages whose only label is label.
func seedOnlyIn(label string) []string {
	var out []string
	for _, m := range mock.SeedMessages(clientMessages, clientSeed, upstream.Address{Email: demoUser, Name: "Demo User"}) {
		if len(m.MailboxIDs) == 1 && m.MailboxIDs[0] == label {
			out = append(out, m.MessageID)
		}
	}
	return out
}

func imapFlags(f upstream.Flags) []string {
	out := []string{}
	for _, x := range []struct {
		f    upstream.Flags
		name string
	}{{upstream.FlagAnswered, `\Answered`}, {upstream.FlagFlagged, `\Flagged`}, {upstream.FlagSeen, `\Seen`}} {
		if f.Has(x.f) {
			out = append(out, x.name)
		}
	}
	return out
}

// maildirMessage is one file of a Maildir folder.
type maildirMessage struct {
	path  string
	flags []string // IMAP names, sorted
}

// readMaildirFolder reads a Maildir folder's new/ and cur/, keyed by
// Message-ID.
func readMaildirFolder(t *testing.T, dir string) map[string]maildirMessage {
	t.Helper()
	out := map[string]maildirMessage{}
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, ent := range entries {
			p := filepath.Join(dir, sub, ent.Name())
			id := messageID(t, p)
			if _, dup := out[id]; dup {
				t.Errorf("%s: %s twice", dir, id)
			}
			out[id] = maildirMessage{path: p, flags: maildirFlags(ent.Name())}
		}
	}
	return out
}

func messageID(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := mail.ReadMessage(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	id := m.Header.Get("Message-ID")
	if id == "" {
		t.Fatalf("%s has no Message-ID", path)
	}
	return id
}

// maildirFlags maps the info part of a Maildir file name to IMAP flags.
func maildirFlags(name string) []string {
	out := []string{}
	_, info, ok := strings.Cut(name, ":2,")
	if !ok {
		return out
	}
	names := map[rune]string{'R': `\Answered`, 'D': `\Draft`, 'F': `\Flagged`, 'S': `\Seen`, 'T': `\Deleted`}
	for _, c := range info {
		if n, ok := names[c]; ok {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// folderFlags drops the paths of a Maildir folder, to compare it with an
// IMAP mailbox.
func folderFlags(f map[string]maildirMessage) map[string][]string {
	out := map[string][]string{}
	for id, m := range f {
		out[id] = m.flags
	}
	return out
}

// diffMailbox says how got differs from want, "" if not at all.
func diffMailbox(got, want map[string][]string) string {
	var b strings.Builder
	for _, id := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[id]
		switch {
		case !ok:
			b.WriteString("  missing " + id + "\n")
		case !slices.Equal(g, want[id]):
			b.WriteString("  " + id + ": flags " + strings.Join(g, " ") + ", want " + strings.Join(want[id], " ") + "\n")
		}
	}
	for _, id := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[id]; !ok {
			b.WriteString("  unexpected " + id + "\n")
		}
	}
	return b.String()
}

// complaint matches a line in which a client reports trouble.
var complaint = regexp.MustCompile(`(?i)warn|error|fail|traceback|exception|unexpected|mismatch|bogus|invalid|refus|abort` +
	`|\b[A-Z]+[0-9]+ (NO|BAD)\b|^\* (NO|BAD)\b`)

// complaints returns the lines of a client's output that report trouble,
// less those matching an allowed pattern (each documented by its caller).
func complaints(out []byte, allowed ...*regexp.Regexp) []string {
	var bad []string
next:
	for line := range strings.SplitSeq(string(out), "\n") {
		if !complaint.MatchString(line) {
			continue
		}
		for _, a := range allowed {
			if a.MatchString(line) {
				continue next
			}
		}
		bad = append(bad, line)
	}
	return bad
}

// runClient runs a client, logs its output, and fails on a non-zero exit
// or on a complaint in its output.
func runClient(t *testing.T, step string, cmd *exec.Cmd, allowed ...*regexp.Regexp) []byte {
	t.Helper()
	start := time.Now()
	out, err := output(t, cmd)
	t.Logf("%s took %v", step, time.Since(start).Round(time.Millisecond))
	return checkClient(t, step, out, err, allowed...)
}

// output runs a client and returns its combined output; a client that
// hangs (offlineimap once did, waiting on itself) is killed and fails the
// test instead of the whole run's timeout.
func output(t *testing.T, cmd *exec.Cmd) ([]byte, error) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() })
	err := cmd.Wait()
	if !timer.Stop() {
		t.Fatalf("%s hung and was killed after a minute:\n%s", cmd.Args[0], out.Bytes())
	}
	return out.Bytes(), err
}

// checkClient logs a client's output and fails on an error or on a
// complaint in the output.
func checkClient(t *testing.T, step string, out []byte, err error, allowed ...*regexp.Regexp) []byte {
	t.Helper()
	t.Logf("%s:\n%s", step, out)
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	if bad := complaints(out, allowed...); len(bad) > 0 {
		t.Fatalf("%s complained:\n%s", step, strings.Join(bad, "\n"))
	}
	return out
}

func sortedFlags(f []string) []string {
	slices.Sort(f)
	return slices.Compact(f)
}

// blankFlags keeps a mailbox's Message-IDs, for clients that do not
// carry flags.
func blankFlags(box map[string][]string) map[string][]string {
	out := map[string][]string{}
	for id := range box {
		out[id] = nil
	}
	return out
}

// TestClientComplaints pins what the client tests count as trouble in a
// client's output, so a client that reports an error cannot pass.
func TestClientComplaints(t *testing.T) {
	out := strings.Join([]string{
		"ERROR: While attempting to sync account 'demo'",
		"WARNING: UID validity problem for folder INBOX",
		"fetchmail: IMAP< A0005 NO [SERVERBUG] internal error",
		"fetchmail: IMAP< A0006 BAD unknown command",
		"* BAD line too long",
		"Traceback (most recent call last):",
		"getmailrc: operation error (waiting child pid 42 timed out)",
		// fine:
		"Copy message UID 5 (5/17) bridge:INBOX -> local:INBOX",
		"fetchmail: IMAP< A0004 OK [READ-WRITE] SELECT completed",
		"  17 messages (122971 bytes) retrieved, 0 skipped",
		"fetchmail: WARNING: Running as root is discouraged.",
	}, "\n")
	got := complaints([]byte(out), regexp.MustCompile(`Running as root`))
	if len(got) != 7 || !strings.HasPrefix(got[6], "getmailrc: operation error") {
		t.Errorf("complaints found %d lines:\n%s", len(got), strings.Join(got, "\n"))
	}
	idle := offlineimapActions([]byte("OfflineIMAP 8.0.0\n*** Processing account demo\nEstablishing connection to localhost:1 (bridge)\n" +
		"Syncing INBOX: IMAP -> Maildir\n*** Finished account 'demo' in 0:00\n"))
	if len(idle) != 0 {
		t.Errorf("an idle offlineimap run did: %q", idle)
	}
	if a := offlineimapActions([]byte("Syncing INBOX: IMAP -> Maildir\nAdding flag F to 1 messages on INBOX\n")); len(a) != 1 {
		t.Errorf("offlineimap actions: %q", a)
	}
}
