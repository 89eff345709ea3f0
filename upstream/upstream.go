// Package upstream defines the contract between mailbridge and the remote,
// end-to-end encrypted mail service it bridges: a Backend to log in to and a
// Session to talk to one account. Messages cross this boundary as opaque
// encrypted bytes plus metadata; the upstream never sees plaintext.
//
// This package is a leaf: it imports nothing else of mailbridge, so every
// other package can share its types without import cycles.
package upstream

import (
	"context"
	"time"
)

// Backend logs in to accounts of one upstream service.
type Backend interface {
	// Login authenticates with the account's password. When the account
	// has a second factor, every call on the returned Session except Auth,
	// Close and SubmitSecondFactor fails with kind SecondFactor until
	// SubmitSecondFactor succeeds.
	Login(ctx context.Context, username, password string) (Session, error)
	// Resume opens a session from the token of an earlier login, so the
	// bridge never has to keep the upstream password.
	Resume(ctx context.Context, auth Auth) (Session, error)
}

// Auth identifies a logged-in session so that it can be resumed.
type Auth struct {
	UserID string
	Token  []byte
}

// Session is one logged-in account. It is safe for concurrent use.
// Every call honours its context's cancellation and deadline.
type Session interface {
	// Auth returns what Backend.Resume needs to reopen this session.
	Auth() Auth
	// Close ends the session; later calls fail.
	Close() error
	// SubmitSecondFactor completes a login that needs a second factor,
	// such as a TOTP code. A wrong code fails with kind AuthFailed and
	// the session stays waiting for another try; on a session that needs
	// no second factor it does nothing and returns nil.
	SubmitSecondFactor(ctx context.Context, code string) error

	// Addresses returns the account's addresses, the primary one first.
	Addresses(ctx context.Context) ([]Address, error)
	// PrivateKeys returns the account's armored private keys, locked with
	// the passphrase the user gives at login.
	PrivateKeys(ctx context.Context) ([]byte, error)
	// PublicKeys asks the key server for the armored public keys of an
	// address, of this service's users or published elsewhere. It returns
	// an error of kind NotFound when none are known.
	PublicKeys(ctx context.Context, email string) ([]byte, error)

	// Mailboxes lists system and user labels.
	Mailboxes(ctx context.Context) ([]Mailbox, error)
	// CreateMailbox and RenameMailbox refuse (Permanent) a name that
	// another label has in any case: label names are unique whatever
	// their case. Their events carry opID, as those of imports and
	// updates do, so the bridge knows its own changes coming back.
	CreateMailbox(ctx context.Context, name, opID string) (Mailbox, error)
	RenameMailbox(ctx context.Context, id, name, opID string) error
	// DeleteMailbox removes a user label; its messages keep their other labels.
	DeleteMailbox(ctx context.Context, id string) error

	// ListMessages returns the metadata of messages in ID order, one page
	// at a time, starting after the message ID in after ("" for the start).
	ListMessages(ctx context.Context, after string, limit int) ([]MessageMeta, error)
	// GetMessage returns a message with its stored, encrypted bytes.
	GetMessage(ctx context.Context, id string) (*Message, error)
	// Import stores a message the bridge has already encrypted.
	Import(ctx context.Context, req ImportRequest) (MessageMeta, error)
	// UpdateMessages changes labels and flags of messages.
	UpdateMessages(ctx context.Context, ids []string, u Update) error
	// DeleteMessages deletes messages for good.
	DeleteMessages(ctx context.Context, ids []string) error
	// Send delivers an already prepared message and stores the sender's
	// copy in Sent.
	Send(ctx context.Context, req SendRequest) (MessageMeta, error)

	// LatestEventID returns the cursor of the newest event, the starting
	// point for Events after an initial sync.
	LatestEventID(ctx context.Context) (string, error)
	// Events returns the events after the cursor since, waiting up to the
	// context's deadline (a long poll) when there are none yet. It returns
	// an error of kind RefreshRequired when the cursor is too old.
	Events(ctx context.Context, since string) (EventBatch, error)

	Quota(ctx context.Context) (Quota, error)
}

// Address is one of an account's addresses.
type Address struct {
	ID    string
	Email string
	Name  string
}

// MailboxKind tells system labels from user labels.
type MailboxKind int

const (
	KindUser MailboxKind = iota
	KindSystem
)

// Well-known IDs of the system labels every account has.
const (
	Inbox   = "inbox"
	Drafts  = "drafts"
	Sent    = "sent"
	Archive = "archive"
	Spam    = "spam"
	Trash   = "trash"
)

// Mailbox is a label. Names of user labels use "/" as the hierarchy delimiter.
type Mailbox struct {
	ID   string
	Name string
	Kind MailboxKind
}

// Flags is the set of message flags the upstream keeps.
type Flags uint8

const (
	FlagSeen Flags = 1 << iota
	FlagFlagged
	FlagAnswered
	FlagDraft
	FlagForwarded
)

// Has reports whether all of o are set in f.
func (f Flags) Has(o Flags) bool { return f&o == o }

// MessageMeta is what the upstream knows of a message besides its
// encrypted bytes: no subject, no addresses.
type MessageMeta struct {
	ID         string
	MailboxIDs []string
	Flags      Flags
	Date       time.Time // when the message was received or imported
	Size       int64     // size of the stored, encrypted bytes
}

// Message is a message with its stored bytes: an encrypted RFC 822
// message in one of the formats the crypto package decrypts.
type Message struct {
	MessageMeta
	Raw []byte
}

// ImportRequest asks the upstream to store an encrypted message.
type ImportRequest struct {
	// OpID makes the call idempotent: importing twice with the same OpID
	// returns the first message. It is echoed in the resulting event.
	OpID       string
	Raw        []byte
	MailboxIDs []string
	Flags      Flags
	Date       time.Time
}

// Update changes labels and flags; additions are applied before removals.
type Update struct {
	OpID            string // echoed in the resulting events
	AddMailboxes    []string
	RemoveMailboxes []string
	SetFlags        Flags
	ClearFlags      Flags
}

// SendRequest is a message ready to leave: Raw is what every recipient
// gets, exactly as given, and SentCopy is the sender's copy, encrypted to
// the sender, stored in Sent. A nil SentCopy stores nothing in Sent (a
// message split into several sends keeps one Sent copy).
type SendRequest struct {
	OpID       string
	From       string
	Recipients []string
	Raw        []byte
	SentCopy   []byte
}

// Quota is the account's storage use, in bytes.
type Quota struct {
	Used  int64
	Limit int64
}
