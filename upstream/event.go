package upstream

// EventKind says what changed.
type EventKind int

const (
	MessageCreated EventKind = iota + 1
	MessageUpdated           // labels or flags changed; Message holds the new metadata
	MessageDeleted           // deleted for good; only ID is set
	MailboxCreated
	MailboxUpdated // renamed
	MailboxDeleted // only ID is set
)

func (k EventKind) String() string {
	switch k {
	case MessageCreated:
		return "message-created"
	case MessageUpdated:
		return "message-updated"
	case MessageDeleted:
		return "message-deleted"
	case MailboxCreated:
		return "mailbox-created"
	case MailboxUpdated:
		return "mailbox-updated"
	case MailboxDeleted:
		return "mailbox-deleted"
	}
	return "unknown"
}

// Event is one change in the account.
type Event struct {
	Kind EventKind
	// ID is the message or mailbox the event is about.
	ID      string
	Message *MessageMeta // for MessageCreated and MessageUpdated
	Mailbox *Mailbox     // for MailboxCreated and MailboxUpdated
	// OpID is the OpID of the request that caused the change, if any, so
	// the bridge can recognise the echo of its own writes.
	OpID string
}

// EventBatch is what one Events call returns.
type EventBatch struct {
	Events []Event
	// Cursor is the position after these events; pass it to the next call.
	Cursor string
	// More is set when further events are ready without waiting.
	More bool
}
