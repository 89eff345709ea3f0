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
			"listeners move to their new port or security without a restart.\n\nSettings:\n" + keyHelp(),
	}
	var asJSON bool
	get := &cobra.Command{
		Use:       "get [KEY]",
		Short:     "Show all settings, or one",
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: keyNames(),
		RunE: func(cmd *cobra.Command, args []string) error {
			var entries []bridge.ConfigEntry
			if err := g.call(cmd.Context(), bridge.MethodConfigGet, nil, &entries, nil, false); err != nil {
				return err
			}
			if len(args) == 1 {
				for _, e := range entries {
					if e.Key == args[0] {
						fmt.Fprintln(cmd.OutOrStdout(), e.Value)
						return nil
					}
				}
				return fmt.Errorf("unknown setting %q; settings are: %s", args[0], strings.Join(keyNames(), ", "))
			}
			return writeConfig(cmd, entries, asJSON)
		},
	}
	get.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	set := &cobra.Command{
		Use:   "set KEY VALUE",
		Short: "Change a setting",
		Example: "  mailbridge config set imap-port 2143\n  mailbridge config set smtp-security off\n" +
			"  mailbridge config set unencrypted-sending refuse",
		Args: cobra.ExactArgs(2),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return keyNames(), cobra.ShellCompDirectiveNoFileComp
			}
			switch {
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
			p := bridge.ConfigSetParams{Key: args[0], Value: args[1]}
			if err := g.call(cmd.Context(), bridge.MethodConfigSet, p, &entries, nil, false); err != nil {
				return err
			}
			for _, e := range entries {
				if e.Key == args[0] {
					fmt.Fprintf(cmd.OutOrStdout(), "%s = %s\n", e.Key, e.Value)
				}
			}
			return nil
		},
	}
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
		fmt.Fprintf(tw, "%s\t%s\n", e.Key, e.Value)
	}
	return tw.Flush()
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
