// Command mailbridge is a local bridge that serves an end-to-end encrypted
// mailbox to ordinary mail clients over IMAP and SMTP.
package main

import (
	"context"
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
		os.Exit(1)
	}
}

// globals are the flags every command shares.
type globals struct {
	logLevel string
	logJSON  bool
}

func rootCmd() *cobra.Command {
	var g globals
	root := &cobra.Command{
		Use:   "mailbridge",
		Short: "Use an end-to-end encrypted mailbox from any mail client",
		Long: "mailbridge runs on your computer between your mail client and an end-to-end\n" +
			"encrypted mail service. It decrypts mail for your client over IMAP and encrypts\n" +
			"what you send over SMTP, on 127.0.0.1, with TLS.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.PersistentFlags().BoolVar(&g.logJSON, "log-json", false, "write logs as JSON lines")
	root.AddCommand(demoCmd(&g), infoCmd())
	return root
}

// logger writes to stderr, so that stdout carries only what a command prints.
func (g *globals) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
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
