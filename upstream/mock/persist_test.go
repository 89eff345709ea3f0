package mock

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"testing"

	"github.com/mailbridge/mailbridge/upstream"
)

// mutate makes one of every kind of change and returns the session's auth.
func mutate(ctx context.Context, s *Server, sess upstream.Session) error {
	box, err := sess.CreateMailbox(ctx, "Work", "")
	if err != nil {
		return err
	}
	if err := sess.RenameMailbox(ctx, box.ID, "Job", ""); err != nil {
		return err
	}
	a, err := sess.Import(ctx, upstream.ImportRequest{OpID: "op-a", Raw: []byte("a"), MailboxIDs: []string{upstream.Inbox, box.ID}})
	if err != nil {
		return err
	}
	b, err := sess.Import(ctx, upstream.ImportRequest{Raw: []byte("b"), MailboxIDs: []string{upstream.Inbox}})
	if err != nil {
		return err
	}
	if err := sess.UpdateMessages(ctx, []string{a.ID}, upstream.Update{SetFlags: upstream.FlagFlagged}); err != nil {
		return err
	}
	if err := sess.DeleteMessages(ctx, []string{b.ID}); err != nil {
		return err
	}
	if _, err := sess.Send(ctx, upstream.SendRequest{OpID: "op-s", From: testEmail, Recipients: []string{"x@y.test"}, Raw: []byte("s"), SentCopy: []byte("s")}); err != nil {
		return err
	}
	_, err = s.Deliver(testUser, []byte("Subject: hi\r\n\r\nhello\r\n"), nil, FormatWhole)
	return err
}

// checkReopened verifies what a reopened server must remember.
func checkReopened(t *testing.T, s *Server, auth upstream.Auth, want Snapshot) {
	t.Helper()
	ctx := context.Background()
	got, err := s.Snapshot(testUser)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("state after reopen:\n%+v\nwant\n%+v", got, want)
	}
	sess, err := s.Resume(ctx, auth)
	if err != nil {
		t.Fatalf("Resume after reopen: %v", err)
	}
	defer sess.Close()
	// The idempotency record survived: a retried import is recognised.
	m, err := sess.Import(ctx, upstream.ImportRequest{OpID: "op-a", Raw: []byte("again")})
	if err != nil || m.ID != want.Messages[0].ID {
		t.Fatalf("retried import after reopen: %+v, %v", m, err)
	}
	// The event log continues where it was.
	if _, err := sess.Events(ctx, "0"); err != nil {
		t.Fatalf("old cursor after reopen: %v", err)
	}
	if err := sess.UpdateMessages(ctx, []string{m.ID}, upstream.Update{SetFlags: upstream.FlagSeen}); err != nil {
		t.Fatal(err)
	}
	b, err := sess.Events(ctx, want.LatestEvent)
	if err != nil || len(b.Events) != 1 || b.Events[0].Kind != upstream.MessageUpdated {
		t.Fatalf("events after reopen: %+v, %v", b, err)
	}
}

func TestPersistenceAcrossClose(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := New(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	addDemo(t, s)
	sess := login(t, s)
	if err := mutate(ctx, s, sess); err != nil {
		t.Fatal(err)
	}
	want, err := s.Snapshot(testUser)
	if err != nil {
		t.Fatal(err)
	}
	auth := sess.Auth()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkReopened(t, newServer(t, Options{Dir: dir}), auth, want)
}

const helperEnv = "MAILBRIDGE_MOCK_KILL_HELPER"

// killHelper runs in a child process: it mutates a persistent server,
// prints the state it was acknowledged, and waits to be killed.
func killHelper(dir string) int {
	ctx := context.Background()
	s, err := New(Options{Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	err = s.AddUser(UserSpec{Username: testUser, Password: testPass,
		Addresses: []upstream.Address{{Email: testEmail, Name: "Demo User"}}, Key: DemoKey()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sess, err := s.Login(ctx, testUser, testPass)
	if err == nil {
		err = mutate(ctx, s, sess)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	snap, _ := s.Snapshot(testUser)
	out, _ := json.Marshal(struct {
		Auth upstream.Auth
		Snap Snapshot
	}{sess.Auth(), snap})
	fmt.Printf("%s\n", out)
	select {} // killed by the parent
}

func TestPersistenceSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if kerr := cmd.Process.Kill(); kerr != nil {
		t.Fatal(kerr)
	}
	_ = cmd.Wait()
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	var got struct {
		Auth upstream.Auth
		Snap Snapshot
	}
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("helper output %q: %v", line, err)
	}
	checkReopened(t, newServer(t, Options{Dir: dir}), got.Auth, got.Snap)
}
