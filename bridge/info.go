package bridge

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/mailbridge/mailbridge/certs"
	"github.com/mailbridge/mailbridge/vault"
)

// Info is what a mail client needs to connect: the accounts' credentials,
// the endpoints and the certificate to trust.
type Info struct {
	Accounts    []AccountInfo `json:"accounts"`
	IMAP        Endpoint      `json:"imap"`
	IMAPS       Endpoint      `json:"imaps"`
	SMTP        Endpoint      `json:"smtp"`
	SMTPS       Endpoint      `json:"smtps"`
	Certificate string        `json:"certificate"`
	// VaultKey says where the vault key is kept: "keychain", "file" or
	// "passphrase".
	VaultKey string `json:"vault_key"`
}

// AccountInfo is one account's client credentials.
type AccountInfo struct {
	ID        string   `json:"id"`
	Username  string   `json:"username"`
	Password  string   `json:"password"`
	Addresses []string `json:"addresses"`
}

// Endpoint is one listener.
type Endpoint struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Security string `json:"security"` // "starttls", "tls", or "off" when disabled
}

// ErrNoData is returned by ReadInfo for a folder that holds no bridge.
var ErrNoData = errors.New("no mailbridge data in this folder")

// ReadInfo reads the client settings saved in a data dir, whether or not
// a daemon is running there. It creates nothing. passphrase is needed for
// a vault protected by one.
func ReadInfo(dataDir string, kr vault.Keyring, passphrase []byte) (Info, error) {
	if !vault.Exists(dataDir) {
		return Info{}, fmt.Errorf("%s: %w", dataDir, ErrNoData)
	}
	v, err := vault.Open(vault.Options{Dir: dataDir, Keyring: kr, Passphrase: passphrase})
	if err != nil {
		return Info{}, err
	}
	return infoFrom(v, certs.PathIn(certDir(dataDir))), nil
}

func (b *Bridge) info() Info { return infoFrom(b.vault, b.Cert().Path()) }

func infoFrom(v *vault.Vault, certPath string) Info {
	set := v.Settings().WithDefaults()
	info := Info{
		Accounts:    []AccountInfo{},
		IMAP:        Endpoint{clientHost(set.Host), set.IMAPPort, set.IMAPSecurity},
		IMAPS:       Endpoint{clientHost(set.Host), set.IMAPSPort, set.IMAPSSecurity},
		SMTP:        Endpoint{clientHost(set.Host), set.SMTPPort, set.SMTPSecurity},
		SMTPS:       Endpoint{clientHost(set.Host), set.SMTPSPort, set.SMTPSSecurity},
		Certificate: certPath,
		VaultKey:    string(v.KeySource()),
	}
	for _, a := range v.Accounts() {
		info.Accounts = append(info.Accounts, accountInfo(a))
	}
	return info
}

func accountInfo(a vault.Account) AccountInfo {
	return AccountInfo{ID: a.ID, Username: a.Username, Password: a.ClientPassword, Addresses: a.Addresses}
}

// clientHost is the address a client on this machine connects to: a
// listener on every interface is reached on loopback.
func clientHost(bind string) string {
	switch bind {
	case "0.0.0.0", "":
		return "127.0.0.1"
	case "::":
		return "::1"
	}
	return bind
}

// Endpoints lists the enabled endpoints with their protocol names.
func (i Info) Endpoints() []NamedEndpoint {
	var out []NamedEndpoint
	for _, e := range []NamedEndpoint{{"IMAP", i.IMAP}, {"IMAP", i.IMAPS}, {"SMTP", i.SMTP}, {"SMTP", i.SMTPS}} {
		if e.Security != "off" {
			out = append(out, e)
		}
	}
	return out
}

// NamedEndpoint is an endpoint with its protocol, "IMAP" or "SMTP".
type NamedEndpoint struct {
	Protocol string
	Endpoint
}

// WriteTable prints the settings as a table a person can copy from.
func (i Info) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROTOCOL\tSERVER\tPORT\tSECURITY\tUSERNAME\tPASSWORD")
	for _, a := range i.Accounts {
		for _, e := range i.Endpoints() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Protocol, e.Host, strconv.Itoa(e.Port), e.SecurityName(), a.Username, a.Password)
		}
	}
	if len(i.Accounts) == 0 {
		fmt.Fprintln(tw, "(no accounts)")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\nCertificate (self-signed; trust it in your mail client): %s\n", i.Certificate)
	return err
}

// SecurityName is how mail clients name the endpoint's security.
func (e Endpoint) SecurityName() string {
	if e.Security == "tls" {
		return "SSL/TLS"
	}
	return "STARTTLS"
}

// CertPath is where the bridge of dataDir keeps its certificate (PEM).
func CertPath(dataDir string) string { return certs.PathIn(certDir(dataDir)) }
