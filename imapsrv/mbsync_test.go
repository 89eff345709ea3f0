package imapsrv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/store"
	"github.com/mailbridge/mailbridge/upstream"
)

// TestMbsync synchronises the account with Debian's isync (mbsync), a
// real client with its own IMAP implementation and strict checks: a full
// pull into a Maildir, then changes made in the Maildir pushed back, then
// changes made on the store's side (as the syncer would apply them)
// pulled again. Every run must succeed without a warning.
func TestMbsync(t *testing.T) {
	mbsync, err := exec.LookPath("mbsync")
	if err != nil {
		t.Skip("mbsync not installed (apt-get install isync)")
	}
	f := newFixture(t)
	f.addMessage("w1", 0, workMessage, "lbl-work")
	dir := t.TempDir()
	maildir := filepath.Join(dir, "mail")
	if err := os.Mkdir(maildir, 0o700); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(f.tlsAddr)
	config := fmt.Sprintf(`IMAPAccount bridge
Host localhost
Port %s
User %s
Pass %s
SSLType IMAPS
CertificateFile %s
AuthMechs LOGIN

IMAPStore far
Account bridge

MaildirStore near
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel all
Far :far:
Near :near:
Patterns *
Create Both
Expunge Both
SyncState *
`, port, testUser, testPass, f.certFile, maildir, maildir)
	cfg := filepath.Join(dir, "mbsyncrc")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(step string) {
		t.Helper()
		cmd := exec.Command(mbsync, "-c", cfg, "-a")
		cmd.Env = append(os.Environ(), "HOME="+dir)
		out, err := cmd.CombinedOutput()
		t.Logf("mbsync (%s):\n%s", step, out)
		if err != nil {
			t.Fatalf("mbsync (%s): %v", step, err)
		}
		if bytes.Contains(bytes.ToLower(out), []byte("warning")) || bytes.Contains(bytes.ToLower(out), []byte("error")) {
			t.Fatalf("mbsync (%s) complained", step)
		}
	}

	// 1. A full pull.
	run("initial pull")
	inbox := readMaildir(t, filepath.Join(maildir, "INBOX"))
	wantMaildir(t, "INBOX", inbox, map[string]string{"m1@example.com": "S", "m2@example.de": "", "m3@example.com": "F"})
	wantMaildir(t, "Work", readMaildir(t, filepath.Join(maildir, "Work")), map[string]string{"w1@example.org": ""})
	wantMaildir(t, "All Mail", readMaildir(t, filepath.Join(maildir, "All Mail")),
		map[string]string{"m1@example.com": "S", "m2@example.de": "", "m3@example.com": "F", "w1@example.org": ""})
	if _, err := os.Stat(filepath.Join(maildir, "Work", "2024")); err != nil {
		t.Errorf("Work/2024 not created: %v", err)
	}

	// 2. Changes in the Maildir: read and flag m2, delete m1, file a new
	// message into Work.
	setMaildirFlags(t, inbox["m2@example.de"], "FS")
	if err := os.Remove(inbox["m1@example.com"].path); err != nil {
		t.Fatal(err)
	}
	newMsg := filepath.Join(maildir, "Work", "new", "1700000000.1.test")
	if err := os.WriteFile(newMsg, []byte(crlf(localMessage)), 0o600); err != nil {
		t.Fatal(err)
	}
	run("push")
	m := mustMailbox(t, f, "INBOX")
	flags := storeFlags(t, f.st, m.ID)
	if _, ok := flags["m1@example.com"]; ok || len(flags) != 2 {
		t.Errorf("INBOX after the push: %v", flags)
	}
	if got := flags["m2@example.de"]; !slices.Contains(got, `\Seen`) || !slices.Contains(got, `\Flagged`) {
		t.Errorf("m2's flags after the push: %v", got)
	}
	work := storeFlags(t, f.st, mustMailbox(t, f, "Work").ID)
	if _, ok := work["local@example.org"]; !ok || len(work) != 2 {
		t.Errorf("Work after the push: %v", work)
	}
	if n, err := f.st.OutboxLen(); err != nil || n == 0 {
		t.Errorf("outbox after the push: %d ops, %v", n, err)
	}

	// 3. Changes on the store's side: m3 read and unflagged, m2 deleted
	// for good, new mail in INBOX.
	f.apply(store.Changes{
		Updated: []upstream.MessageMeta{{ID: "m3", MailboxIDs: []string{upstream.Inbox}, Flags: upstream.FlagSeen,
			Date: time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC), Size: int64(len(testMessage3))}},
		Deleted: []string{"m2"},
	})
	f.addMessage("m4", 0, newInboxMessage, upstream.Inbox)
	run("pull changes")
	wantMaildir(t, "INBOX", readMaildir(t, filepath.Join(maildir, "INBOX")),
		map[string]string{"m3@example.com": "S", "m4@example.com": ""})
	wantMaildir(t, "Work", readMaildir(t, filepath.Join(maildir, "Work")),
		map[string]string{"w1@example.org": "", "local@example.org": ""})

	// 4. Nothing left to do.
	run("no-op")
}

const workMessage = `From: Erin <erin@example.org>
To: alice@example.org
Subject: Quarterly plan
Date: Tue, 12 Mar 2024 10:00:00 +0000
Message-ID: <w1@example.org>

The plan.
`

const localMessage = `From: Alice <alice@example.org>
To: bob@example.com
Subject: Filed locally
Date: Wed, 13 Mar 2024 10:00:00 +0000
Message-ID: <local@example.org>

Filed into Work from the Maildir.
`

const newInboxMessage = `From: Frank <frank@example.com>
To: alice@example.org
Subject: Fresh news
Date: Thu, 14 Mar 2024 10:00:00 +0000
Message-ID: <m4@example.com>

Something new.
`

// maildirMsg is a message file of a Maildir folder.
type maildirMsg struct {
	path  string
	flags string // the Maildir info flags, e.g. "FS"
}

var messageIDRE = regexp.MustCompile(`(?mi)^Message-ID:\s*<([^>]+)>`)

// readMaildir returns a folder's messages by Message-ID.
func readMaildir(t *testing.T, dir string) map[string]maildirMsg {
	t.Helper()
	out := make(map[string]maildirMsg)
	for _, sub := range []string{"new", "cur"} {
		files, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatalf("read Maildir: %v", err)
		}
		for _, fi := range files {
			path := filepath.Join(dir, sub, fi.Name())
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			m := messageIDRE.FindSubmatch(b)
			if m == nil {
				t.Fatalf("%s: no Message-ID", path)
			}
			var flags string
			if i := strings.LastIndex(fi.Name(), ":2,"); i >= 0 {
				flags = fi.Name()[i+3:]
			}
			out[string(m[1])] = maildirMsg{path: path, flags: flags}
		}
	}
	return out
}

// wantMaildir compares a folder with Message-ID -> Maildir flags.
func wantMaildir(t *testing.T, name string, got map[string]maildirMsg, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s holds %d messages, want %d: %v", name, len(got), len(want), got)
	}
	for id, flags := range want {
		m, ok := got[id]
		if !ok {
			t.Errorf("%s lacks %s", name, id)
		} else if m.flags != flags {
			t.Errorf("%s: %s has flags %q, want %q", name, id, m.flags, flags)
		}
	}
}

// setMaildirFlags renames a message file to carry new flags, as a mail
// reader working on the Maildir would.
func setMaildirFlags(t *testing.T, m maildirMsg, flags string) {
	t.Helper()
	dir, name := filepath.Split(m.path)
	if i := strings.LastIndex(name, ":2,"); i >= 0 {
		name = name[:i]
	}
	dst := filepath.Join(filepath.Dir(filepath.Clean(dir)), "cur", name+":2,"+flags)
	if err := os.Rename(m.path, dst); err != nil {
		t.Fatal(err)
	}
}

// storeFlags returns a store mailbox's messages as Message-ID -> flags.
func storeFlags(t *testing.T, st *store.Store, mboxID uint64) map[string][]string {
	t.Helper()
	entries, err := st.Entries(mboxID)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]string, len(entries))
	for _, e := range entries {
		body, err := st.Body(e.MsgID)
		if err != nil {
			t.Fatal(err)
		}
		m := messageIDRE.FindSubmatch(body)
		if m == nil {
			t.Fatalf("message %d has no Message-ID", e.MsgID)
		}
		out[string(m[1])] = e.Flags
	}
	return out
}
