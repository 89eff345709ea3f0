package bridge

import (
	"context"
	"errors"
	"fmt"

	"github.com/mailbridge/mailbridge/crypto"
	"github.com/mailbridge/mailbridge/upstream"
	"github.com/mailbridge/mailbridge/vault"
)

// ErrAccountExists is returned by AddAccount for an account already added.
var ErrAccountExists = errors.New("bridge: account already added")

// AddAccount logs in to the upstream with the user's password, checks that
// it unlocks the account's keys, and saves the account with a new client
// password. The upstream password itself is not kept: the session token
// resumes the session, and the key passphrase unlocks the keys.
func (b *Bridge) AddAccount(ctx context.Context, username, password string) (vault.Account, error) {
	sess, err := b.opts.Backend.Login(ctx, username, password)
	if err != nil {
		return vault.Account{}, fmt.Errorf("log in: %w", err)
	}
	defer sess.Close()

	auth := sess.Auth()
	for _, a := range b.vault.Accounts() {
		if a.UpstreamUser == auth.UserID {
			return a, ErrAccountExists
		}
	}
	addrs, err := sess.Addresses(ctx)
	if err != nil {
		return vault.Account{}, fmt.Errorf("addresses: %w", err)
	}
	if len(addrs) == 0 {
		return vault.Account{}, upstream.Errorf(upstream.Permanent, "the account has no address")
	}
	armored, err := sess.PrivateKeys(ctx)
	if err != nil {
		return vault.Account{}, fmt.Errorf("keys: %w", err)
	}
	if _, err := crypto.UnlockKeys(armored, []byte(password)); err != nil {
		return vault.Account{}, fmt.Errorf("unlock keys: %w", err)
	}

	emails := make([]string, len(addrs))
	for i, a := range addrs {
		emails[i] = a.Email
	}
	acct, err := vault.NewAccount(auth.UserID, emails)
	if err != nil {
		return vault.Account{}, err
	}
	acct.UpstreamAuth = auth.Token
	acct.KeyPassphrase = []byte(password)
	if err := b.vault.PutAccount(acct); err != nil {
		return vault.Account{}, err
	}

	b.mu.Lock()
	running := b.running
	b.mu.Unlock()
	if running != nil {
		if err := b.startAccount(running, acct); err != nil {
			return acct, err
		}
	}
	b.log.Info("account added", "account", acct.ID)
	return acct, nil
}
