package imapsrv

import (
	"cmp"
	"slices"
	"sort"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailbridge/mailbridge/store"
)

// systemFlags are in every mailbox's FLAGS.
var systemFlags = []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft}

// mailboxView is the server-side view of one store mailbox shared by the
// sessions that have it selected: its messages in UID order, which is what
// message sequence numbers index, with what FETCH and SEARCH need of them
// besides the body, and the flags in use. Kept current from the store's
// change stream, it spares every command a scan of the mailbox. Every
// field is guarded by account.mu.
type mailboxView struct {
	id      uint64
	refs    int
	tracker *imapserver.MailboxTracker
	uids    []uint32    // ascending; len(uids) == the tracker's message count
	msgs    []viewEntry // msgs[i] is the message with UID uids[i]
	uidNext uint32      // above every UID seen
	flags   map[imap.Flag]struct{}
	// partial counts entries whose MsgID, Date and Size are not known
	// yet (added by a change that does not carry them); fill loads them.
	partial int

	selections map[*selection]struct{}
	// expect maps a UID to the selection whose STORE or FETCH is changing
	// its flags right now: that session writes the FETCH reply itself.
	expect map[uint32]*selection
}

// viewEntry is a message of a mailboxView. Flags is replaced, never
// modified in place, so a copy taken under account.mu stays valid.
type viewEntry struct {
	msgID uint64 // 0 while partial
	flags []string
	date  time.Time
	size  int64
}

func newMailboxView(id uint64, entries []store.Entry) *mailboxView {
	// The store returns entries in UID order; make sure of it, since
	// binary searches below depend on it.
	if !slices.IsSortedFunc(entries, func(a, b store.Entry) int { return cmp.Compare(a.UID, b.UID) }) {
		entries = slices.Clone(entries)
		slices.SortFunc(entries, func(a, b store.Entry) int { return cmp.Compare(a.UID, b.UID) })
	}
	v := &mailboxView{
		id:         id,
		uids:       make([]uint32, 0, len(entries)),
		msgs:       make([]viewEntry, 0, len(entries)),
		flags:      make(map[imap.Flag]struct{}),
		selections: make(map[*selection]struct{}),
		expect:     make(map[uint32]*selection),
	}
	for _, f := range systemFlags {
		v.flags[f] = struct{}{}
	}
	var last []string
	for _, e := range entries {
		v.uids = append(v.uids, e.UID)
		v.msgs = append(v.msgs, viewEntry{msgID: e.MsgID, flags: e.Flags, date: e.Date, size: e.Size})
		// The store shares one slice among entries with the same
		// flags: a run of them needs one look.
		if len(e.Flags) > 0 && (len(last) == 0 || &e.Flags[0] != &last[0]) {
			v.addFlags(e.Flags)
			last = e.Flags
		}
	}
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
		v.msgs = append(v.msgs, addedEntry(c))
		if v.msgs[len(v.msgs)-1].msgID == 0 {
			v.partial++
		}
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
		if v.msgs[i].msgID == 0 {
			v.partial--
		}
		v.msgs = slices.Delete(v.msgs, i, i+1)
		delete(v.expect, c.UID)
		v.tracker.QueueExpunge(uint32(i) + 1)
		for sel := range v.selections {
			delete(sel.recent, c.UID)
			delete(sel.pendingFlags, c.UID)
			sel.unreported++
		}
	case store.ChangeFlags:
		i, ok := v.index(c.UID)
		if !ok {
			return
		}
		if v.addFlags(c.Flags) {
			v.tracker.QueueMailboxFlags(v.flagList())
		}
		v.msgs[i].flags = c.Flags
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

// addedEntry is the view entry of a ChangeAdded.
func addedEntry(c store.Change) viewEntry {
	return viewEntry{msgID: c.MsgID, flags: c.Flags, date: c.Date, size: c.Size}
}

// fillLocked completes partial entries from a fresh store listing.
// MsgID, Date and Size never change for a UID, so a listing that is
// older or newer than the view is equally good for them.
func (v *mailboxView) fillLocked(entries []store.Entry) {
	j := 0
	for i, uid := range v.uids {
		if v.msgs[i].msgID != 0 {
			continue
		}
		for j < len(entries) && entries[j].UID < uid {
			j++
		}
		if j < len(entries) && entries[j].UID == uid {
			e := &entries[j]
			v.msgs[i].msgID, v.msgs[i].date, v.msgs[i].size = e.MsgID, e.Date, e.Size
			v.partial--
		}
	}
}
