package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailbridge/mailbridge/bridge"
)

// maxKeyFile bounds a key file: real public keys are a few KiB, and the
// control socket takes messages of up to 1 MiB.
const maxKeyFile = 512 << 10

func keyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Pin contacts' public keys, for recipients the key server does not know",
		Long: "Mail to a recipient is encrypted to the key the mail service's key server publishes\n" +
			"for the address. For a contact outside the service, pin their OpenPGP public key\n" +
			"here (per account): mail to the address is then encrypted to it. The key server's\n" +
			"key, when there is one, still wins. Pinned keys are kept in the vault.",
	}
	cmd.AddCommand(keyPinCmd(g), keyListCmd(g), keyUnpinCmd(g))
	return cmd
}

func keyPinCmd(g *globals) *cobra.Command {
	var emails []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "pin ACCOUNT FILE",
		Short: "Pin a contact's public key for the addresses in its user IDs",
		Long: "Pin the OpenPGP public key in FILE (armored or binary; - reads standard input) for\n" +
			"ACCOUNT (username, address or ID): for every e-mail address in the key's user IDs,\n" +
			"or only for the addresses given with --email. A key pinned before for one of the\n" +
			"addresses is replaced. Private keys are refused; only public keys are stored.",
		Example: "  gpg --export --armor carol@example.org > carol.asc\n" +
			"  mailbridge key pin me@example.test carol.asc\n" +
			"  mailbridge key pin me@example.test carol.asc --email carol@work.example\n" +
			"  gpg --export --armor carol@example.org | mailbridge key pin me@example.test -",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readKeyFile(cmd, args[1])
			if err != nil {
				return err
			}
			var keys []bridge.PinnedKey
			p := bridge.KeyPinParams{Account: args[0], Key: data, Emails: emails}
			if err := g.call(cmd.Context(), bridge.MethodKeyPin, p, &keys, nil, false); err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), keys)
			}
			for _, k := range keys {
				fmt.Fprintf(cmd.OutOrStdout(), "Pinned %s for <%s>.\n", k.Fingerprint, k.Email)
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&emails, "email", nil, "pin for this address (repeat or separate with commas) instead of the key's own")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func readKeyFile(cmd *cobra.Command, name string) ([]byte, error) {
	var r io.Reader = cmd.InOrStdin()
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("read key: %w", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxKeyFile+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("read key: %w", err)
	case len(data) > maxKeyFile:
		return nil, fmt.Errorf("read key: %s is larger than %d KiB; export only the contact's public key", name, maxKeyFile>>10)
	case len(data) == 0:
		return nil, fmt.Errorf("read key: %s is empty", name)
	}
	return data, nil
}

func keyListCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list ACCOUNT",
		Aliases: []string{"ls"},
		Short:   "List the keys pinned for an account",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var keys []bridge.PinnedKey
			if err := g.call(cmd.Context(), bridge.MethodKeyList, bridge.AccountParams{Account: args[0]}, &keys, nil, false); err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), keys)
			}
			return writeKeys(cmd.OutOrStdout(), keys)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func writeKeys(w io.Writer, keys []bridge.PinnedKey) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EMAIL\tFINGERPRINT\tEXPIRES\tUSER IDS")
	for _, k := range keys {
		exp := "never"
		if !k.Expires.IsZero() {
			exp = k.Expires.Format(time.DateOnly)
		}
		if !k.Usable {
			exp += " (unusable)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Email, k.Fingerprint, exp, strings.Join(k.UserIDs, "; "))
	}
	if len(keys) == 0 {
		fmt.Fprintln(tw, "(no pinned keys; pin one with `mailbridge key pin`)")
	}
	return tw.Flush()
}

func keyUnpinCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "unpin ACCOUNT EMAIL",
		Aliases: []string{"rm"},
		Short:   "Forget the key pinned for an address",
		Long: "Forget the key pinned for EMAIL in ACCOUNT. Mail to the address is then sent as the\n" +
			"key server and the sending settings decide.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var k bridge.PinnedKey
			p := bridge.KeyUnpinParams{Account: args[0], Email: args[1]}
			if err := g.call(cmd.Context(), bridge.MethodKeyUnpin, p, &k, nil, false); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Unpinned %s for <%s>.\n", k.Fingerprint, k.Email)
			return nil
		},
	}
}
