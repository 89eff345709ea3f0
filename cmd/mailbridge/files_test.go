package main

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/mailbridge/mailbridge/bridge"
)

func testInfo() bridge.Info {
	return bridge.Info{
		Accounts: []bridge.AccountInfo{{ID: "abc123", Username: "me@example.test", Password: "pw<&>",
			Addresses: []string{"me@example.test", "alias@other.test"}}},
		IMAP:        bridge.Endpoint{Host: "127.0.0.1", Port: 1143, Security: "starttls"},
		IMAPS:       bridge.Endpoint{Host: "127.0.0.1", Port: 1993, Security: "tls"},
		SMTP:        bridge.Endpoint{Host: "127.0.0.1", Port: 1025, Security: "starttls"},
		SMTPS:       bridge.Endpoint{Host: "127.0.0.1", Port: 1465, Security: "off"},
		Certificate: "/x/cert.pem",
	}
}

func TestThunderbirdAutoconfig(t *testing.T) {
	info := testInfo()
	var buf bytes.Buffer
	if err := writeThunderbird(&buf, info, info.Accounts[0]); err != nil {
		t.Fatal(err)
	}
	var c tbConfig
	if err := xml.Unmarshal(buf.Bytes(), &c); err != nil {
		t.Fatalf("not well-formed: %v\n%s", err, buf.Bytes())
	}
	if c.Version != "1.1" || len(c.Provider.Domains) != 2 || c.Provider.Domains[1] != "other.test" {
		t.Errorf("config: %+v", c)
	}
	// Implicit TLS for IMAP; SMTPS is off, so STARTTLS on 1025.
	if in := c.Provider.Incoming; in.Type != "imap" || in.Port != 1993 || in.SocketType != "SSL" || in.Username != "me@example.test" {
		t.Errorf("incoming: %+v", in)
	}
	if out := c.Provider.Outgoing; out.Type != "smtp" || out.Port != 1025 || out.SocketType != "STARTTLS" {
		t.Errorf("outgoing: %+v", out)
	}
	if bytes.Contains(buf.Bytes(), []byte("pw<&>")) {
		t.Error("the autoconfig file carries the password")
	}
}

// plistValue is a parsed property-list value: string, int, bool, []byte,
// map[string]any or []any.
func parsePlist(t *testing.T, data []byte) map[string]any {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	var root map[string]any
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("plist is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "dict" {
			v, err := plistRead(d, se)
			if err != nil {
				t.Fatal(err)
			}
			root = v.(map[string]any)
		}
	}
	if root == nil {
		t.Fatal("no top-level dict")
	}
	return root
}

func plistRead(d *xml.Decoder, se xml.StartElement) (any, error) {
	switch se.Name.Local {
	case "dict":
		m := map[string]any{}
		var key string
		for {
			tok, err := d.Token()
			if err != nil {
				return nil, err
			}
			switch tok := tok.(type) {
			case xml.EndElement:
				return m, nil
			case xml.StartElement:
				if tok.Name.Local == "key" {
					if err := d.DecodeElement(&key, &tok); err != nil {
						return nil, err
					}
					continue
				}
				if key == "" {
					return nil, errors.New("dict value without a key")
				}
				v, err := plistRead(d, tok)
				if err != nil {
					return nil, err
				}
				m[key], key = v, ""
			}
		}
	case "array":
		var a []any
		for {
			tok, err := d.Token()
			if err != nil {
				return nil, err
			}
			switch tok := tok.(type) {
			case xml.EndElement:
				return a, nil
			case xml.StartElement:
				v, err := plistRead(d, tok)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
		}
	case "true", "false":
		if err := d.Skip(); err != nil {
			return nil, err
		}
		return se.Name.Local == "true", nil
	case "string", "integer", "data":
		var s string
		if err := d.DecodeElement(&s, &se); err != nil {
			return nil, err
		}
		if se.Name.Local == "data" {
			return base64.StdEncoding.DecodeString(s)
		}
		return s, nil
	}
	return nil, errors.New("unknown plist element " + se.Name.Local)
}

func TestMobileconfig(t *testing.T) {
	info := testInfo()
	pem := []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	var buf bytes.Buffer
	if err := writeMobileconfig(&buf, info, info.Accounts[0], pem); err != nil {
		t.Fatal(err)
	}
	root := parsePlist(t, buf.Bytes())
	if root["PayloadType"] != "Configuration" || root["PayloadVersion"] != "1" {
		t.Errorf("profile: %v", root)
	}
	payloads, _ := root["PayloadContent"].([]any)
	if len(payloads) != 2 {
		t.Fatalf("payloads: %v", root["PayloadContent"])
	}
	uuids := map[any]bool{root["PayloadUUID"]: true}
	var sawCert, sawMail bool
	for _, p := range payloads {
		m := p.(map[string]any)
		uuids[m["PayloadUUID"]] = true
		switch m["PayloadType"] {
		case "com.apple.security.pem":
			sawCert = bytes.Equal(m["PayloadContent"].([]byte), pem)
		case "com.apple.mail.managed":
			sawMail = m["IncomingMailServerPortNumber"] == "1993" && m["IncomingMailServerUseSSL"] == true &&
				m["OutgoingMailServerPortNumber"] == "1025" && m["IncomingPassword"] == "pw<&>" &&
				m["EmailAddress"] == "me@example.test"
		}
	}
	if !sawCert || !sawMail {
		t.Errorf("certificate payload %v, mail payload %v:\n%s", sawCert, sawMail, buf.Bytes())
	}
	if len(uuids) != 3 {
		t.Error("payload UUIDs are not distinct")
	}
	var again bytes.Buffer
	writeMobileconfig(&again, info, info.Accounts[0], pem)
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("a second profile for the same account differs: it would not replace the first")
	}
}

func TestTrustCommands(t *testing.T) {
	const cert = "/home/me/.config/mailbridge/tls/cert.pem"
	mac := planTrust("darwin", cert, "/Users/me", false, false)
	if got := mac.script(cert, false); got != "security add-trusted-cert -r trustRoot -p ssl -k /Users/me/Library/Keychains/login.keychain-db "+cert+"\n" {
		t.Errorf("macOS: %q", got)
	}
	win := planTrust("windows", `C:\Users\me\AppData\mailbridge\cert.pem`, "", false, false)
	if got := win.script(`C:\Users\me\AppData\mailbridge\cert.pem`, false); got != `certutil -user -addstore Root 'C:\Users\me\AppData\mailbridge\cert.pem'`+"\n" {
		t.Errorf("Windows: %q", got)
	}
	user := planTrust("linux", cert, "/home/me", false, true)
	if user.canRun {
		t.Error("a normal user would write the system CA folder")
	}
	if got := user.script(cert, true); got != "sudo cp "+cert+" /usr/local/share/ca-certificates/mailbridge.crt\nsudo update-ca-certificates\n" {
		t.Errorf("Linux user: %q", got)
	}
	if !planTrust("linux", cert, "/root", true, true).canRun {
		t.Error("root with a CA folder should install directly")
	}
	if p := planTrust("linux", cert, "/root", true, false); p.canRun || !strings.Contains(p.note, "no /usr/local/share/ca-certificates") {
		t.Errorf("root without a CA folder: %+v", p)
	}
}

func TestServiceFiles(t *testing.T) {
	args := []string{"serve", "--data-dir", "/home/me/mail bridge", "--upstream", "mock"}
	sd := planService("linux", "/usr/local/bin/mailbridge", args, "/home/me", "/home/me/.config")
	if sd.path != "/home/me/.config/systemd/user/mailbridge.service" {
		t.Errorf("unit path %s", sd.path)
	}
	for _, want := range []string{
		`ExecStart=/usr/local/bin/mailbridge serve --data-dir "/home/me/mail bridge" --upstream mock`,
		"Restart=on-failure", "WantedBy=default.target",
	} {
		if !strings.Contains(sd.content, want) {
			t.Errorf("unit lacks %q:\n%s", want, sd.content)
		}
	}
	if got := systemdQuote("100%$x"); got != "100%%$$x" {
		t.Errorf("systemdQuote = %q", got)
	}

	ld := planService("darwin", "/usr/local/bin/mailbridge", args, "/Users/me", "")
	root := parsePlist(t, []byte(ld.content))
	argv, _ := root["ProgramArguments"].([]any)
	if root["Label"] != "local.mailbridge" || len(argv) != 6 || argv[3] != "/home/me/mail bridge" {
		t.Errorf("launchd plist: %v", root)
	}
	if ka, _ := root["KeepAlive"].(map[string]any); ka["SuccessfulExit"] != false {
		t.Errorf("launchd KeepAlive: %v", root["KeepAlive"])
	}
	if ld.path != "/Users/me/Library/LaunchAgents/local.mailbridge.plist" {
		t.Errorf("plist path %s", ld.path)
	}

	win := planService("windows", `C:\mb\mailbridge.exe`, args, "", "")
	if !strings.Contains(win.content, `sc.exe create mailbridge binPath= "\"C:\mb\mailbridge.exe\" serve --data-dir \"/home/me/mail bridge\" --upstream mock" start= auto`) ||
		!strings.Contains(win.content, "sc.exe failure mailbridge reset= 86400 actions= restart/5000/restart/5000/restart/60000") {
		t.Errorf("Windows commands:\n%s", win.content)
	}
}

// TestSystemdAcceptsUnit runs systemd-analyze verify on the unit, with
// the real binary as ExecStart (verify checks that it exists).
func TestSystemdAcceptsUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := planService("linux", exe, []string{"serve", "--data-dir", t.TempDir(), "--upstream", "mock"}, "", t.TempDir())
	path := filepath.Join(t.TempDir(), "mailbridge.service")
	if err := os.WriteFile(path, []byte(p.content), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s\n%s", err, out, p.content)
	}
}

// TestEveryCommandHasHelp walks the command tree: each command explains
// itself, and --help works on each.
func TestEveryCommandHasHelp(t *testing.T) {
	var walk func(c *cobra.Command)
	seen := 0
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden {
				continue
			}
			seen++
			if strings.TrimSpace(sub.Short) == "" {
				t.Errorf("%q has no short help", sub.CommandPath())
			}
			root := rootCmd()
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&out)
			root.SetArgs(append(strings.Fields(sub.CommandPath())[1:], "--help"))
			if err := root.Execute(); err != nil || !strings.Contains(out.String(), "Usage:") {
				t.Errorf("%s --help: %v\n%s", sub.CommandPath(), err, out.String())
			}
			walk(sub)
		}
	}
	walk(rootCmd())
	if seen < 25 {
		t.Errorf("only %d commands found", seen)
	}
	root := rootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"completion", "bash"})
	if err := root.Execute(); err != nil || !strings.Contains(out.String(), "__start_mailbridge") {
		t.Errorf("bash completion: %v", err)
	}
}
