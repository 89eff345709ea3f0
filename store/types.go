package store

import (
	"errors"
	"time"

	"github.com/mailbridge/mailbridge/upstream"
)

// Errors returned by session-side calls; imapsrv maps them to NO responses.
var (
	// ErrNoMailbox means the named or numbered mailbox does not exist.
	ErrNoMailbox = errors.New("store: no such mailbox")
	// ErrExists means a mailbox with that name already exists.
	ErrExists = errors.New("store: mailbox already exists")
	// ErrNotAllowed refuses an operation the mailbox model forbids, such as
	// APPEND into All Mail or deleting INBOX.
	ErrNotAllowed = errors.New("store: operation not allowed on this mailbox")
	// ErrNoMessage means the message is not in the cache.
	ErrNoMessage = errors.New("store: no such message")
	// ErrBadKey means the cache file was sealed with another key.
	ErrBadKey = errors.New("store: wrong cache key or corrupted cache")
)

// Role says what a system mailbox is for; user labels have no role.
type Role string

// Mailbox roles. All Mail exists only in the cache; the others mirror the
// upstream system labels.
const (
	RoleNone    Role = ""
	RoleInbox   Role = "inbox"
	RoleDrafts  Role = "drafts"
	RoleSent    Role = "sent"
	RoleArchive Role = "archive"
	RoleSpam    Role = "spam"
	RoleTrash   Role = "trash"
	RoleAll     Role = "all"
)

// AllMailName is the IMAP name of the virtual mailbox holding every message
// that is not in Spam or Trash.
const AllMailName = "All Mail"

// Mailbox is a label as IMAP sees it.
type Mailbox struct {
	ID          uint64 // local, stable across renames and restarts
	UpstreamID  string // label ID; "" for All Mail and for a CREATE not yet pushed upstream
	Name        string // full IMAP name, UTF-8, "/" delimited (INBOX for the inbox)
	Role        Role
	UIDValidity uint32 // fixed at creation in the cache, never changes
	UIDNext     uint32
	Subscribed  bool
	Messages    uint32 // count
	// NameOp is the outbox seq of the last create or rename of this
	// mailbox made here: the echo of an earlier one is stale.
	NameOp uint64 `json:",omitempty"`
}

// Incoming is a message fetched and decrypted by the syncer.
type Incoming struct {
	Meta upstream.MessageMeta // upstream ID, label IDs, flags, date
	Body []byte               // the decrypted RFC 822 message the client sees
	// OpID is the event's OpID when the message is the echo of one of our
	// own imports; it binds the message appended locally instead of
	// creating a second copy.
	OpID string
	// Analysis is Body parsed by Store.Analyze, ideally on the caller's
	// worker goroutines; nil makes Apply parse it in the writer.
	Analysis *Analysis
}

// Changes is one batch from the upstream, applied in one write transaction.
type Changes struct {
	Mailboxes        []upstream.Mailbox     // created or renamed upstream (by upstream ID)
	MailboxOpIDs     []string               // beside Mailboxes: the OpID of the request each event echoes, or ""
	DeletedMailboxes []string               // upstream IDs
	Messages         []Incoming             // new; an ID already cached only has its meta updated
	Updated          []upstream.MessageMeta // labels/flags changed upstream
	Deleted          []string               // upstream message IDs deleted for good
	Cursor           *string                // event cursor, stored in the same transaction if non-nil
	// OpIDs are the OpIDs of the events in this batch: echoes of our own
	// ops. An op whose OpID is echoed is done upstream and leaves the outbox.
	OpIDs []string
}

// OpKind says what an outbox operation does upstream.
type OpKind int

// Outbox operation kinds.
const (
	OpUpdate OpKind = iota + 1 // change labels and flags of messages
	OpDelete                   // delete messages for good
	OpImport                   // import a message appended by a client
	OpCreateMailbox
	OpRenameMailbox
	OpDeleteMailbox
)

func (k OpKind) String() string {
	switch k {
	case OpUpdate:
		return "update"
	case OpDelete:
		return "delete"
	case OpImport:
		return "import"
	case OpCreateMailbox:
		return "create-mailbox"
	case OpRenameMailbox:
		return "rename-mailbox"
	case OpDeleteMailbox:
		return "delete-mailbox"
	}
	return "unknown"
}

// Op is a pending upstream operation, with every reference resolved to an
// upstream ID.
type Op struct {
	Seq        uint64 // order
	OpID       string // unique for ever: the idempotency key sent upstream
	Kind       OpKind
	MessageIDs []string        // OpUpdate, OpDelete: upstream message IDs
	Update     upstream.Update // OpUpdate: label IDs resolved to upstream IDs; OpID filled

	// OpImport: a message appended by a client.
	Plain      []byte // plaintext; the syncer encrypts it to self before Import
	MailboxIDs []string
	Flags      upstream.Flags
	Date       time.Time

	// Mailbox ops.
	MailboxID string // upstream label ID (resolved); "" for OpCreateMailbox
	Name      string // new name for OpCreateMailbox and OpRenameMailbox
}

// Entry is one message as a mailbox lists it.
type Entry struct {
	UID   uint32
	MsgID uint64    // local message ID
	Flags []string  // IMAP flags: \Seen \Answered \Flagged \Draft \Deleted $Forwarded + keywords
	Date  time.Time // internal date
	Size  int64     // size of the plain RFC 822 message
}

// ChangeKind says what a Change reports.
type ChangeKind int

// Change kinds.
const (
	ChangeAdded     ChangeKind = iota + 1 // a message got a UID in Mailbox
	ChangeExpunged                        // UID left Mailbox
	ChangeFlags                           // flags of UID in Mailbox changed
	ChangeMailboxes                       // mailboxes were created, renamed or deleted
)

// Change is one committed change, reported to watchers.
type Change struct {
	Kind    ChangeKind
	Mailbox uint64 // for message changes
	UID     uint32
	Flags   []string // ChangeAdded, ChangeFlags

	// ChangeAdded carries the rest of the message's Entry, so that a
	// watcher keeping a mailbox in memory need not list it again.
	MsgID uint64
	Date  time.Time // internal date
	Size  int64
}
