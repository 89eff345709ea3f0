package imapsrv

import (
	"slices"
	"sort"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailbridge/mailbridge/store"
)

// systemFlags are in every mailbox's FLAGS.
var systemFlags = []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft}

// mailboxView is the server-side view of one store mailbox shared by the
// sessions that have it selected: its UIDs in order, which is what message
// sequence numbers index, and the flags in use. Every field is guarded by
// account.mu.
type mailboxView struct {
	id      uint64
	refs    int
	tracker *imapserver.MailboxTracker
	uids    []uint32 // ascending; len(uids) == the tracker's message count
	uidNext uint32   // above every UID seen
	flags   map[imap.Flag]struct{}

	selections map[*selection]struct{}
	// expect maps a UID to the selection whose STORE or FETCH is changing
	// its flags right now: that session writes the FETCH reply itself.
	expect map[uint32]*selection
}

func newMailboxView(id uint64, entries []store.Entry) *mailboxView {
	v := &mailboxView{
		id:         id,
		uids:       make([]uint32, 0, len(entries)),
		flags:      make(map[imap.Flag]struct{}),
		selections: make(map[*selection]struct{}),
		expect:     make(map[uint32]*selection),
	}
	for _, f := range systemFlags {
		v.flags[f] = struct{}{}
	}
	for _, e := range entries {
		v.uids = append(v.uids, e.UID)
		v.addFlags(e.Flags)
	}
	// The store returns entries in UID order; make sure of it, since
	// binary searches below depend on it.
	slices.Sort(v.uids)
	if n := len(v.uids); n > 0 {
		v.uidNext = v.uids[n-1] + 1
	}
	v.tracker = imapserver.NewMailboxTracker(uint32(len(v.uids)))
	return v
}

// index returns the position of uid in v.uids.
func (v *mailboxView) index(uid uint32) (int, bool) {
	i := sort.Search(len(v.uids), func(i int) bool { return v.uids[i] >= uid })
	return i, i < len(v.uids) && v.uids[i] == uid
}

// addFlags records flags in use and reports whether any was new.
func (v *mailboxView) addFlags(flags []string) bool {
	added := false
	for _, f := range flags {
		flag := imap.Flag(f)
		if flag == flagRecent {
			continue
		}
		if _, ok := v.flags[flag]; !ok {
			v.flags[flag] = struct{}{}
			added = true
		}
	}
	return added
}

func (v *mailboxView) flagList() []imap.Flag {
	l := make([]imap.Flag, 0, len(v.flags))
	for f := range v.flags {
		l = append(l, f)
	}
	slices.Sort(l)
	return l
}

// applyLocked brings v up to date with a committed change and queues the
// untagged replies for the sessions. It tolerates changes v already
// reflects (see acquireView).
func (a *account) applyLocked(v *mailboxView, c store.Change) {
	switch c.Kind {
	case store.ChangeAdded:
		if n := len(v.uids); n > 0 && c.UID <= v.uids[n-1] {
			return
		}
		v.uids = append(v.uids, c.UID)
		if c.UID >= v.uidNext {
			v.uidNext = c.UID + 1
		}
		if v.addFlags(c.Flags) {
			v.tracker.QueueMailboxFlags(v.flagList())
		}
		v.tracker.QueueNumMessages(uint32(len(v.uids)))
		a.giveRecentLocked(v, c.UID)
	case store.ChangeExpunged:
		i, ok := v.index(c.UID)
		if !ok {
			return
		}
		v.uids = slices.Delete(v.uids, i, i+1)
		delete(v.expect, c.UID)
		v.tracker.QueueExpunge(uint32(i) + 1)
		for sel := range v.selections {
			delete(sel.recent, c.UID)
			delete(sel.pendingFlags, c.UID)
		}
	case store.ChangeFlags:
		i, ok := v.index(c.UID)
		if !ok {
			return
		}
		if v.addFlags(c.Flags) {
			v.tracker.QueueMailboxFlags(v.flagList())
		}
		flags := toIMAPFlags(c.Flags)
		source := v.expect[c.UID]
		delete(v.expect, c.UID)
		var holder *selection
		for sel := range v.selections {
			if _, ok := sel.recent[c.UID]; ok {
				holder = sel
				break
			}
		}
		if holder != nil && holder != source {
			// The tracker sends one FETCH to every session, but only the
			// holder sees the message as \Recent: it gets its own copy.
			// (A source that is not the holder then sees its change twice.)
			holder.pendingFlags[c.UID] = append(flags, flagRecent)
			source = holder
		}
		v.tracker.QueueMessageFlags(uint32(i)+1, imap.UID(c.UID), flags, sessionTracker(source))
	default:
		return
	}
	for sel := range v.selections {
		sel.sess.wake()
	}
}

// giveRecentLocked makes a newly arrived message \Recent for one session
// that has its mailbox selected read-write, if there is one; otherwise the
// next SELECT claims it.
func (a *account) giveRecentLocked(v *mailboxView, uid uint32) {
	if uid < a.recentNext[v.id] {
		return
	}
	for sel := range v.selections {
		if sel.readOnly {
			continue
		}
		sel.recent[uid] = struct{}{}
		a.recentNext[v.id] = uid + 1
		return
	}
}

func sessionTracker(sel *selection) *imapserver.SessionTracker {
	if sel == nil {
		return nil
	}
	return sel.tracker
}

func toIMAPFlags(flags []string) []imap.Flag {
	l := make([]imap.Flag, 0, len(flags))
	for _, f := range flags {
		l = append(l, imap.Flag(f))
	}
	return l
}

// flagRecent is RFC 3501's session flag; go-imap v2 does not export it.
const flagRecent imap.Flag = `\Recent`
