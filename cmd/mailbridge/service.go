package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"
)

// servicePlan is how to run mailbridge as a background service on one OS.
type servicePlan struct {
	kind    string // "systemd user unit", "launchd agent", "Windows service"
	path    string // the file to write; "" when the OS keeps no file (Windows)
	content string // the file, or the commands to run on Windows
	// install and uninstall run after writing / before removing the file.
	install, uninstall [][]string
	status             []string
}

// serveArgs are the arguments the service runs mailbridge with: serve and
// the global flags this command was given, so the service uses the same
// data dir, mail service and vault passphrase.
func (g *globals) serveArgs() ([]string, error) {
	args := []string{"serve"}
	abs := func(p string) (string, error) { return filepath.Abs(p) }
	if g.dataDir != "" {
		d, err := abs(g.dataDir)
		if err != nil {
			return nil, err
		}
		args = append(args, "--data-dir", d)
	}
	if g.upstream != "" {
		args = append(args, "--upstream", g.upstream)
	}
	if g.passphraseFile != "" {
		p, err := abs(g.passphraseFile)
		if err != nil {
			return nil, err
		}
		args = append(args, "--vault-passphrase-file", p)
	}
	if g.logLevel != "" {
		args = append(args, "--log-level", g.logLevel)
	}
	return args, nil
}

const serviceName = "mailbridge"

func planService(goos, exe string, args []string, home, configDir string) servicePlan {
	switch goos {
	case "darwin":
		label := "local.mailbridge"
		path := filepath.Join(home, "Library", "LaunchAgents", label+".plist")
		return servicePlan{
			kind:      "launchd agent",
			path:      path,
			content:   launchdPlist(label, exe, args, filepath.Join(home, "Library", "Logs", "mailbridge.log")),
			install:   [][]string{{"launchctl", "load", "-w", path}},
			uninstall: [][]string{{"launchctl", "unload", "-w", path}},
			status:    []string{"launchctl", "list", label},
		}
	case "windows":
		bin := `"` + exe + `" ` + strings.Join(quoteAll(args, windowsQuote), " ")
		cmds := [][]string{
			{"sc.exe", "create", serviceName, "binPath=", bin, "start=", "auto", "DisplayName=", "mailbridge"},
			{"sc.exe", "failure", serviceName, "reset=", "86400", "actions=", "restart/5000/restart/5000/restart/60000"},
			{"sc.exe", "start", serviceName},
		}
		var b strings.Builder
		for _, c := range cmds {
			b.WriteString(strings.Join(quoteAll(c, windowsQuote), " ") + "\n")
		}
		return servicePlan{
			kind:      "Windows service",
			content:   b.String(),
			install:   cmds,
			uninstall: [][]string{{"sc.exe", "stop", serviceName}, {"sc.exe", "delete", serviceName}},
			status:    []string{"sc.exe", "query", serviceName},
		}
	}
	unit := serviceName + ".service"
	return servicePlan{
		kind:    "systemd user unit",
		path:    filepath.Join(configDir, "systemd", "user", unit),
		content: systemdUnit(exe, args),
		install: [][]string{
			{"systemctl", "--user", "daemon-reload"},
			{"systemctl", "--user", "enable", "--now", unit},
		},
		uninstall: [][]string{
			{"systemctl", "--user", "disable", "--now", unit},
			{"systemctl", "--user", "daemon-reload"},
		},
		status: []string{"systemctl", "--user", "status", "--no-pager", unit},
	}
}

func systemdUnit(exe string, args []string) string {
	return "[Unit]\n" +
		"Description=mailbridge: your end-to-end encrypted mailbox for any mail client\n\n" +
		"[Service]\n" +
		"Type=simple\n" +
		"ExecStart=" + strings.Join(quoteAll(append([]string{exe}, args...), systemdQuote), " ") + "\n" +
		"# SIGTERM drains connections and flushes the caches, then exits 0.\n" +
		"Restart=on-failure\n" +
		"RestartSec=5s\n" +
		"TimeoutStopSec=30s\n\n" +
		"[Install]\n" +
		"WantedBy=default.target\n"
}

// systemdQuote quotes one ExecStart argument: specifiers (%) and variable
// expansion ($) are escaped, and arguments with spaces or quotes are quoted.
func systemdQuote(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	s = strings.ReplaceAll(s, "$", "$$")
	if s != "" && !strings.ContainsAny(s, " \t\"'\\;") {
		return s
	}
	s = strings.ReplaceAll(s, `\`, `\\`)
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

func windowsQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"") {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

func quoteAll(args []string, q func(string) string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = q(a)
	}
	return out
}

func launchdPlist(label, exe string, args []string, logPath string) string {
	argv := make([]plistValue, 0, len(args)+1)
	for _, a := range append([]string{exe}, args...) {
		argv = append(argv, a)
	}
	agent := plistDict{
		{"Label", label},
		{"ProgramArguments", argv},
		{"RunAtLoad", true},
		// Restart after a crash, not after a clean stop.
		{"KeepAlive", plistDict{{"SuccessfulExit", false}}},
		{"ProcessType", "Background"},
		{"StandardOutPath", logPath},
		{"StandardErrorPath", logPath},
	}
	var b bytes.Buffer
	writePlist(&b, agent)
	return b.String()
}

func (g *globals) servicePlan() (servicePlan, error) {
	exe, err := os.Executable()
	if err != nil {
		return servicePlan{}, err
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return servicePlan{}, err
	}
	args, err := g.serveArgs()
	if err != nil {
		return servicePlan{}, err
	}
	home, _ := os.UserHomeDir()
	cfg, err := os.UserConfigDir()
	if err != nil && runtime.GOOS == "linux" {
		return servicePlan{}, fmt.Errorf("no user config folder: %w", err)
	}
	return planService(runtime.GOOS, exe, args, home, cfg), nil
}

func serviceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Run mailbridge in the background, started at login and restarted on failure",
		Long: "Install mailbridge as a background service for your user: a systemd user unit on\n" +
			"Linux, a launchd agent on macOS, a Windows service. It runs `mailbridge serve` with\n" +
			"the --data-dir, --upstream and --vault-passphrase-file given here, and is restarted\n" +
			"if it fails. --print shows the file (or the Windows commands) instead of installing.\n\n" +
			"On a headless Linux server, also run `loginctl enable-linger $USER` so the service\n" +
			"runs without an open login session.",
	}
	var printOnly, noStart bool
	install := &cobra.Command{
		Use:     "install",
		Short:   "Install and start the service",
		Example: "  mailbridge --upstream mock service install\n  mailbridge --upstream mock service install --print > mailbridge.service",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := g.servicePlan()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if printOnly {
				_, err := fmt.Fprint(out, p.content)
				return err
			}
			if p.path == "" {
				fmt.Fprintf(out, "Run these commands in an administrator prompt:\n\n%s", p.content)
				return nil
			}
			if err := os.MkdirAll(filepath.Dir(p.path), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(p.path, []byte(p.content), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(out, "Wrote the %s %s\n", p.kind, p.path)
			return runSteps(cmd, p.install, noStart, "start it")
		},
	}
	install.Flags().BoolVar(&printOnly, "print", false, "print the service file instead of installing it")
	install.Flags().BoolVar(&noStart, "no-start", false, "write the file but do not enable or start the service")

	uninstall := &cobra.Command{
		Use:   "uninstall",
		Short: "Stop and remove the service (accounts and data stay)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := g.servicePlan()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if p.path == "" {
				var b strings.Builder
				for _, c := range p.uninstall {
					b.WriteString(strings.Join(quoteAll(c, windowsQuote), " ") + "\n")
				}
				fmt.Fprintf(out, "Run these commands in an administrator prompt:\n\n%s", b.String())
				return nil
			}
			if _, err := os.Stat(p.path); errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("no %s at %s: nothing to uninstall", p.kind, p.path)
			}
			_ = runSteps(cmd, p.uninstall[:1], noStart, "stop it")
			if err := os.Remove(p.path); err != nil {
				return err
			}
			fmt.Fprintf(out, "Removed %s. Your accounts and data are kept.\n", p.path)
			if len(p.uninstall) > 1 {
				_ = runSteps(cmd, p.uninstall[1:], noStart, "finish")
			}
			return nil
		},
	}
	uninstall.Flags().BoolVar(&noStart, "no-stop", false, "only remove the file; do not stop the service")

	status := &cobra.Command{
		Use:   "status",
		Short: "Show whether the service is installed and running",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := g.servicePlan()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if p.path != "" {
				if _, err := os.Stat(p.path); err != nil {
					fmt.Fprintf(out, "Not installed (no %s at %s). Install it with `mailbridge service install`.\n", p.kind, p.path)
					return exitCode{3, errors.New("service not installed")}
				}
				fmt.Fprintf(out, "Installed: %s\n", p.path)
			}
			run := exec.CommandContext(cmd.Context(), p.status[0], p.status[1:]...)
			run.Stdout, run.Stderr = out, cmd.ErrOrStderr()
			if err := run.Run(); err != nil {
				fmt.Fprintf(out, "(%s: %v)\n", strings.Join(p.status, " "), err)
			}
			return nil
		},
	}
	cmd.AddCommand(install, uninstall, status)
	return cmd
}

// runSteps runs the service manager's commands, or prints them when
// skip is set or one fails (e.g. no user session bus on a server).
func runSteps(cmd *cobra.Command, steps [][]string, skip bool, what string) error {
	out := cmd.OutOrStdout()
	printAll := func(from int) {
		fmt.Fprintf(out, "To %s, run:\n\n", what)
		for _, c := range steps[from:] {
			fmt.Fprintf(out, "  %s\n", strings.Join(quoteAll(c, shellQuote), " "))
		}
	}
	if skip {
		printAll(0)
		return nil
	}
	for i, c := range steps {
		run := exec.CommandContext(cmd.Context(), c[0], c[1:]...)
		var stderr bytes.Buffer
		run.Stdout, run.Stderr = out, &stderr
		if err := run.Run(); err != nil {
			fmt.Fprintf(out, "%s failed: %v %s\n", strings.Join(c, " "), err, strings.TrimSpace(stderr.String()))
			printAll(i)
			return err
		}
	}
	fmt.Fprintf(out, "Done: %s.\n", strings.Join(steps[len(steps)-1], " "))
	return nil
}
