package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/upstream"
)

// TestNeomutt drives neomutt, a terminal client with its own IMAP code,
// in a pseudo-terminal: over STARTTLS it flags one INBOX message, copies
// another to Work, deletes a third and expunges, then opens Archive and
// quits. Its protocol log must show no NO or BAD, and the result over
// imaplib must be what a user would expect.
func TestNeomutt(t *testing.T) {
	progs := needClients(t, "neomutt", "script") // script, of util-linux: the pseudo-terminal
	neomutt, script := progs[0], progs[1]
	e := startClientDemo(t)
	rc := e.config("neomuttrc.tmpl", 0o600, nil)

	before := e.imapState("INBOX", "Work", "Trash")
	onlyInbox := seedOnlyIn(upstream.Inbox)
	if len(onlyInbox) < 3 {
		t.Fatalf("seed %d has %d messages only in INBOX", clientSeed, len(onlyInbox))
	}
	var flag, copied, deleted string
	for _, id := range onlyInbox {
		switch {
		case flag == "" && !slices.Contains(before["INBOX"][id], `\Flagged`):
			flag = id
		case copied == "":
			copied = id
		case deleted == "" && id != flag:
			deleted = id
		}
	}
	// ~i matches the Message-ID by regular expression; "seed.3.4@" is
	// one message's whatever the dots match.
	pattern := func(id string) string { return strings.TrimPrefix(id[:strings.Index(id, "@")+1], "<") }
	keys := "<tag-pattern>~i " + pattern(flag) + "<enter><tag-prefix><flag-message><untag-pattern>~A<enter>" +
		"<tag-pattern>~i " + pattern(copied) + "<enter><tag-prefix><copy-message>=Work<enter><untag-pattern>~A<enter>" +
		"<tag-pattern>~i " + pattern(deleted) + "<enter><tag-prefix><delete-message><untag-pattern>~A<enter>" +
		"<sync-mailbox><change-folder>=Archive<enter><quit>"
	logPath := filepath.Join(e.work, "neomutt.log")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// script gives neomutt a terminal of a known size; -e runs the keys.
	inner := "stty cols 120 rows 40; exec " + neomutt + " -n -F " + rc + " -d 5 -l " + logPath + ` -e 'push "` + keys + `"'`
	cmd := exec.CommandContext(ctx, script, "-qec", inner, "/dev/null")
	cmd.Env = append(os.Environ(), "TERM=xterm", "HOME="+e.work)
	start := time.Now()
	screen, err := cmd.CombinedOutput()
	t.Logf("neomutt took %v", time.Since(start).Round(time.Millisecond))
	// neomutt numbers its log files; the newest is log0.
	log, rerr := os.ReadFile(logPath + "0")
	if err != nil || rerr != nil {
		t.Fatalf("neomutt: %v %v\nscreen:\n%q\nlog:\n%s", err, rerr, screen, tail(log, 4000))
	}

	// The protocol: STARTTLS first, every command answered OK.
	proto := regexp.MustCompile(`(?m)^\[[^]]+\]<\d> mutt_socket_(?:write|readln)_d\(\) \d[<>] (.*)$`)
	var lines []string
	for _, m := range proto.FindAllSubmatch(log, -1) {
		lines = append(lines, strings.TrimRight(string(m[1]), "\r "))
	}
	if len(lines) == 0 {
		t.Fatalf("no protocol lines in neomutt's log:\n%s", tail(log, 4000))
	}
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasSuffix(l, " STARTTLS") }) {
		t.Error("neomutt did not use STARTTLS")
	}
	refusal := regexp.MustCompile(`^(?:a\d+|\*) (?:NO|BAD)\b`)
	for _, l := range lines {
		if refusal.MatchString(l) {
			t.Errorf("the bridge refused neomutt: %s", l)
		}
	}
	// neomutt logs some commands only by their replies.
	for _, want := range []string{" UID STORE ", " UID COPY ", " EXPUNGE", " LOGOUT"} {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, want) }) {
			t.Errorf("neomutt sent no%s; did the keys run?", want)
		}
	}
	selects := 0
	for _, l := range lines {
		if strings.HasSuffix(l, " OK [READ-WRITE] SELECT completed") {
			selects++
		}
	}
	if selects != 2 {
		t.Errorf("%d mailboxes selected, want INBOX and Archive", selects)
	}
	if t.Failed() {
		t.Logf("protocol:\n%s", strings.Join(lines, "\n"))
	}

	// What the user did, as another client sees it.
	e.waitPushed()
	after := e.imapState("INBOX", "Work", "Trash")
	if !slices.Contains(after["INBOX"][flag], `\Flagged`) {
		t.Errorf("%s not flagged in INBOX: %v", flag, after["INBOX"][flag])
	}
	if _, ok := after["Work"][copied]; !ok {
		t.Errorf("%s not copied to Work", copied)
	}
	if _, ok := after["INBOX"][copied]; !ok {
		t.Errorf("%s left INBOX when copied", copied)
	}
	if _, ok := after["INBOX"][deleted]; ok {
		t.Errorf("%s still in INBOX after delete and expunge", deleted)
	}
	if _, ok := after["Trash"][deleted]; !ok {
		t.Errorf("%s, which had no other label, is not in Trash", deleted)
	}
	if len(after["INBOX"]) != len(before["INBOX"])-1 || len(after["Work"]) != len(before["Work"])+1 {
		t.Errorf("INBOX %d -> %d, Work %d -> %d messages", len(before["INBOX"]), len(after["INBOX"]), len(before["Work"]), len(after["Work"]))
	}
	e.stop()
}

// tail is the last n bytes of b, for failure messages.
func tail(b []byte, n int) []byte {
	return b[max(0, len(b)-n):]
}
