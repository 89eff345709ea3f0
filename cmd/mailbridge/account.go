package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mailbridge/mailbridge/bridge"
)

func accountCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "account",
		Short: "Add, list and remove accounts",
		Long: "Manage the accounts mailbridge serves. Each account has its own client password,\n" +
			"cache and sync. While the daemon runs, changes apply to it at once.",
	}
	cmd.AddCommand(accountAddCmd(g), accountListCmd(g), accountRemoveCmd(g))
	return cmd
}

func accountAddCmd(g *globals) *cobra.Command {
	var passwordFile string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "add USERNAME",
		Short: "Add an account by logging in to the mail service",
		Long: "Log in to the mail service as USERNAME and add the account. The password is read\n" +
			"from --password-file, or from standard input: typed without echo on a terminal, or\n" +
			"the first line for scripts. If the service asks for a second factor, the code is\n" +
			"asked for next (on a terminal), or read from the following line of standard input.\n\n" +
			"mailbridge keeps a session token and the key passphrase in its vault, never the\n" +
			"password itself, and prints a new password for your mail clients.",
		Example: "  mailbridge --upstream mock account add me@example.test\n" +
			"  printf '%s\\n' \"$PASSWORD\" | mailbridge --upstream mock account add me@example.test",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := newInput(cmd)
			pw, err := in.secret(passwordFile, "Password for "+args[0]+": ")
			if err != nil {
				return err
			}
			var acct bridge.AccountInfo
			params := bridge.AddAccountParams{Username: args[0], Password: pw}
			if err := g.call(cmd.Context(), bridge.MethodAccountAdd, params, &acct, in.prompter(), true); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return writeJSON(out, acct)
			}
			fmt.Fprintf(out, "Added %s (%s).\n\nIn your mail client, log in as %s with this password:\n\n    %s\n\n"+
				"`mailbridge info` shows the servers and ports; `mailbridge client-config` writes a ready profile.\n",
				acct.Username, strings.Join(acct.Addresses, ", "), acct.Username, acct.Password)
			return nil
		},
	}
	cmd.Flags().StringVar(&passwordFile, "password-file", "", "read the service password from this file (first line)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the new account as JSON")
	return cmd
}

func accountListCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the accounts and their state",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var st bridge.Status
			if err := g.call(cmd.Context(), bridge.MethodStatus, nil, &st, nil, false); err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), st.Accounts)
			}
			return writeAccounts(cmd.OutOrStdout(), st.Accounts)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func accountRemoveCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "remove ACCOUNT",
		Aliases: []string{"rm"},
		Short:   "Remove an account, its cache and its secrets",
		Long: "Remove an account (by username, address or ID): stop its sync, delete its secrets\n" +
			"from the vault and delete its local cache. Mail on the service is not touched.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var acct bridge.AccountInfo
			if err := g.call(cmd.Context(), bridge.MethodAccountRemove, bridge.AccountParams{Account: args[0]}, &acct, nil, false); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removed %s; its cache and secrets are deleted.\n", acct.Username)
			return nil
		},
	}
	return cmd
}

func passwordCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "password",
		Short: "Manage the passwords mail clients use",
	}
	var asJSON bool
	reset := &cobra.Command{
		Use:   "reset ACCOUNT",
		Short: "Give an account a new client password",
		Long: "Make a new password for mail clients to log in to ACCOUNT (username, address or\n" +
			"ID). The old one stops working at once. Your mail service password is not changed.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var acct bridge.AccountInfo
			if err := g.call(cmd.Context(), bridge.MethodPasswordReset, bridge.AccountParams{Account: args[0]}, &acct, nil, false); err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), acct)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "New password for %s:\n\n    %s\n\nUpdate it in your mail clients; the old one no longer works.\n",
				acct.Username, acct.Password)
			return nil
		},
	}
	reset.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(reset)
	return cmd
}

func writeAccounts(w interface{ Write([]byte) (int, error) }, accts []bridge.AccountStatus) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tSTATE\tSYNC\tOUTBOX\tLAST ERROR")
	for _, a := range accts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", a.Username, a.State, syncText(a), a.Outbox, a.LastError)
	}
	if len(accts) == 0 {
		fmt.Fprintln(tw, "(no accounts; add one with `mailbridge account add`)")
	}
	return tw.Flush()
}

// syncText summarises an account's sync for a table.
func syncText(a bridge.AccountStatus) string {
	switch {
	case a.State == "stopped":
		return "-"
	case a.Synced && (a.Phase == "live" || a.Phase == ""):
		return "up to date"
	case a.Total > 0:
		s := fmt.Sprintf("%s %d/%d", a.Phase, a.Done, a.Total)
		if a.ETA > 0 {
			s += fmt.Sprintf(", %ds left", a.ETA)
		}
		return s
	}
	return a.Phase
}
