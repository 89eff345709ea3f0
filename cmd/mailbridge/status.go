package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailbridge/mailbridge/bridge"
	"github.com/mailbridge/mailbridge/vault"
)

func infoCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "info",
		Short: "Print the settings a mail client needs",
		Long: "Print the server, port, security, username and password for each protocol. The\n" +
			"running daemon answers; without one, they are read from the data dir.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info, err := g.readInfo(cmd)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), info)
			}
			return info.WriteTable(cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// readInfo asks the daemon, or reads the vault. Without --data-dir and
// without data in the default folder, it falls back to the demo's.
func (g *globals) readInfo(cmd *cobra.Command) (bridge.Info, error) {
	data, err := g.dataDirOnly()
	if err != nil {
		return bridge.Info{}, err
	}
	if g.dataDir == "" && !vault.Exists(data) && vault.Exists(defaultDemoDir()) {
		fmt.Fprintf(cmd.ErrOrStderr(), "(no accounts in %s; showing the demo's, in %s)\n", data, defaultDemoDir())
		data = defaultDemoDir()
	}
	if c, err := bridge.Dial(data); err == nil {
		var info bridge.Info
		err := c.Call(cmd.Context(), bridge.MethodInfo, nil, &info, nil)
		return info, err
	}
	pass, err := g.passphrase()
	if err != nil {
		return bridge.Info{}, err
	}
	info, err := bridge.ReadInfo(data, vault.SystemKeyring(), pass)
	if errors.Is(err, bridge.ErrNoData) {
		return info, fmt.Errorf("%w: add an account with `mailbridge account add`, or try `mailbridge demo`", err)
	}
	if err != nil {
		return info, explainVaultError(err, data)
	}
	return info, nil
}

func statusCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show what the running daemon is doing",
		Long: "Show the running daemon's accounts, sync progress, outbox, last errors, listeners,\n" +
			"certificate and vault key source. Exits with status 3 when no daemon runs.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := g.dataDirOnly()
			if err != nil {
				return err
			}
			c, err := bridge.Dial(data)
			if err != nil {
				if asJSON {
					writeJSON(cmd.OutOrStdout(), bridge.Status{DataDir: data, Listeners: []bridge.ListenerStatus{}, Accounts: []bridge.AccountStatus{}})
				}
				return exitCode{3, fmt.Errorf("%w (start it with `mailbridge serve` or `mailbridge service install`)", err)}
			}
			var st bridge.Status
			if err := c.Call(cmd.Context(), bridge.MethodStatus, nil, &st, nil); err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), st)
			}
			return writeStatus(cmd.OutOrStdout(), st)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func writeStatus(w io.Writer, st bridge.Status) error {
	fmt.Fprintf(w, "mailbridge is running (PID %d, up %v)\n", st.PID, time.Duration(st.Uptime)*time.Second)
	fmt.Fprintf(w, "Data:        %s\n", st.DataDir)
	fmt.Fprintf(w, "Mail service: %s\n", st.Upstream)
	fmt.Fprintf(w, "Vault key:   %s\n", vaultKeyText(st.VaultKey))
	days := int(time.Until(st.Certificate.NotAfter).Hours() / 24)
	fmt.Fprintf(w, "Certificate: %s (expires %s, in %d days; covers %s)\n\n", st.Certificate.Path,
		st.Certificate.NotAfter.Format("2006-01-02"), days, strings.Join(st.Certificate.Hosts, ", "))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LISTENER\tADDRESS\tSECURITY\tSTATE")
	for _, l := range st.Listeners {
		state := "listening"
		if !l.Listening {
			state = "off"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", l.Name, l.Address, l.Security, state)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	return writeAccounts(w, st.Accounts)
}

func vaultKeyText(src string) string {
	switch src {
	case string(vault.KeySourceKeychain):
		return "OS keychain"
	case string(vault.KeySourceFile):
		return "key file (vault.key, readable only by you; no OS keychain was available)"
	case string(vault.KeySourcePassphrase):
		return "passphrase (--vault-passphrase-file)"
	}
	return src
}

// stderrIsTerminal is used to pick progress bars over log lines.
func stderrIsTerminal() bool {
	fi, err := os.Stderr.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
