package imapsrv

import (
	"errors"
	"fmt"

	"github.com/emersion/go-imap/v2"

	"github.com/mailbridge/mailbridge/store"
)

// storeError turns a store error into the reply the client gets. Errors
// the client cannot act on are wrapped and left to go-imap, which logs them
// and answers NO [SERVERBUG].
func storeError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNoMailbox):
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "No such mailbox"}
	case errors.Is(err, store.ErrExists):
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAlreadyExists, Text: "Mailbox already exists"}
	case errors.Is(err, store.ErrNotAllowed):
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Not possible on this mailbox"}
	case errors.Is(err, store.ErrNoMessage):
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCode("EXPUNGEISSUED"), Text: "Some messages were expunged"}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// destError is storeError for the target of COPY, MOVE and APPEND, where a
// missing mailbox must say TRYCREATE (RFC 3501 section 6.3.11).
func destError(op string, err error) error {
	if errors.Is(err, store.ErrNoMailbox) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: "No such mailbox"}
	}
	return storeError(op, err)
}

var (
	errReadOnly   = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Mailbox is read-only (EXAMINE)"}
	errNoSelect   = &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug, Text: "No mailbox selected"}
	errSeqPastEnd = &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug, Text: "Message sequence number past the last message"}
)
