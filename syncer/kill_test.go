package syncer_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailbridge/mailbridge/store"
	"github.com/mailbridge/mailbridge/syncer"
	"github.com/mailbridge/mailbridge/upstream"
	"github.com/mailbridge/mailbridge/upstream/mock"
)

// The kill test runs the syncer, with a persistent mock upstream and a
// client making changes, in a child process (this test binary re-executed)
// and kills it with SIGKILL at random moments.
const (
	childEnv     = "MAILBRIDGE_SYNCER_CHILD"      // the state directory
	childModeEnv = "MAILBRIDGE_SYNCER_CHILD_MODE" // "work" or "finish"
	burstOps     = 40                             // client writes over all runs
)

// child is the child process's main: it syncs and, in "work" mode, makes
// client writes, journaling each one after the store accepted it.
func child(dir string) int {
	if err := runChild(dir, os.Getenv(childModeEnv)); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

func runChild(dir, mode string) error {
	srv, err := mock.New(mock.Options{Dir: filepath.Join(dir, "mock")})
	if err != nil {
		return err
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sess, err := srv.Login(ctx, user, pass)
	if err != nil {
		return err
	}
	defer sess.Close()
	st, err := store.Open(store.Options{Path: filepath.Join(dir, "cache.db"), Key: cacheKey()})
	if err != nil {
		return err
	}
	defer st.Close()
	sy := syncer.New(syncer.Options{Session: sess, Store: st, Keys: keys(), Workers: 4, PageSize: 25,
		MaxBackoff: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	done := make(chan error, 1)
	go func() { done <- sy.Run(ctx) }()

	if mode == "finish" {
		<-sy.Synced()
		for {
			n, err := st.OutboxLen()
			if err != nil {
				return err
			}
			up := upstreamStateErr(srv)
			local, lerr := cacheState(st)
			if n == 0 && lerr == nil && mapsEqual(up, local) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		return <-done
	}

	journal, err := os.OpenFile(filepath.Join(dir, "journal"), os.O_CREATE|os.O_APPEND|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer journal.Close()
	// Like a real client, an append cut off by the kill is looked for
	// before it is made again; a flag change is simply made again.
	lines := readJournal(dir)
	next := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "intent ") {
			next++
		}
	}
	redo := len(lines) > 0 && strings.HasPrefix(lines[len(lines)-1], "intent ")
	if redo {
		next--
	}
	for i := next; i < burstOps; i++ {
		inbox, err := st.MailboxByName("INBOX")
		for err != nil { // before the first sync has the mailboxes
			time.Sleep(5 * time.Millisecond)
			inbox, err = st.MailboxByName("INBOX")
		}
		if !redo {
			fmt.Fprintf(journal, "intent %d\n", i)
		}
		if i%2 == 0 {
			subject := fmt.Sprintf("burst-%d", i)
			if redo {
				found, err := st.Search(inbox.ID, &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: subject}}})
				if err != nil {
					return err
				}
				redo = false
				if len(found) > 0 {
					fmt.Fprintf(journal, "append %d\n", i)
					continue
				}
			}
			if _, _, err := st.Append(inbox.ID, fmt.Appendf(nil, "Subject: %s\r\n\r\nburst\r\n", subject), nil, time.Time{}); err != nil {
				return err
			}
			fmt.Fprintf(journal, "append %d\n", i)
		} else {
			redo = false
			es, err := st.Entries(inbox.ID)
			if err != nil {
				return err
			}
			if len(es) == 0 {
				fmt.Fprintf(journal, "skip %d\n", i)
				continue
			}
			e := es[(i*7)%len(es)]
			if _, err := st.SetFlags(inbox.ID, []uint32{e.UID}, imap.StoreFlagsAdd, []string{`\Flagged`}); err != nil {
				return err
			}
			fmt.Fprintf(journal, "flag %d\n", e.MsgID)
		}
		time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond)
	}
	return <-done // until killed
}

func upstreamStateErr(srv *mock.Server) map[string]msgState {
	snap, err := srv.Snapshot(user)
	if err != nil {
		return nil
	}
	out := map[string]msgState{}
	for _, m := range snap.Messages {
		ls := append([]string(nil), m.MailboxIDs...)
		slices.Sort(ls)
		out[m.ID] = msgState{labels: strings.Join(ls, ","), flags: m.Flags}
	}
	return out
}

func readJournal(dir string) []string {
	f, err := os.Open(filepath.Join(dir, "journal"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// observation is what a client could have seen: UIDVALIDITY per mailbox
// and the UID of every message in it.
type observation struct {
	validity map[string]uint32
	uids     map[string]map[uint64]uint32 // mailbox -> message -> UID
}

func observe(t *testing.T, path string) observation {
	t.Helper()
	st, err := store.Open(store.Options{Path: path, Key: cacheKey()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	mbs, err := st.Mailboxes()
	if err != nil {
		t.Fatal(err)
	}
	o := observation{validity: map[string]uint32{}, uids: map[string]map[uint64]uint32{}}
	for _, mb := range mbs {
		o.validity[mb.Name] = mb.UIDValidity
		es, err := st.Entries(mb.ID)
		if err != nil {
			t.Fatal(err)
		}
		m := map[uint64]uint32{}
		for _, e := range es {
			m[e.MsgID] = e.UID
		}
		o.uids[mb.Name] = m
	}
	return o
}

func (o observation) check(t *testing.T, prev observation) {
	t.Helper()
	for name, v := range prev.validity {
		if now, ok := o.validity[name]; ok && now != v {
			t.Errorf("UIDVALIDITY of %s changed from %d to %d", name, v, now)
		}
	}
	for name, msgs := range prev.uids {
		for id, uid := range msgs {
			if now, ok := o.uids[name][id]; ok && now != uid {
				t.Errorf("message %d in %s changed UID from %d to %d", id, name, uid, now)
			}
		}
	}
}

func TestKilledAtRandomPoints(t *testing.T) {
	n, kills := 300, 6
	if testing.Short() {
		n, kills = 120, 4
	}
	dir := t.TempDir()
	seedSrv := newMock(t, filepath.Join(dir, "mock"), n)
	if err := seedSrv.Close(); err != nil {
		t.Fatal(err)
	}
	run := func(mode string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+dir, childModeEnv+"="+mode)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	cachePath := filepath.Join(dir, "cache.db")
	var prev observation
	for i := range kills {
		cmd := run("work")
		time.Sleep(time.Duration(30+rand.IntN(600)) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if _, err := os.Stat(cachePath); err != nil {
			continue // killed before the store was created
		}
		o := observe(t, cachePath)
		if i > 0 && prev.uids != nil {
			o.check(t, prev)
		}
		prev = o
	}
	// Finish: the rest of the client's writes, then a clean exit once
	// everything is upstream.
	for _, mode := range []string{"work", "finish"} {
		cmd := run(mode)
		if mode == "work" {
			// Let the burst complete (the journal reaches burstOps), then kill.
			waitFor(t, "the client burst", func() bool {
				lines := readJournal(dir)
				return len(lines) >= 2*burstOps && !strings.HasPrefix(lines[len(lines)-1], "intent ")
			})
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			continue
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("final run: %v", err)
		}
	}
	o := observe(t, cachePath)
	o.check(t, prev)

	srv, err := mock.New(mock.Options{Dir: filepath.Join(dir, "mock")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	sess := login(t, srv)
	st, err := store.Open(store.Options{Path: cachePath, Key: cacheKey()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	state := converged(t, st, srv)

	// Every journaled append is upstream exactly once; every journaled
	// flag change reached its message.
	subjects := map[string]int{}
	for _, body := range decryptAll(t, srv, sess) {
		if s, ok := strings.CutPrefix(string(body), "Subject: burst-"); ok {
			subjects[s[:strings.IndexByte(s, '\r')]]++
		}
	}
	for _, line := range readJournal(dir) {
		kind, arg, _ := strings.Cut(line, " ")
		switch kind {
		case "append":
			if subjects[arg] != 1 {
				t.Errorf("append %s is upstream %d times", arg, subjects[arg])
			}
		case "flag":
			id, _ := strconv.ParseUint(arg, 10, 64)
			up, err := st.UpstreamID(id)
			if err != nil {
				t.Errorf("flagged message %d: %v", id, err)
				continue
			}
			if !state[up].flags.Has(upstream.FlagFlagged) {
				t.Errorf("flag on %s did not reach the upstream", up)
			}
		}
	}
	for s, c := range subjects {
		if c > 1 {
			t.Errorf("burst-%s is upstream %d times", s, c)
		}
	}
	if got := len(cachedBodies(t, st)); got != len(state) {
		t.Errorf("cache holds %d messages, upstream %d", got, len(state))
	}
}
