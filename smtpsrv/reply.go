package smtpsrv

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailbridge/mailbridge/upstream"
)

// rejection is a refusal decided here, carrying the reply the client gets.
// Texts are short and say what the user can do.
type rejection struct {
	code int
	enh  smtp.EnhancedCode
	msg  string
	err  error // the cause, for the log only
}

func (r *rejection) Error() string {
	if r.err != nil {
		return r.msg + ": " + r.err.Error()
	}
	return r.msg
}

func (r *rejection) Unwrap() error { return r.err }

func reject(code int, enh smtp.EnhancedCode, cause error, format string, args ...any) *rejection {
	return &rejection{code: code, enh: enh, msg: fmt.Sprintf(format, args...), err: cause}
}

var (
	errAuthRequired = reject(530, smtp.EnhancedCode{5, 7, 0}, nil,
		"Authentication required: log in with the bridge's SMTP username and password")
	errAuthzID = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8},
		Message: "Authentication failed: the authorization identity must be empty or equal the username"}
	errBareLF = reject(554, smtp.EnhancedCode{5, 5, 2}, nil,
		"Message contains a line with a single dot after a bare LF; lines must end with CRLF")
	errNoKeys = reject(451, smtp.EnhancedCode{4, 3, 5}, nil,
		"The account's keys are not available; unlock the account in the bridge and try again")
)

func badRecipient(to string) error {
	return reject(501, smtp.EnhancedCode{5, 1, 3}, nil,
		"Recipient address %q is not a valid address (RFC 5321 4.1.2)", to)
}

func foreignSender(from string) error {
	return reject(553, smtp.EnhancedCode{5, 7, 1}, nil,
		"Sender <%s> is not an address of this account; send from one of your own addresses", from)
}

// keyLookupError is a failed public key lookup other than "no key".
type keyLookupError struct {
	addr string
	err  error
}

func (e *keyLookupError) Error() string { return "key lookup for " + e.addr + ": " + e.err.Error() }
func (e *keyLookupError) Unwrap() error { return e.err }

// sendError is a failed upstream Send.
type sendError struct{ err error }

func (e *sendError) Error() string { return "upstream send: " + e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }

// toReply turns any error of this package into the SMTP reply go-smtp sends
// to the client. It is the only place that chooses reply codes for
// failures found after the command was parsed. go-smtp inspects the
// returned error with a plain type assertion, so the result must be an
// *smtp.SMTPError itself, never a wrapper.
func toReply(err error) error {
	if err == nil {
		return nil
	}
	var (
		smtpErr *smtp.SMTPError
		rej     *rejection
		lookup  *keyLookupError
		send    *sendError
	)
	switch {
	case errors.As(err, &rej):
		return &smtp.SMTPError{Code: rej.code, EnhancedCode: rej.enh, Message: rej.msg}
	case errors.As(err, &smtpErr):
		// go-smtp's own errors, such as 552 from the size-limited reader.
		return smtpErr
	case errors.Is(err, smtp.ErrTooLongLine):
		// go-smtp's line limit is sticky: the connection closes after this.
		return &smtp.SMTPError{Code: 500, EnhancedCode: smtp.EnhancedCode{5, 5, 6},
			Message: "Line too long; lines must be shorter than 2000 bytes"}
	case errors.As(err, &lookup):
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 3},
			Message: fmt.Sprintf("Looking up the key of <%s> failed; try again later", lookup.addr)}
	case errors.As(err, &send):
		return sendReply(send.err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 7},
			Message: "Sending took too long; try again later"}
	}
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
		Message: "Internal error; try again later"}
}

func sendReply(err error) *smtp.SMTPError {
	switch upstream.KindOf(err) {
	case upstream.Temporary:
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
			Message: "The mail service is unavailable; try again later"}
	case upstream.RateLimited:
		msg := "The mail service is rate limiting; try again later"
		if d := upstream.RetryAfter(err); d > 0 {
			msg = fmt.Sprintf("The mail service is rate limiting; try again in %v", d.Round(time.Second))
		}
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: msg}
	case upstream.AuthFailed, upstream.SecondFactor:
		return &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0},
			Message: "The bridge is logged out of the mail service; log in again in the bridge"}
	}
	msg := "The mail service refused the message"
	var ue *upstream.Error
	if errors.As(err, &ue) && ue.Msg != "" {
		msg += ": " + ue.Msg
	}
	return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 0, 0}, Message: msg}
}

// replyLine formats a reply for writing straight to the connection.
func replyLine(err error) string {
	var e *smtp.SMTPError
	if !errors.As(err, &e) {
		e = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Internal error"}
	}
	return fmt.Sprintf("%d %d.%d.%d %s\r\n", e.Code, e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2], e.Message)
}

func deadline(d time.Duration) time.Time { return time.Now().Add(d) }
