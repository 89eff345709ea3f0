package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailbridge/mailbridge/bridge"
	"github.com/mailbridge/mailbridge/upstream"
	"github.com/mailbridge/mailbridge/upstream/mock"
)

// The demo account on the mock upstream. Its password only ever reaches
// the mock: mail clients log in with the client password the bridge makes.
const (
	demoUser     = "demo@example.test"
	demoPassword = "demo-upstream-password"
	aliceEmail   = "alice@example.test"
)

type demoFlags struct {
	imapPort, imapsPort, smtpPort, smtpsPort int
	messages                                 int
	seed                                     int64
}

func demoCmd(g *globals) *cobra.Command {
	var f demoFlags
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the bridge against a built-in mock mail service with sample mail",
		Long: "Run mailbridge in the foreground against an in-process mock of an end-to-end\n" +
			"encrypted mail service, seeded with sample mail for " + demoUser + ".\n\n" +
			"The mock keeps its state under DATA-DIR/upstream, so the demo remembers every\n" +
			"change across restarts. Mail you send is \"delivered\" as .eml files under\n" +
			"DATA-DIR/delivered/RECIPIENT/; the key server knows " + aliceEmail + ", whose\n" +
			"private key is in DATA-DIR/alice.asc, so you can check with gpg that mail to her\n" +
			"leaves encrypted. Seeding is idempotent: the same --messages and --seed on a\n" +
			"later start add nothing.\n\n" +
			"--data-dir defaults to mailbridge-demo in your user cache folder. While the demo\n" +
			"runs, `mailbridge status --data-dir DIR` and the other commands talk to it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			dir := g.dataDir
			if dir == "" {
				dir = defaultDemoDir()
			}
			return runDemo(cmd.Context(), cmd, dir, f, log)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&f.imapPort, "imap-port", 1143, "IMAP port (STARTTLS)")
	fl.IntVar(&f.imapsPort, "imaps-port", 1993, "IMAP port (implicit TLS)")
	fl.IntVar(&f.smtpPort, "smtp-port", 1025, "SMTP submission port (STARTTLS)")
	fl.IntVar(&f.smtpsPort, "smtps-port", 1465, "SMTP submission port (implicit TLS)")
	fl.IntVar(&f.messages, "messages", 200, "how many sample messages to seed")
	fl.Int64Var(&f.seed, "seed", 1, "seed for the sample messages (same seed, same mail)")
	return cmd
}

func runDemo(ctx context.Context, cmd *cobra.Command, dataDir string, f demoFlags, log *slog.Logger) error {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	up, err := mock.New(mock.Options{
		Dir:         filepath.Join(dataDir, "upstream"),
		Logger:      log.With("component", "mock-upstream"),
		DeliverHook: deliveredWriter(filepath.Join(dataDir, "delivered"), log),
	})
	if err != nil {
		return fmt.Errorf("start the mock upstream: %w", err)
	}
	defer up.Close()
	if err := seedDemo(up, f); err != nil {
		return err
	}
	if err := writeAliceKey(filepath.Join(dataDir, "alice.asc")); err != nil {
		return err
	}

	br, err := openBridge(bridge.Options{
		DataDir:     dataDir,
		Backend:     up,
		BackendName: "mock (demo)",
		Ports:       &bridge.Ports{IMAP: f.imapPort, IMAPS: f.imapsPort, SMTP: f.smtpPort, SMTPS: f.smtpsPort},
		Logger:      log,
		LockNote:    "demo",
	})
	if err != nil {
		return err
	}
	defer br.Close()
	if len(br.Vault().Accounts()) == 0 {
		if _, err := br.AddAccount(ctx, demoUser, demoPassword, nil); err != nil && !errors.Is(err, bridge.ErrAccountExists) {
			return fmt.Errorf("add the demo account: %w", err)
		}
	}

	out := cmd.OutOrStdout()
	return br.Run(ctx, func(info bridge.Info) {
		fmt.Fprintf(out, "mailbridge demo is running (data in %s). Point your mail client at:\n\n", dataDir)
		info.WriteTable(out)
		fmt.Fprintf(out, "\nMail sent to %s is encrypted; read it with gpg using %s.\nPress Ctrl-C to stop.\n",
			aliceEmail, filepath.Join(dataDir, "alice.asc"))
		go func() {
			start := time.Now()
			if err := br.WaitSynced(ctx); err == nil {
				fmt.Fprintf(out, "initial sync complete in %v\n", time.Since(start).Round(time.Millisecond))
			}
		}()
	})
}

// seedDemo creates the demo user and its sample mail. Seeding is
// idempotent for a seed, so a demo killed while seeding finishes the job
// on its next start.
func seedDemo(up *mock.Server, f demoFlags) error {
	err := up.AddUser(mock.UserSpec{
		Username:  demoUser,
		Password:  demoPassword,
		Addresses: []upstream.Address{{Email: demoUser, Name: "Demo User"}},
		Key:       mock.DemoKey(),
	})
	if err != nil && !errors.Is(err, mock.ErrUserExists) {
		return fmt.Errorf("create the demo user: %w", err)
	}
	if err := up.Seed(demoUser, f.messages, f.seed); err != nil {
		return fmt.Errorf("seed sample mail: %w", err)
	}
	return nil
}

func writeAliceKey(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	return os.WriteFile(path, mock.AliceArmored(), 0o600)
}

// deliveredWriter writes each message the demo "sends" as an .eml file,
// one per envelope recipient, exactly as it left the bridge.
func deliveredWriter(dir string, log *slog.Logger) func(mock.Delivery) {
	return func(d mock.Delivery) {
		rcpt := strings.ToLower(d.Recipient)
		if strings.ContainsAny(rcpt, `/\`) || rcpt == "" || strings.HasPrefix(rcpt, ".") {
			log.Warn("not writing a delivery to an odd recipient address")
			return
		}
		sub := filepath.Join(dir, rcpt)
		if err := os.MkdirAll(sub, 0o700); err != nil {
			log.Error("write delivery", "err", err)
			return
		}
		name := fmt.Sprintf("%s-%s.eml", time.Now().UTC().Format("20060102T150405.000000000"), d.ID)
		if err := os.WriteFile(filepath.Join(sub, name), d.Raw, 0o600); err != nil {
			log.Error("write delivery", "err", err)
		}
	}
}
