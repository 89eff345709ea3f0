// Package smtpsend submits one message over implicit TLS with AUTH PLAIN,
// as a mail client does: the tests' way to send through the bridge.
package smtpsend

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/smtp"
)

// Send submits msg from from to the recipients at addr, trusting only the
// certificate certPEM for serverName.
func Send(addr, serverName string, certPEM []byte, user, password, from string, to []string, msg []byte) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: serverName})
	if err != nil {
		return err
	}
	c, err := smtp.NewClient(conn, serverName)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if err := c.Auth(smtp.PlainAuth("", user, password, serverName)); err != nil {
		return fmt.Errorf("smtpsend: auth: %w", err)
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("smtpsend: MAIL: %w", err)
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return fmt.Errorf("smtpsend: RCPT %s: %w", rcpt, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtpsend: DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("smtpsend: DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtpsend: DATA: %w", err)
	}
	return c.Quit()
}
