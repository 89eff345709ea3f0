// Package store is one account's local cache: mailboxes with their
// UIDVALIDITY and UIDNEXT, the UID map of every mailbox, message flags and
// labels, sealed message bodies, the event cursor and the durable outbox of
// operations still to push upstream.
//
// The cache is a single bbolt file. Every piece of mail content (bodies,
// mailbox names, keyword names, queued plaintext) is sealed with
// XChaCha20-Poly1305 under the account's cache key, bound to its bucket and
// key. Session-side writes change the cache and queue their outbox op in the
// same transaction, so a client never waits on the network and nothing is
// lost when the daemon stops.
package store
