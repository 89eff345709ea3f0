package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mailbridge/mailbridge/crypto"
	"github.com/mailbridge/mailbridge/upstream"
	"github.com/mailbridge/mailbridge/vault"
)

// Errors of the account commands; test with errors.Is.
var (
	// ErrAccountExists is returned by AddAccount for an account already added.
	ErrAccountExists = errors.New("this account is already added")
	// ErrNoAccount means no account has the given username, address or ID.
	ErrNoAccount = errors.New("no such account")
	// ErrSecondFactor means the upstream wants a second factor and there
	// was no way to ask the user for one.
	ErrSecondFactor = errors.New("the account needs a second factor (a code from your authenticator app)")
)

// Prompt asks the user for something during a command: name says what
// (PromptSecondFactor), text is the question to show.
type Prompt func(ctx context.Context, name, text string) (string, error)

// PromptSecondFactor is the Prompt name for a second-factor code.
const PromptSecondFactor = "second-factor"

// secondFactorTries is how many codes a user may type before AddAccount
// gives up.
const secondFactorTries = 3

// AddAccount logs in to the upstream with the user's password (asking
// prompt for a second factor when the upstream wants one), checks that it
// unlocks the account's keys, and saves the account with a new client
// password. The upstream password itself is not kept: the session token
// resumes the session, and the key passphrase unlocks the keys. While Run
// runs, the account starts at once.
func (b *Bridge) AddAccount(ctx context.Context, username, password string, prompt Prompt) (vault.Account, error) {
	sess, err := b.opts.Backend.Login(ctx, username, password)
	if err != nil {
		return vault.Account{}, fmt.Errorf("log in: %w", err)
	}
	defer sess.Close()

	addrs, err := sess.Addresses(ctx)
	for try := 0; upstream.KindOf(err) == upstream.SecondFactor; try++ {
		if prompt == nil {
			return vault.Account{}, ErrSecondFactor
		}
		if try == secondFactorTries {
			return vault.Account{}, fmt.Errorf("log in: too many wrong codes: %w", err)
		}
		text := "Second-factor code: "
		if try > 0 {
			text = "Wrong code; try again: "
		}
		code, perr := prompt(ctx, PromptSecondFactor, text)
		if perr != nil {
			return vault.Account{}, fmt.Errorf("second factor: %w", perr)
		}
		if serr := sess.SubmitSecondFactor(ctx, strings.TrimSpace(code)); serr != nil && upstream.KindOf(serr) != upstream.AuthFailed {
			return vault.Account{}, fmt.Errorf("second factor: %w", serr)
		}
		addrs, err = sess.Addresses(ctx)
	}
	if err != nil {
		return vault.Account{}, fmt.Errorf("addresses: %w", err)
	}

	auth := sess.Auth()
	for _, a := range b.vault.Accounts() {
		if a.UpstreamUser == auth.UserID {
			return a, fmt.Errorf("%s: %w", a.Username, ErrAccountExists)
		}
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

// findAccount looks an account up by ID, username or any of its addresses.
func (b *Bridge) findAccount(name string) (vault.Account, error) {
	if a, ok := b.vault.Account(name); ok {
		return a, nil
	}
	if a, ok := b.vault.AccountByUsername(name); ok {
		return a, nil
	}
	return vault.Account{}, fmt.Errorf("%q: %w (see `mailbridge account list`)", name, ErrNoAccount)
}

// RemoveAccount stops the account, deletes its secrets from the vault and
// deletes its cache. Mail clients logged in to it are cut off.
func (b *Bridge) RemoveAccount(name string) (vault.Account, error) {
	acct, err := b.findAccount(name)
	if err != nil {
		return vault.Account{}, err
	}
	b.mu.Lock()
	running := b.accounts[acct.ID]
	delete(b.accounts, acct.ID)
	b.mu.Unlock()
	if running != nil {
		running.stop()
	}
	if err := b.vault.DeleteAccount(acct.ID); err != nil {
		return acct, err
	}
	if err := removeCache(b.opts.CacheDir, acct.ID); err != nil {
		return acct, fmt.Errorf("the account is removed, but deleting its cache failed: %w", err)
	}
	b.log.Info("account removed", "account", acct.ID)
	return acct, nil
}

// ResetPassword gives the account a new client password and returns it;
// the old one is refused from now on.
func (b *Bridge) ResetPassword(name string) (vault.Account, error) {
	acct, err := b.findAccount(name)
	if err != nil {
		return vault.Account{}, err
	}
	if acct.ClientPassword, err = b.vault.ResetPassword(acct.ID); err != nil {
		return vault.Account{}, err
	}
	b.mu.Lock()
	if a := b.accounts[acct.ID]; a != nil {
		a.setConfig(acct)
	}
	b.mu.Unlock()
	b.log.Info("client password reset", "account", acct.ID)
	return acct, nil
}
