package imapsrv

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mailbridge/mailbridge/store"
	"github.com/mailbridge/mailbridge/upstream"
)

// QUOTA (RFC 9208) for accounts that know their quota: one quota root,
// "", holding every mailbox, with the STORAGE resource. The front answers
// the commands; go-imap knows none of them.

// QuotaAccount is an Account that knows the storage quota of its mail
// service. Sessions of accounts that implement it offer QUOTA.
type QuotaAccount interface {
	Account
	// Quota returns the storage used and the limit in bytes; a limit of
	// zero or less means none. It may answer from a cache.
	Quota(ctx context.Context) (upstream.Quota, error)
}

// quotaTimeout bounds a Quota call.
const quotaTimeout = 10 * time.Second

// quotaAccount returns the logged-in account if it knows its quota.
func (s *session) quotaAccount() QuotaAccount {
	if q := s.quota.Load(); q != nil {
		return *q
	}
	return nil
}

func (f *frontConn) handleQuota(name, tag string, line []byte, mark literalMark) error {
	toks, ok, err := f.readArgs(tag, line, mark)
	if !ok {
		return err
	}
	sess := f.session()
	if sess == nil || !sess.authenticated() {
		return f.replyStatus(tag, "BAD", "CLIENTBUG", "This command is only valid in the authenticated state")
	}
	qa := sess.quotaAccount()
	if qa == nil {
		return f.replyStatus(tag, "BAD", "", "Unknown command")
	}
	switch name {
	case "SETQUOTA":
		if !validSetQuota(toks) {
			return f.replyStatus(tag, "BAD", "CLIENTBUG", "Syntax error: expected SETQUOTA root (resource limit ...)")
		}
		return f.replyStatus(tag, "NO", "NOPERM", "Quotas are set by the mail service")
	case "GETQUOTA":
		root, ok := oneAString(toks)
		if !ok {
			return f.replyStatus(tag, "BAD", "CLIENTBUG", "Syntax error: expected GETQUOTA root")
		}
		if root != "" {
			return f.replyStatus(tag, "NO", "NONEXISTENT", "No such quota root")
		}
		q, err := quotaOf(qa)
		if err != nil {
			return f.quotaUnavailable(sess, tag, err)
		}
		return f.reply(quotaLine(q) + tag + " OK GETQUOTA completed\r\n")
	}
	mailbox, ok := oneAString(toks)
	if !ok {
		return f.replyStatus(tag, "BAD", "CLIENTBUG", "Syntax error: expected GETQUOTAROOT mailbox")
	}
	exists, err := sess.mailboxExists(mailbox)
	if err != nil {
		sess.srv.logger.Error("imap GETQUOTAROOT", "err", err)
		return f.replyStatus(tag, "NO", "SERVERBUG", "Internal server error")
	}
	if !exists {
		return f.replyStatus(tag, "NO", "NONEXISTENT", "No such mailbox")
	}
	q, err := quotaOf(qa)
	if err != nil {
		return f.quotaUnavailable(sess, tag, err)
	}
	if q.Limit <= 0 {
		// No limit: the mailbox is under no quota root.
		return f.reply("* QUOTAROOT " + quote(mailbox) + "\r\n" + tag + " OK GETQUOTAROOT completed\r\n")
	}
	return f.reply("* QUOTAROOT " + quote(mailbox) + ` ""` + "\r\n" + quotaLine(q) + tag + " OK GETQUOTAROOT completed\r\n")
}

func (f *frontConn) quotaUnavailable(sess *session, tag string, err error) error {
	sess.srv.logger.Info("imap quota unknown", "err", err)
	return f.replyStatus(tag, "NO", "UNAVAILABLE", "Quota unknown, try again later")
}

func quotaOf(qa QuotaAccount) (upstream.Quota, error) {
	ctx, cancel := context.WithTimeout(context.Background(), quotaTimeout)
	defer cancel()
	return qa.Quota(ctx)
}

// quotaLine is the QUOTA response for the root "". RFC 9208 counts
// STORAGE in units of 1024 octets: usage rounds up, the limit down, so
// that a client never thinks there is room where there is none.
func quotaLine(q upstream.Quota) string {
	if q.Limit <= 0 {
		return ""
	}
	used := (max(q.Used, 0) + 1023) / 1024
	return fmt.Sprintf("* QUOTA \"\" (STORAGE %d %d)\r\n", used, q.Limit/1024)
}

func oneAString(toks []token) (string, bool) {
	if len(toks) != 1 {
		return "", false
	}
	return toks[0].astring()
}

// validSetQuota checks SETQUOTA's arguments: a root and a list of
// resource names and limits.
func validSetQuota(toks []token) bool {
	if len(toks) < 3 || toks[1].kind != tokOpen || toks[len(toks)-1].kind != tokClose {
		return false
	}
	if _, ok := toks[0].astring(); !ok {
		return false
	}
	list := toks[2 : len(toks)-1]
	if len(list)%2 != 0 {
		return false
	}
	for i := 0; i < len(list); i += 2 {
		if list[i].kind != tokAtom || list[i+1].kind != tokAtom || strings.Trim(list[i+1].s, "0123456789") != "" {
			return false
		}
	}
	return true
}

// authenticated reports whether the session has logged in.
func (s *session) authenticated() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acct != nil
}

// mailboxExists looks a mailbox name from a client up in the store.
func (s *session) mailboxExists(name string) (bool, error) {
	name, err := decodeMailbox(name)
	if err != nil {
		return false, nil
	}
	if name, err = normName(name); err != nil {
		return false, nil
	}
	s.mu.Lock()
	acct := s.acct
	s.mu.Unlock()
	if acct == nil {
		return false, nil
	}
	_, err = acct.store.MailboxByName(name)
	if errors.Is(err, store.ErrNoMailbox) {
		return false, nil
	}
	return err == nil, err
}

// checkAppendQuota refuses an APPEND whose message would not fit in the
// quota last known, before go-imap sees it and before the client sends
// the message, if it waits for "+". It reports whether it refused.
func (f *frontConn) checkAppendQuota(tag string, line []byte, mark literalMark) (bool, error) {
	if !mark.ok {
		return false, nil
	}
	// The literal must be the message, not a mailbox name given as a
	// literal: the mailbox must come before it on the same line.
	_, textEnd := lineMark(line)
	toks, err := lex(trimEOL(line)[:textEnd], nil)
	if err != nil || len(toks) < 3 {
		return false, nil
	}
	sess := f.session()
	if sess == nil {
		return false, nil
	}
	qa := sess.quotaAccount()
	if qa == nil {
		return false, nil
	}
	q, err := quotaOf(qa)
	if err != nil || q.Limit <= 0 || q.Used+mark.size <= q.Limit {
		return false, nil
	}
	return true, f.refuse(tag, "NO", "OVERQUOTA", "Not enough room in the mailbox quota for this message", mark)
}
