package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Issue 4: Thunderbird, the client most users of a bridge have. Debian's
// Thunderbird runs headless with a profile made for the demo
// (testdata/thunderbird/make_profile.py: the account, and the bridge's
// certificate trusted in the profile's NSS store), and drive.py drives it
// over Marionette with chrome JavaScript: the password, folder discovery,
// headers and bodies of every folder, flag, move, delete, expunge, a
// draft saved, a folder created and renamed, and new mail while it idles,
// each change then checked with imaplib. Thunderbird's own IMAP log must
// show no NO or BAD from the bridge.
func TestThunderbird(t *testing.T) {
	paths := needClients(t, "thunderbird", "certutil")
	for _, mode := range []struct {
		name       string
		socketType int // Thunderbird's: 3 SSL/TLS, 2 STARTTLS
	}{{"TLS", 3}, {"STARTTLS", 2}} {
		t.Run(mode.name, func(t *testing.T) {
			e := startClientDemo(t)
			port := e.info.IMAPS.Port
			if mode.socketType == 2 {
				port = e.info.IMAP.Port
			}
			marionette := strconv.Itoa(freePorts(t, 1)[0])
			acct := e.info.Accounts[0]
			profile := filepath.Join(e.work, "profile")
			script := func(name string) string { return filepath.Join("testdata", "thunderbird", name) }
			mustRun(t, "python3", script("make_profile.py"), profile, "--user", acct.Username,
				"--port", strconv.Itoa(port), "--socket-type", strconv.Itoa(mode.socketType),
				"--smtp-port", strconv.Itoa(e.info.SMTPS.Port), "--cert", e.info.Certificate,
				"--marionette-port", marionette)

			imapLog := filepath.Join(e.work, "imap.log")
			tb := exec.Command(paths[0], "--headless", "--marionette", "-remote-allow-system-access",
				"-profile", profile, "-no-remote")
			tb.Env = append(os.Environ(), "HOME="+e.work, "MOZ_LOG=IMAP:5,timestamp", "MOZ_LOG_FILE="+imapLog)
			var tbOut syncBuffer
			tb.Stdout, tb.Stderr = &tbOut, &tbOut
			if err := tb.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			go func() { tb.Wait(); close(exited) }()
			t.Cleanup(func() {
				select {
				case <-exited:
				case <-time.After(10 * time.Second):
					tb.Process.Signal(syscall.SIGKILL)
					<-exited
				}
			})

			// A safety net against a hang, not a timed assertion.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			drive := exec.CommandContext(ctx, "python3", script("drive.py"), "--user", acct.Username,
				"--password", acct.Password, "--marionette-port", marionette,
				"--cert", e.info.Certificate, "--imaps-port", strconv.Itoa(e.info.IMAPS.Port))
			out, err := drive.CombinedOutput()
			if err != nil {
				t.Fatalf("drive.py: %v\n%s\n--- thunderbird ---\n%s", err, out, tbOut.String())
			}
			t.Logf("drive.py:\n%s", out)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				t.Error("Thunderbird did not quit when asked")
			}
			summary, err := exec.Command("python3", script("imaplog.py"), imapLog+".moz_log").CombinedOutput()
			if err != nil {
				t.Errorf("Thunderbird's IMAP log: %v\n%s", err, summary)
			}
			e.stop()
		})
	}
}

// mustRun runs a command that must succeed.
func mustRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
}
