package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mailbridge/mailbridge/bridge"
)

func clientConfigCmd(g *globals) *cobra.Command {
	var account, output string
	cmd := &cobra.Command{
		Use:   "client-config thunderbird|apple|generic",
		Short: "Write a ready-made mail client profile",
		Long: "Write the settings for one account in a form a mail client imports:\n\n" +
			"  thunderbird  an autoconfig file (clientConfig 1.1); put it where Thunderbird looks,\n" +
			"               e.g. serve it as mail/config-v1.1.xml or copy it into Thunderbird's isp/ folder\n" +
			"  apple        a .mobileconfig profile for Apple Mail (macOS, iOS) with the account\n" +
			"               and the certificate to trust; open it and confirm in System Settings\n" +
			"  generic      a table of servers, ports, security and credentials\n\n" +
			"Implicit TLS endpoints are preferred where they are enabled.",
		Example:   "  mailbridge client-config apple -o mailbridge.mobileconfig",
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"thunderbird", "apple", "generic"},
		RunE: func(cmd *cobra.Command, args []string) error {
			info, err := g.readInfo(cmd)
			if err != nil {
				return err
			}
			acct, err := pickAccount(info, account)
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			switch args[0] {
			case "thunderbird":
				err = writeThunderbird(&buf, info, acct)
				fmt.Fprintf(cmd.ErrOrStderr(), "Thunderbird will ask for the password; it is: %s\n", acct.Password)
			case "apple":
				var pem []byte
				if pem, err = os.ReadFile(info.Certificate); err == nil {
					err = writeMobileconfig(&buf, info, acct, pem)
				}
			case "generic":
				err = writeGeneric(&buf, info, acct)
			default:
				return fmt.Errorf("unknown client %q: choose thunderbird, apple or generic", args[0])
			}
			if err != nil {
				return err
			}
			if output == "" {
				_, err = cmd.OutOrStdout().Write(buf.Bytes())
				return err
			}
			// The profiles carry the client password: keep them private.
			return os.WriteFile(output, buf.Bytes(), 0o600)
		},
	}
	cmd.Flags().StringVar(&account, "account", "", "the account (username or address); default: the first")
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of standard output")
	return cmd
}

func pickAccount(info bridge.Info, name string) (bridge.AccountInfo, error) {
	if len(info.Accounts) == 0 {
		return bridge.AccountInfo{}, fmt.Errorf("no accounts yet: add one with `mailbridge account add`")
	}
	if name == "" {
		return info.Accounts[0], nil
	}
	for _, a := range info.Accounts {
		if strings.EqualFold(a.Username, name) || a.ID == name {
			return a, nil
		}
		for _, addr := range a.Addresses {
			if strings.EqualFold(addr, name) {
				return a, nil
			}
		}
	}
	return bridge.AccountInfo{}, fmt.Errorf("no account %q", name)
}

// preferred picks the implicit-TLS endpoint of a protocol if enabled.
func preferred(tls, starttls bridge.Endpoint) (bridge.Endpoint, error) {
	for _, e := range []bridge.Endpoint{tls, starttls} {
		if e.Security == "tls" {
			return e, nil
		}
	}
	for _, e := range []bridge.Endpoint{tls, starttls} {
		if e.Security == "starttls" {
			return e, nil
		}
	}
	return bridge.Endpoint{}, fmt.Errorf("both listeners of the protocol are off (see `mailbridge config`)")
}

type tbServer struct {
	Type           string `xml:"type,attr"`
	Hostname       string `xml:"hostname"`
	Port           int    `xml:"port"`
	SocketType     string `xml:"socketType"`
	Authentication string `xml:"authentication"`
	Username       string `xml:"username"`
}

type tbConfig struct {
	XMLName  xml.Name `xml:"clientConfig"`
	Version  string   `xml:"version,attr"`
	Provider struct {
		ID               string   `xml:"id,attr"`
		Domains          []string `xml:"domain"`
		DisplayName      string   `xml:"displayName"`
		DisplayShortName string   `xml:"displayShortName"`
		Incoming         tbServer `xml:"incomingServer"`
		Outgoing         tbServer `xml:"outgoingServer"`
	} `xml:"emailProvider"`
}

func tbSocket(e bridge.Endpoint) string {
	if e.Security == "tls" {
		return "SSL"
	}
	return "STARTTLS"
}

func writeThunderbird(w io.Writer, info bridge.Info, a bridge.AccountInfo) error {
	in, err := preferred(info.IMAPS, info.IMAP)
	if err != nil {
		return fmt.Errorf("IMAP: %w", err)
	}
	out, err := preferred(info.SMTPS, info.SMTP)
	if err != nil {
		return fmt.Errorf("SMTP: %w", err)
	}
	var c tbConfig
	c.Version = "1.1"
	c.Provider.ID = "mailbridge"
	seen := map[string]bool{}
	for _, addr := range a.Addresses {
		if _, dom, ok := strings.Cut(addr, "@"); ok && !seen[dom] {
			seen[dom] = true
			c.Provider.Domains = append(c.Provider.Domains, dom)
		}
	}
	c.Provider.DisplayName = "mailbridge (" + a.Username + ")"
	c.Provider.DisplayShortName = "mailbridge"
	c.Provider.Incoming = tbServer{"imap", in.Host, in.Port, tbSocket(in), "password-cleartext", a.Username}
	c.Provider.Outgoing = tbServer{"smtp", out.Host, out.Port, tbSocket(out), "password-cleartext", a.Username}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(c); err != nil {
		return err
	}
	_, err = io.WriteString(w, "\n")
	return err
}

func writeGeneric(w io.Writer, info bridge.Info, a bridge.AccountInfo) error {
	one := info
	one.Accounts = []bridge.AccountInfo{a}
	return one.WriteTable(w)
}

// A tiny writer for property-list XML, the format of .mobileconfig
// profiles and launchd agents.
type (
	// plistValue is a string, int, bool, []byte, plistDict, []plistDict
	// or []plistValue.
	plistValue = any
	plistDict  []plistEntry
	plistEntry struct {
		key string
		val plistValue
	}
)

// writePlist writes a whole property list with d at its root.
func writePlist(b *bytes.Buffer, d plistDict) {
	b.WriteString(xml.Header)
	b.WriteString(`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n")
	b.WriteString(`<plist version="1.0">` + "\n")
	d.write(b, "")
	b.WriteString("</plist>\n")
}

func (d plistDict) write(b *bytes.Buffer, indent string) {
	b.WriteString(indent + "<dict>\n")
	for _, e := range d {
		b.WriteString(indent + "  <key>" + xmlEscape(e.key) + "</key>\n")
		writePlistValue(b, e.val, indent+"  ")
	}
	b.WriteString(indent + "</dict>\n")
}

func writePlistValue(b *bytes.Buffer, v any, indent string) {
	switch v := v.(type) {
	case string:
		b.WriteString(indent + "<string>" + xmlEscape(v) + "</string>\n")
	case int:
		b.WriteString(indent + "<integer>" + strconv.Itoa(v) + "</integer>\n")
	case bool:
		if v {
			b.WriteString(indent + "<true/>\n")
		} else {
			b.WriteString(indent + "<false/>\n")
		}
	case []byte:
		b.WriteString(indent + "<data>" + base64.StdEncoding.EncodeToString(v) + "</data>\n")
	case plistDict:
		v.write(b, indent)
	case []plistDict:
		b.WriteString(indent + "<array>\n")
		for _, d := range v {
			d.write(b, indent+"  ")
		}
		b.WriteString(indent + "</array>\n")
	case []plistValue:
		b.WriteString(indent + "<array>\n")
		for _, e := range v {
			writePlistValue(b, e, indent+"  ")
		}
		b.WriteString(indent + "</array>\n")
	}
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// stableUUID derives a UUID from seed, so that installing a new profile
// for the same account replaces the old one instead of adding another.
func stableUUID(seed string) string {
	h := sha256.Sum256([]byte("mailbridge profile " + seed))
	h[6] = h[6]&0x0f | 0x50 // version 5 layout
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

func writeMobileconfig(w io.Writer, info bridge.Info, a bridge.AccountInfo, certPEM []byte) error {
	in, err := preferred(info.IMAPS, info.IMAP)
	if err != nil {
		return fmt.Errorf("IMAP: %w", err)
	}
	out, err := preferred(info.SMTPS, info.SMTP)
	if err != nil {
		return fmt.Errorf("SMTP: %w", err)
	}
	id := "local.mailbridge." + a.ID
	certPayload := plistDict{
		{"PayloadType", "com.apple.security.pem"},
		{"PayloadVersion", 1},
		{"PayloadIdentifier", id + ".certificate"},
		{"PayloadUUID", stableUUID(a.ID + " certificate")},
		{"PayloadDisplayName", "mailbridge local certificate"},
		{"PayloadCertificateFileName", "mailbridge.pem"},
		{"PayloadContent", certPEM},
	}
	mailPayload := plistDict{
		{"PayloadType", "com.apple.mail.managed"},
		{"PayloadVersion", 1},
		{"PayloadIdentifier", id + ".mail"},
		{"PayloadUUID", stableUUID(a.ID + " mail")},
		{"PayloadDisplayName", "mailbridge: " + a.Username},
		{"EmailAccountDescription", "mailbridge (" + a.Username + ")"},
		{"EmailAccountType", "EmailTypeIMAP"},
		{"EmailAddress", a.Username},
		{"IncomingMailServerHostName", in.Host},
		{"IncomingMailServerPortNumber", in.Port},
		{"IncomingMailServerUseSSL", true},
		{"IncomingMailServerAuthentication", "EmailAuthPassword"},
		{"IncomingMailServerUsername", a.Username},
		{"IncomingPassword", a.Password},
		{"OutgoingMailServerHostName", out.Host},
		{"OutgoingMailServerPortNumber", out.Port},
		{"OutgoingMailServerUseSSL", true},
		{"OutgoingMailServerAuthentication", "EmailAuthPassword"},
		{"OutgoingMailServerUsername", a.Username},
		{"OutgoingPassword", a.Password},
		{"OutgoingPasswordSameAsIncomingPassword", true},
	}
	profile := plistDict{
		{"PayloadType", "Configuration"},
		{"PayloadVersion", 1},
		{"PayloadIdentifier", id},
		{"PayloadUUID", stableUUID(a.ID)},
		{"PayloadDisplayName", "mailbridge: " + a.Username},
		{"PayloadDescription", "Reads and sends your end-to-end encrypted mail through mailbridge on this computer, and trusts its certificate."},
		{"PayloadOrganization", "mailbridge"},
		{"PayloadContent", []plistDict{certPayload, mailPayload}},
	}
	var b bytes.Buffer
	writePlist(&b, profile)
	_, err = w.Write(b.Bytes())
	return err
}
