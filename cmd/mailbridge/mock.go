package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailbridge/mailbridge/bridge"
	"github.com/mailbridge/mailbridge/upstream"
	"github.com/mailbridge/mailbridge/upstream/mock"
)

// The development backend: the mock upstream with its state in
// DATA-DIR/upstream, so that `account add`, `serve` and the rest can be
// tried for real before a real provider backend exists. Mail it "sends"
// is written under DATA-DIR/delivered, as in the demo.

// methodMockAddUser creates a user on the mock: a control method, so it
// works whether the daemon (which then holds the mock's state) runs or not.
const methodMockAddUser = "mock.add-user"

type mockUserParams struct {
	Username string `json:"username"`
	Password string `json:"password"`
	TOTP     bool   `json:"totp,omitempty"`
	Messages int    `json:"messages,omitempty"`
	Seed     int64  `json:"seed,omitempty"`
}

type mockUserResult struct {
	Username   string `json:"username"`
	TOTPSecret string `json:"totp_secret,omitempty"`
	TOTPURI    string `json:"totp_uri,omitempty"`
	Messages   int    `json:"messages"`
}

func openMock(dataDir string, log *slog.Logger) (*backend, error) {
	up, err := mock.New(mock.Options{
		Dir:         filepath.Join(dataDir, "upstream"),
		Logger:      log.With("component", "mock-upstream"),
		DeliverHook: deliveredWriter(filepath.Join(dataDir, "delivered"), log),
	})
	if err != nil {
		return nil, fmt.Errorf("open the mock mail service: %w", err)
	}
	addUser := func(ctx context.Context, raw json.RawMessage, _ bridge.Prompt) (any, error) {
		var p mockUserParams
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, err
		}
		return mockAddUser(up, p)
	}
	return &backend{
		Backend: up,
		name:    "mock (development backend)",
		methods: map[string]bridge.Method{methodMockAddUser: addUser},
		close:   up.Close,
	}, nil
}

func mockAddUser(up *mock.Server, p mockUserParams) (mockUserResult, error) {
	spec := mock.UserSpec{Username: p.Username, Password: p.Password}
	res := mockUserResult{Username: p.Username}
	if p.TOTP {
		spec.TOTPSecret = make([]byte, 20)
		if _, err := rand.Read(spec.TOTPSecret); err != nil {
			return res, err
		}
		res.TOTPSecret = mock.EncodeTOTPSecret(spec.TOTPSecret)
		res.TOTPURI = mock.TOTPURI(p.Username, spec.TOTPSecret)
	}
	if err := up.AddUser(spec); err != nil {
		if errors.Is(err, mock.ErrUserExists) {
			return res, fmt.Errorf("the mock already has a user %q", p.Username)
		}
		return res, err
	}
	if p.Messages > 0 {
		if err := up.Seed(p.Username, p.Messages, p.Seed); err != nil {
			return res, fmt.Errorf("seed sample mail: %w", err)
		}
		res.Messages = p.Messages
	}
	return res, nil
}

func mockCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mock",
		Short: "Manage users of the development mail service (--upstream mock)",
		Long: "The mock is a built-in stand-in for an end-to-end encrypted mail service, kept in\n" +
			"DATA-DIR/upstream. Create a user on it, then add that user to mailbridge with\n" +
			"`mailbridge account add`, exactly as you would with a real service.",
	}
	cmd.AddCommand(mockAddUserCmd(g), mockTOTPCmd())
	return cmd
}

func mockAddUserCmd(g *globals) *cobra.Command {
	var p mockUserParams
	var passwordFile string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "add-user EMAIL",
		Short: "Create a user on the mock mail service",
		Long: "Create a user on the mock mail service, with a new key pair locked by its password.\n" +
			"The password is read from --password-file, or from standard input (without echo\n" +
			"on a terminal). --totp gives the user a second factor and prints its secret.",
		Example: "  mailbridge --upstream mock mock add-user me@example.test --password-file pw.txt --messages 100",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.upstream == "" {
				g.upstream = "mock"
			}
			if g.upstream != "mock" && g.upstream != "mock:" {
				return fmt.Errorf("mock add-user works only with --upstream mock")
			}
			p.Username = args[0]
			in := newInput(cmd)
			pw, err := in.secret(passwordFile, "Password for the new mock user: ")
			if err != nil {
				return err
			}
			p.Password = pw
			var res mockUserResult
			if err := g.call(cmd.Context(), methodMockAddUser, p, &res, nil, true); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return writeJSON(out, res)
			}
			fmt.Fprintf(out, "Created %s on the mock mail service", res.Username)
			if res.Messages > 0 {
				fmt.Fprintf(out, " with %d sample messages", res.Messages)
			}
			fmt.Fprintln(out, ".")
			if res.TOTPSecret != "" {
				fmt.Fprintf(out, "Second factor (TOTP) secret: %s\n  %s\n"+
					"Add it to an authenticator app, or get the current code with: mailbridge mock totp %s\n",
					res.TOTPSecret, res.TOTPURI, res.TOTPSecret)
			}
			fmt.Fprintf(out, "Next: mailbridge --upstream mock account add %s\n", res.Username)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&passwordFile, "password-file", "", "read the password from this file (first line)")
	f.BoolVar(&p.TOTP, "totp", false, "require a second factor (a TOTP code) at login")
	f.IntVar(&p.Messages, "messages", 0, "seed this many sample messages")
	f.Int64Var(&p.Seed, "seed", 1, "seed for the sample messages")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func mockTOTPCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "totp SECRET",
		Short: "Print the current second-factor code for a TOTP secret",
		Long:  "Print the current RFC 6238 code for a base32 TOTP secret, as an authenticator app would.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			secret, err := mock.DecodeTOTPSecret(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), mock.TOTPCode(secret, time.Now()))
			return nil
		},
	}
}

var _ upstream.Backend = (*backend)(nil)
