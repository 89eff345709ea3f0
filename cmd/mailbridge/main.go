// Command mailbridge is a local bridge that serves an end-to-end encrypted
// mailbox to ordinary mail clients over IMAP and SMTP.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := rootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "mailbridge:", err)
		var ec exitCode
		if errors.As(err, &ec) {
			os.Exit(ec.code)
		}
		os.Exit(1)
	}
}

// exitCode carries a process exit status other than 1, such as 3 for
// "not running" (as systemctl status uses it).
type exitCode struct {
	code int
	err  error
}

func (e exitCode) Error() string { return e.err.Error() }
func (e exitCode) Unwrap() error { return e.err }

// globals are the flags every command shares.
type globals struct {
	logLevel       string
	logJSON        bool
	dataDir        string
	upstream       string
	passphraseFile string
	// level is the handler's level: the saved log-level setting and
	// `config set log-level` change it while the daemon runs.
	level *slog.LevelVar
}

func rootCmd() *cobra.Command {
	g := &globals{level: new(slog.LevelVar)}
	root := &cobra.Command{
		Use:   "mailbridge",
		Short: "Use an end-to-end encrypted mailbox from any mail client",
		Long: "mailbridge runs on your computer between your mail client and an end-to-end\n" +
			"encrypted mail service. It decrypts mail for your client over IMAP and encrypts\n" +
			"what you send over SMTP, on 127.0.0.1, with TLS.\n\n" +
			"Start with `mailbridge demo`, or add an account with `mailbridge account add`\n" +
			"and run the daemon with `mailbridge serve` (or `mailbridge service install`).",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.logLevel, "log-level", "", "log level: debug, info, warn or error (default: the saved setting, info)")
	pf.BoolVar(&g.logJSON, "log-json", false, "write logs as JSON lines")
	pf.StringVar(&g.dataDir, "data-dir", os.Getenv(envDataDir),
		"folder for settings, secrets and cache ($"+envDataDir+"; default: your user config and cache folders)")
	pf.StringVar(&g.upstream, "upstream", os.Getenv(envUpstream),
		"the mail service to bridge ($"+envUpstream+"); today only \"mock\", the development backend")
	pf.StringVar(&g.passphraseFile, "vault-passphrase-file", os.Getenv(envPassphraseFile),
		"protect the vault with the passphrase in this file instead of the OS keychain or a key file ($"+envPassphraseFile+")")
	root.AddCommand(demoCmd(g), serveCmd(g), infoCmd(g), statusCmd(g), accountCmd(g), passwordCmd(g),
		configCmd(g), keyCmd(g), certCmd(g), clientConfigCmd(g), serviceCmd(g), mockCmd(g))
	return root
}

// Environment variables that stand in for flags.
const (
	envDataDir        = "MAILBRIDGE_DATA_DIR"
	envUpstream       = "MAILBRIDGE_UPSTREAM"
	envPassphraseFile = "MAILBRIDGE_VAULT_PASSPHRASE_FILE"
)

// logger writes to stderr, so that stdout carries only what a command
// prints. Without --log-level the daemon's saved setting decides.
func (g *globals) logger() (*slog.Logger, error) {
	if g.logLevel != "" {
		var level slog.Level
		if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
			return nil, fmt.Errorf("--log-level: %w", err)
		}
		g.level.Set(level)
	}
	opts := &slog.HandlerOptions{Level: g.level}
	if g.logJSON {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
}

// defaultDemoDir is where the demo keeps its state unless told otherwise.
func defaultDemoDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "mailbridge-demo")
}
