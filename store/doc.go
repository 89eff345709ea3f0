// Package store is one account's local cache: mailboxes with their
// UIDVALIDITY and UIDNEXT, the UID map of every mailbox, message flags and
// labels, sealed message bodies, their parsed form (envelope, body
// structure, header block), the search index, the event cursor and the
// durable outbox of operations still to push upstream.
//
// The cache is a single bbolt file. Every piece of mail content (bodies,
// parsed headers, mailbox names, keyword names, queued plaintext, the
// words of the search index) is sealed with XChaCha20-Poly1305 under the
// account's cache key, bound to its bucket and key; the index's posting
// lists are keyed by a keyed hash of each word, so nothing in the file
// reads as mail. Session-side writes change the cache and queue their
// outbox op in the same transaction, so a client never waits on the
// network and nothing is lost when the daemon stops.
//
// MIME is parsed once, when a message enters the cache (Apply, Append),
// ideally on the caller's goroutines (Analyze); IMAP metadata and SEARCH
// are answered from what was stored then.
package store
