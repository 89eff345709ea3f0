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
	// VaultKey says where the vault key is kept: "keychain" or "file".
	VaultKey string `json:"vault_key"`
}

// AccountInfo is one account's client credentials.
type AccountInfo struct {
	Username  string   `json:"username"`
	Password  string   `json:"password"`
	Addresses []string `json:"addresses"`
}

// Endpoint is one listener.
type Endpoint struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Security string `json:"security"` // "starttls" or "tls"
}

// ErrNoData is returned by ReadInfo for a folder that holds no bridge.
var ErrNoData = errors.New("no mailbridge data in this folder")

// ReadInfo reads the client settings saved in a data dir, whether or not
// a daemon is running there. It creates nothing.
func ReadInfo(dataDir string, kr vault.Keyring) (Info, error) {
	if !vault.Exists(dataDir) {
		return Info{}, fmt.Errorf("%s: %w", dataDir, ErrNoData)
	}
	v, err := vault.Open(vault.Options{Dir: dataDir, Keyring: kr})
	if err != nil {
		return Info{}, err
	}
	return infoFrom(v, certs.PathIn(certDir(dataDir))), nil
}

func (b *Bridge) info() Info { return infoFrom(b.vault, b.cert.Path()) }

func infoFrom(v *vault.Vault, certPath string) Info {
	set := settings(v)
	info := Info{
		Accounts:    []AccountInfo{},
		IMAP:        Endpoint{set.Host, set.IMAPPort, "starttls"},
		IMAPS:       Endpoint{set.Host, set.IMAPSPort, "tls"},
		SMTP:        Endpoint{set.Host, set.SMTPPort, "starttls"},
		SMTPS:       Endpoint{set.Host, set.SMTPSPort, "tls"},
		Certificate: certPath,
		VaultKey:    string(v.KeySource()),
	}
	for _, a := range v.Accounts() {
		info.Accounts = append(info.Accounts, AccountInfo{
			Username: a.Username, Password: a.ClientPassword, Addresses: a.Addresses,
		})
	}
	return info
}

// WriteTable prints the settings as a table a person can copy from.
func (i Info) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROTOCOL\tSERVER\tPORT\tSECURITY\tUSERNAME\tPASSWORD")
	for _, a := range i.Accounts {
		for _, e := range []struct {
			name string
			ep   Endpoint
		}{{"IMAP", i.IMAP}, {"IMAP", i.IMAPS}, {"SMTP", i.SMTP}, {"SMTP", i.SMTPS}} {
			sec := "STARTTLS"
			if e.ep.Security == "tls" {
				sec = "SSL/TLS"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.name, e.ep.Host, strconv.Itoa(e.ep.Port), sec, a.Username, a.Password)
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
