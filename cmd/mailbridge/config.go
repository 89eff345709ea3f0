package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mailbridge/mailbridge/bridge"
)

func configCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show or change settings: listeners, security, sending policy, log level",
		Long: "Show or change mailbridge's settings. A running daemon applies a change at once:\n" +
			"listeners move to their new port or security without a restart.\n\nSettings:\n" + keyHelp() +
			"\nThe sending settings (" + strings.Join(accountKeyNames(), ", ") + ") are defaults:\n" +
			"with --account ACCOUNT (username, address or ID), `config get` shows what that account\n" +
			"sends with, and `config set` gives it its own value; the value \"" + bridge.ValueDefault + "\" makes it\n" +
			"follow the bridge-wide setting again.",
	}
	var asJSON bool
	var getAccount, setAccount string
	get := &cobra.Command{
		Use:       "get [KEY]",
		Short:     "Show all settings, or one",
		Example:   "  mailbridge config get\n  mailbridge config get --account me@example.test",
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: keyNames(),
		RunE: func(cmd *cobra.Command, args []string) error {
			var entries []bridge.ConfigEntry
			p := bridge.ConfigGetParams{Account: getAccount}
			if err := g.call(cmd.Context(), bridge.MethodConfigGet, p, &entries, nil, false); err != nil {
				return err
			}
			if len(args) == 1 {
				for _, e := range entries {
					if e.Key == args[0] {
						fmt.Fprintln(cmd.OutOrStdout(), e.Value)
						return nil
					}
				}
				names := keyNames()
				if getAccount != "" {
					names = accountKeyNames()
				}
				return fmt.Errorf("unknown setting %q; settings are: %s", args[0], strings.Join(names, ", "))
			}
			return writeConfig(cmd, entries, asJSON)
		},
	}
	get.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	get.Flags().StringVar(&getAccount, "account", "", "show the sending settings of this account")
	set := &cobra.Command{
		Use:   "set [--account ACCOUNT] KEY VALUE",
		Short: "Change a setting, bridge-wide or for one account",
		Example: "  mailbridge config set imap-port 2143\n  mailbridge config set smtp-security off\n" +
			"  mailbridge config set unencrypted-sending refuse\n" +
			"  mailbridge config set sign-unencrypted true\n" +
			"  mailbridge config set --account me@example.test attach-public-key true\n" +
			"  mailbridge config set --account me@example.test attach-public-key default",
		Args: cobra.ExactArgs(2),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return keyNames(), cobra.ShellCompDirectiveNoFileComp
			}
			switch {
			case args[0] == "sign-unencrypted" || args[0] == "attach-public-key":
				return []string{"true", "false", bridge.ValueDefault}, cobra.ShellCompDirectiveNoFileComp
			case strings.HasSuffix(args[0], "-security"):
				return []string{"starttls", "tls", "off"}, cobra.ShellCompDirectiveNoFileComp
			case args[0] == "unencrypted-sending":
				return []string{"allow", "refuse"}, cobra.ShellCompDirectiveNoFileComp
			case args[0] == "log-level":
				return []string{"debug", "info", "warn", "error"}, cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var entries []bridge.ConfigEntry
			p := bridge.ConfigSetParams{Key: args[0], Value: args[1], Account: setAccount}
			if err := g.call(cmd.Context(), bridge.MethodConfigSet, p, &entries, nil, false); err != nil {
				return err
			}
			for _, e := range entries {
				if e.Key == args[0] {
					fmt.Fprintf(cmd.OutOrStdout(), "%s = %s%s\n", e.Key, e.Value, scopeNote(e.Scope))
				}
			}
			return nil
		},
	}
	set.Flags().StringVar(&setAccount, "account", "", "set the value for this account only (username, address or ID)")
	cmd.AddCommand(get, set)
	return cmd
}

func writeConfig(cmd *cobra.Command, entries []bridge.ConfigEntry, asJSON bool) error {
	if asJSON {
		m := make(map[string]string, len(entries))
		for _, e := range entries {
			m[e.Key] = e.Value
		}
		return writeJSON(cmd.OutOrStdout(), m)
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Key, e.Value, strings.TrimSpace(scopeNote(e.Scope)))
	}
	return tw.Flush()
}

// scopeNote tells, for an account's setting, where its value comes from.
func scopeNote(scope string) string {
	switch scope {
	case bridge.ScopeAccount:
		return "  (this account)"
	case bridge.ScopeDefault:
		return "  (bridge-wide default)"
	}
	return ""
}

func accountKeyNames() []string {
	var out []string
	for _, k := range bridge.AccountConfigKeys() {
		out = append(out, k.Key)
	}
	return out
}

func keyNames() []string {
	var out []string
	for _, k := range bridge.ConfigKeys() {
		out = append(out, k.Key)
	}
	return out
}

func keyHelp() string {
	var b strings.Builder
	for _, k := range bridge.ConfigKeys() {
		fmt.Fprintf(&b, "  %-20s %s\n", k.Key, k.Help)
	}
	return b.String()
}
