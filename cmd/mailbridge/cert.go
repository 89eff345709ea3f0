package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailbridge/mailbridge/bridge"
)

func certCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "Export, trust or renew the certificate mail clients see",
		Long: "mailbridge serves IMAP and SMTP with its own self-signed certificate, valid for\n" +
			"localhost, 127.0.0.1 and ::1 plus any --host you add. Mail clients must trust it\n" +
			"once: accept it when asked, or install it into the system's trust store.",
	}
	cmd.AddCommand(certExportCmd(g), certInstallCmd(g), certRenewCmd(g))
	return cmd
}

// certFile returns the certificate's path, making sure it exists.
func (g *globals) certFile() (string, error) {
	data, err := g.dataDirOnly()
	if err != nil {
		return "", err
	}
	path := bridge.CertPath(data)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("no certificate in %s yet: run `mailbridge serve` once, or `mailbridge cert renew`", data)
	}
	return path, nil
}

func certExportCmd(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Print the certificate (PEM), or write it to a file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := g.certFile()
			if err != nil {
				return err
			}
			pem, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if out == "" {
				_, err = cmd.OutOrStdout().Write(pem)
				return err
			}
			return os.WriteFile(out, pem, 0o644)
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to this file instead of standard output")
	return cmd
}

// linuxCADir is where Debian, Ubuntu and friends take local CAs from.
const linuxCADir = "/usr/local/share/ca-certificates"

// trustPlan is how to add a certificate to the OS trust store.
type trustPlan struct {
	// copyTo, if set, is where the certificate must be copied first.
	copyTo string
	// commands run after the copy, in order.
	commands [][]string
	// canRun is false when the commands need privileges we lack: they
	// are then printed for the user.
	canRun bool
	note   string
}

// planTrust works out the trust-store commands for goos.
func planTrust(goos, cert, home string, root, caDirExists bool) trustPlan {
	switch goos {
	case "darwin":
		return trustPlan{
			commands: [][]string{{"security", "add-trusted-cert", "-r", "trustRoot", "-p", "ssl",
				"-k", filepath.Join(home, "Library", "Keychains", "login.keychain-db"), cert}},
			canRun: true,
			note:   "macOS asks for your password to change the login keychain's trust settings.",
		}
	case "windows":
		return trustPlan{
			commands: [][]string{{"certutil", "-user", "-addstore", "Root", cert}},
			canRun:   true,
			note:     "Windows asks you to confirm adding the certificate to your trusted roots.",
		}
	}
	dst := linuxCADir + "/mailbridge.crt"
	p := trustPlan{
		copyTo:   dst,
		commands: [][]string{{"update-ca-certificates"}},
		canRun:   root && caDirExists,
		note: "Thunderbird and Firefox keep their own trust store: accept the certificate when\n" +
			"Thunderbird asks, or use `mailbridge client-config thunderbird`.",
	}
	if !caDirExists {
		p.note = "This system has no " + linuxCADir + " (not Debian-like): add the certificate to its CA\n" +
			"bundle as its documentation says (e.g. trust anchor " + cert + " on Fedora).\n" + p.note
	}
	return p
}

// script renders the plan as shell commands a user can paste.
func (p trustPlan) script(cert string, sudo bool) string {
	var b strings.Builder
	prefix := ""
	if sudo {
		prefix = "sudo "
	}
	if p.copyTo != "" {
		fmt.Fprintf(&b, "%scp %s %s\n", prefix, shellQuote(cert), shellQuote(p.copyTo))
	}
	for _, c := range p.commands {
		q := make([]string, len(c))
		for i, a := range c {
			q[i] = shellQuote(a)
		}
		fmt.Fprintf(&b, "%s%s\n", prefix, strings.Join(q, " "))
	}
	return b.String()
}

func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func certInstallCmd(g *globals) *cobra.Command {
	var printOnly bool
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Trust the certificate in the OS trust store",
		Long: "Add mailbridge's certificate to the operating system's trust store: the login\n" +
			"keychain on macOS, the user's root store on Windows, the CA bundle on Debian-like\n" +
			"Linux (as root; otherwise the exact commands are printed for you to run with sudo).\n" +
			"--print only prints the commands.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cert, err := g.certFile()
			if err != nil {
				return err
			}
			home, _ := os.UserHomeDir()
			_, statErr := os.Stat(linuxCADir)
			plan := planTrust(runtime.GOOS, cert, home, os.Geteuid() == 0, statErr == nil)
			out := cmd.OutOrStdout()
			if printOnly || !plan.canRun {
				sudo := runtime.GOOS == "linux" && os.Geteuid() != 0
				fmt.Fprintf(out, "Run these commands to trust the certificate:\n\n%s\n%s\n", plan.script(cert, sudo), plan.note)
				return nil
			}
			if plan.copyTo != "" {
				pem, err := os.ReadFile(cert)
				if err != nil {
					return err
				}
				if err := os.WriteFile(plan.copyTo, pem, 0o644); err != nil {
					return fmt.Errorf("copy the certificate: %w", err)
				}
			}
			for _, c := range plan.commands {
				run := exec.CommandContext(cmd.Context(), c[0], c[1:]...)
				run.Stdout, run.Stderr = out, cmd.ErrOrStderr()
				if err := run.Run(); err != nil {
					return fmt.Errorf("%s: %w\nRun by hand:\n%s", c[0], err, plan.script(cert, false))
				}
			}
			fmt.Fprintf(out, "The certificate is trusted.\n%s\n", plan.note)
			return nil
		},
	}
	cmd.Flags().BoolVar(&printOnly, "print", false, "only print the commands")
	return cmd
}

func certRenewCmd(g *globals) *cobra.Command {
	var hosts []string
	cmd := &cobra.Command{
		Use:   "renew",
		Short: "Make a new certificate now, optionally for more host names",
		Long: "Replace the certificate now. --host adds a name or address it covers (repeat it),\n" +
			"for clients that reach mailbridge from a container or another machine (see also\n" +
			"`config set host`). Mail clients must trust the new certificate. The daemon does\n" +
			"this by itself 30 days before expiry.",
		Example: "  mailbridge cert renew --host host.docker.internal --host 192.168.1.20",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cs bridge.CertStatus
			if err := g.call(cmd.Context(), bridge.MethodCertRenew, bridge.CertRenewParams{Hosts: hosts}, &cs, nil, false); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "New certificate %s, valid until %s, for %s.\nMail clients must trust it again (`mailbridge cert install`).\n",
				cs.Path, cs.NotAfter.Format(time.DateOnly), strings.Join(cs.Hosts, ", "))
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&hosts, "host", nil, "an extra host name or IP address to cover (repeatable)")
	return cmd
}
