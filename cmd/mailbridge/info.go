package main

import (
	"encoding/json"
	"os"

	"github.com/spf13/cobra"

	"github.com/mailbridge/mailbridge/bridge"
	"github.com/mailbridge/mailbridge/vault"
)

func infoCmd() *cobra.Command {
	var dataDir string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "info",
		Short: "Print the settings a mail client needs",
		Long: "Print the server, port, security, username and password for each protocol,\n" +
			"as saved in the data dir, whether or not the bridge is running.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info, err := bridge.ReadInfo(dataDir, vault.SystemKeyring())
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			}
			return info.WriteTable(cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", envOr("MAILBRIDGE_DATA_DIR", defaultDemoDir()), "the bridge's data folder ($MAILBRIDGE_DATA_DIR)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
