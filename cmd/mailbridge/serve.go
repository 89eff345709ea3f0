package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/mailbridge/mailbridge/bridge"
)

func serveCmd(g *globals) *cobra.Command {
	var resetCache bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the daemon in the foreground",
		Long: "Run mailbridge in the foreground: for a service manager (see `mailbridge service`)\n" +
			"or a terminal. It serves every added account over IMAP and SMTP on the configured\n" +
			"listeners and answers `mailbridge status` and the other commands over a control\n" +
			"socket in the data dir. On a terminal an initial sync shows a progress bar;\n" +
			"otherwise it is reported in log lines.\n\n" +
			"SIGTERM or Ctrl-C stops accepting connections, lets messages being sent and IMAP\n" +
			"commands in flight finish (up to 5 seconds), flushes the caches and exits with\n" +
			"status 0.\n\n" +
			"The mail service is chosen with --upstream. Until a real provider backend exists,\n" +
			"the only choice is \"mock\": a development backend kept in DATA-DIR/upstream\n" +
			"(create users on it with `mailbridge mock add-user`).",
		Example: "  mailbridge --upstream mock serve\n  MAILBRIDGE_UPSTREAM=mock mailbridge serve --log-json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAsService(cmd.Context(), func(ctx context.Context) error { return serve(ctx, cmd, g, resetCache) })
		},
	}
	cmd.Flags().BoolVar(&resetCache, "reset-cache", false,
		"throw the local caches away and download every account again (refused while a\n"+
			"cache still holds changes not yet sent to the server)")
	return cmd
}

func serve(ctx context.Context, cmd *cobra.Command, g *globals, resetCache bool) error {
	log, err := g.logger()
	if err != nil {
		return err
	}
	data, err := g.dataDirOnly()
	if err != nil {
		return err
	}
	lock, err := lockDataDir(data, "serve")
	if err != nil {
		return err
	}
	defer lock.Release()
	be, err := g.openBackend(data, log, true)
	if err != nil {
		return err
	}
	defer be.close()
	opts, err := g.bridgeOptions(log, be, "serve")
	if err != nil {
		return err
	}
	opts.Lock = lock
	opts.ResetCache = resetCache
	b, err := openBridge(opts)
	if err != nil {
		return err
	}
	defer b.Close()
	out := cmd.OutOrStdout()
	return b.Run(ctx, func(info bridge.Info) {
		fmt.Fprintf(out, "mailbridge is running (data in %s). Point your mail client at:\n\n", data)
		info.WriteTable(out)
		if len(info.Accounts) == 0 {
			fmt.Fprintln(out, "\nAdd an account with `mailbridge account add` (in another terminal).")
		}
		go reportSync(ctx, b, out, log, stderrIsTerminal())
	})
}

// reportSync shows the initial sync of every account that has not
// finished one: a progress bar on a terminal, log lines otherwise. It
// keeps watching, so accounts added later are reported too.
func reportSync(ctx context.Context, b *bridge.Bridge, out io.Writer, log *slog.Logger, tty bool) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var (
		bar      *progressbar.ProgressBar
		started  time.Time
		lastLine time.Time
		syncing  bool
	)
	for {
		var done, total int64
		pending := 0
		for _, a := range b.Status().Accounts {
			if a.Synced || a.State == "error" || a.State == "stopped" {
				continue
			}
			pending++
			done += a.Done
			total += a.Total
		}
		switch {
		case pending > 0 && !syncing:
			syncing, started = true, time.Now()
			if tty {
				bar = progressbar.NewOptions64(max(total, 1),
					progressbar.OptionSetWriter(os.Stderr),
					progressbar.OptionSetDescription("initial sync"),
					progressbar.OptionShowCount(),
					progressbar.OptionSetPredictTime(true),
					progressbar.OptionThrottle(100*time.Millisecond),
					progressbar.OptionClearOnFinish())
			}
		case pending == 0 && syncing:
			syncing = false
			if bar != nil {
				bar.Finish()
				bar = nil
			}
			fmt.Fprintf(out, "initial sync complete in %v\n", time.Since(started).Round(time.Millisecond))
		}
		if syncing {
			if bar != nil {
				bar.ChangeMax64(max(total, 1))
				bar.Set64(done)
			} else if time.Since(lastLine) >= 5*time.Second {
				lastLine = time.Now()
				log.Info("initial sync", "done", done, "total", total, "accounts", pending)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
