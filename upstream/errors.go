package upstream

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrorKind classifies upstream failures by what the caller should do.
type ErrorKind int

const (
	// Temporary failures (network, 5xx, dropped connections) are retried.
	Temporary ErrorKind = iota + 1
	// Permanent failures are not retried.
	Permanent
	// AuthFailed means the credentials or session were refused: the user
	// must log in again.
	AuthFailed
	// NotFound means the message, mailbox or key does not exist.
	NotFound
	// RateLimited failures are retried after Error.RetryAfter.
	RateLimited
	// RefreshRequired means the event cursor is too old: resync everything.
	RefreshRequired
	// SecondFactor means the login needs a second factor.
	SecondFactor
)

func (k ErrorKind) String() string {
	switch k {
	case Temporary:
		return "temporary"
	case Permanent:
		return "permanent"
	case AuthFailed:
		return "authentication failed"
	case NotFound:
		return "not found"
	case RateLimited:
		return "rate limited"
	case RefreshRequired:
		return "refresh required"
	case SecondFactor:
		return "second factor required"
	}
	return "unknown"
}

// Error is the error type every Session and Backend call returns.
type Error struct {
	Kind       ErrorKind
	Msg        string
	RetryAfter time.Duration // for RateLimited
	Err        error         // the cause, if any
}

func (e *Error) Error() string {
	s := "upstream: " + e.Kind.String()
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %v)", e.RetryAfter)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, &Error{Kind: k}) match any error of kind k.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind && t.Msg == "" && t.Err == nil
}

// Errorf returns an *Error of the given kind.
func Errorf(kind ErrorKind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of an upstream error in err's chain. Errors that
// are not upstream errors, such as a cancelled context or a broken
// connection, count as Temporary.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Temporary
}

// RetryAfter returns how long a rate-limited caller should wait, or 0.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) && e.Kind == RateLimited {
		return e.RetryAfter
	}
	return 0
}

// Retryable reports whether a call that failed with err may succeed later.
func Retryable(err error) bool {
	switch KindOf(err) {
	case Temporary, RateLimited:
		return true
	}
	return false
}

// RecipientError is returned by Send when the upstream refuses some
// recipients. Nothing was delivered and nothing was stored.
type RecipientError struct {
	Rejected []string
	Msg      string
}

func (e *RecipientError) Error() string {
	return fmt.Sprintf("upstream: recipients refused (%s): %s", strings.Join(e.Rejected, ", "), e.Msg)
}

// RejectedRecipients lists the refused addresses.
func (e *RecipientError) RejectedRecipients() []string { return e.Rejected }
