package imapsrv

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailbridge/mailbridge/store"
)

const delim = '/'

var roleAttrs = map[store.Role]imap.MailboxAttr{
	store.RoleDrafts:  imap.MailboxAttrDrafts,
	store.RoleSent:    imap.MailboxAttrSent,
	store.RoleArchive: imap.MailboxAttrArchive,
	store.RoleSpam:    imap.MailboxAttrJunk,
	store.RoleTrash:   imap.MailboxAttrTrash,
	store.RoleAll:     imap.MailboxAttrAll,
}

// normName cleans a mailbox name from a client: INBOX in any case is
// INBOX, as a superior too, so that LIST, which reads patterns the same
// way, finds what CREATE and RENAME made; and a trailing delimiter is
// dropped (RFC 3501 section 6.3.3).
func normName(name string) (string, error) {
	name = canonInbox(strings.TrimSuffix(name, string(delim)))
	if name == "INBOX" {
		return "INBOX", nil
	}
	if name == "" || strings.HasPrefix(name, string(delim)) || strings.Contains(name, "//") {
		return "", &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Invalid mailbox name"}
	}
	return name, nil
}

// checkNewName refuses a name for a new mailbox that LIST patterns could
// not name exactly: "*" and "%" in it would be read as wildcards.
// Existing mailboxes keep whatever name the upstream gave them.
func checkNewName(name string) error {
	if strings.ContainsAny(name, "*%") {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Mailbox names cannot contain * or %"}
	}
	return nil
}

func (s *session) store() *store.Store { return s.acct.store }

func (s *session) Create(name string, options *imap.CreateOptions) error {
	name, err := normName(name)
	if err != nil {
		return err
	}
	if len(options.SpecialUse) > 0 {
		return s.refuseSpecialUse(name, options.SpecialUse)
	}
	if name == "INBOX" {
		return storeError("create", store.ErrExists)
	}
	if err := checkNewName(name); err != nil {
		return err
	}
	_, err = s.store().CreateMailbox(name)
	return storeError("create mailbox", err)
}

// refuseSpecialUse answers CREATE with the USE option (RFC 6154): the
// service's system labels are the special-use mailboxes, one per use,
// and user labels cannot take a use. The reply names the mailbox a
// client should use instead.
func (s *session) refuseSpecialUse(name string, uses []imap.MailboxAttr) error {
	mbs, err := s.store().Mailboxes()
	if err != nil {
		return storeError("list mailboxes", err)
	}
	for _, use := range uses {
		for _, mb := range mbs {
			if roleAttrs[mb.Role] != use {
				continue
			}
			if strings.EqualFold(mb.Name, name) {
				return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAlreadyExists,
					Text: fmt.Sprintf("%s exists and is the %s mailbox", mb.Name, use)}
			}
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCode("USEATTR"),
				Text: fmt.Sprintf("The %s mailbox is %q; the service has one of each", use, mb.Name)}
		}
	}
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCode("USEATTR"),
		Text: fmt.Sprintf("No mailbox can have the special use %s here", uses[0])}
}

func (s *session) Delete(name string) error {
	name, err := normName(name)
	if err != nil {
		return err
	}
	return storeError("delete mailbox", s.store().DeleteMailbox(name))
}

func (s *session) Rename(oldName, newName string, _ *imap.RenameOptions) error {
	oldName, err := normName(oldName)
	if err != nil {
		return err
	}
	if newName, err = normName(newName); err != nil {
		return err
	}
	if err := checkNewName(newName); err != nil {
		return err
	}
	return storeError("rename mailbox", s.store().RenameMailbox(oldName, newName))
}

func (s *session) Subscribe(name string) error {
	name, err := normName(name)
	if err != nil {
		return err
	}
	return storeError("subscribe", s.store().SetSubscribed(name, true))
}

func (s *session) Unsubscribe(name string) error {
	name, err := normName(name)
	if err != nil {
		return err
	}
	err = s.store().SetSubscribed(name, false)
	if errors.Is(err, store.ErrNoMailbox) {
		// Not subscribed, then: OK (RFC 9051 section 6.3.8). Thunderbird
		// unsubscribes the old name after a RENAME.
		return nil
	}
	return storeError("unsubscribe", err)
}

// listEntry is a mailbox or a parent that exists only as a prefix.
type listEntry struct {
	name           string
	mbox           *store.Mailbox // nil for a prefix-only parent
	children       bool
	subscribedKids bool
	// subscribedBelow names the subscribed descendants, and
	// unlistedKids says that one of them is not listed: what LSUB and
	// LIST (SUBSCRIBED) show an unsubscribed parent for.
	subscribedBelow []string
	unlistedKids    bool
	// orphan: a subscribed name whose mailbox was deleted (RFC 3501
	// section 6.3.6 keeps it subscribed).
	orphan bool
}

func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	if len(patterns) == 0 {
		// LIST "" "" asks for the hierarchy delimiter.
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: delim})
	}
	mboxes, err := s.store().Mailboxes()
	if err != nil {
		return storeError("list", err)
	}
	var orphans []string
	if options.SelectSubscribed || options.ReturnSubscribed {
		if orphans, err = s.store().OrphanSubscriptions(); err != nil {
			return storeError("list", err)
		}
	}
	entries := listEntries(mboxes, orphans)

	ref = canonInbox(ref)
	compiled := make([]listPattern, 0, len(patterns))
	for _, p := range patterns {
		// A pattern that starts with the delimiter is an absolute name
		// (RFC 3501 section 6.3.8), which none here is; go-imap's
		// matcher, which compileList follows, drops the delimiter.
		if !strings.HasPrefix(p, string(delim)) {
			compiled = append(compiled, compileList(ref, canonInbox(p)))
		}
	}
	for _, e := range entries {
		if !matchAny(e.name, compiled) {
			continue
		}
		e.unlistedKids = slices.ContainsFunc(e.subscribedBelow, func(name string) bool { return !matchAny(name, compiled) })
		data := s.listData(e, options)
		if data == nil {
			continue
		}
		if err := w.WriteList(data); err != nil {
			return err
		}
	}
	return nil
}

// lsub reports whether the command is LSUB, which go-imap answers
// through List as if it were LIST (SUBSCRIBED).
func (s *session) lsub() bool {
	fc, ok := s.conn.NetConn().(*frontConn)
	return ok && fc.name == "LSUB"
}

// listEntries returns every mailbox, every orphan subscription and
// every missing parent, sorted.
func listEntries(mboxes []store.Mailbox, orphans []string) []*listEntry {
	byName := make(map[string]*listEntry, len(mboxes))
	for i := range mboxes {
		byName[mboxes[i].Name] = &listEntry{name: mboxes[i].Name, mbox: &mboxes[i]}
	}
	for _, name := range orphans {
		if byName[name] == nil {
			byName[name] = &listEntry{name: name, orphan: true}
		}
	}
	for i := range mboxes {
		m := &mboxes[i]
		for p := parentOf(m.Name); p != ""; p = parentOf(p) {
			e := byName[p]
			if e == nil {
				e = &listEntry{name: p}
				byName[p] = e
			}
			e.children = true
			if m.Subscribed {
				e.subscribedKids = true
				e.subscribedBelow = append(e.subscribedBelow, m.Name)
			}
		}
	}
	l := make([]*listEntry, 0, len(byName))
	for _, e := range byName {
		l = append(l, e)
	}
	sort.Slice(l, func(i, j int) bool {
		// INBOX first, like most servers; clients do not rely on it.
		if (l[i].name == "INBOX") != (l[j].name == "INBOX") {
			return l[i].name == "INBOX"
		}
		return l[i].name < l[j].name
	})
	return l
}

func parentOf(name string) string {
	i := strings.LastIndexByte(name, delim)
	if i <= 0 {
		return ""
	}
	return name[:i]
}

// canonInbox makes a leading "inbox" of a pattern match INBOX, whose name
// is case-insensitive.
func canonInbox(p string) string {
	if len(p) >= 5 && strings.EqualFold(p[:5], "INBOX") && (len(p) == 5 || p[5] == delim) {
		return "INBOX" + p[5:]
	}
	return p
}

func matchAny(name string, patterns []listPattern) bool {
	for _, p := range patterns {
		if p.match(name) {
			return true
		}
	}
	return false
}

// listPattern is a LIST reference and pattern, joined the way go-imap's
// MatchList joins them. go-imap's matcher backtracks over every wildcard:
// LIST "" "*o*o*o*o*o*o*o*o*o*ox" took a minute of CPU for each mailbox
// with a name of 40 o's. This one is quadratic in a name's length at worst.
type listPattern struct {
	prefix  string // the reference: names must start with it
	pattern string // runs of wildcards collapsed to one
	literal int    // bytes of pattern that are not wildcards
}

func compileList(ref, pattern string) listPattern {
	if strings.HasPrefix(pattern, string(delim)) {
		ref, pattern = "", pattern[1:]
	}
	if ref != "" && !strings.HasSuffix(ref, string(delim)) {
		ref += string(delim)
	}
	p := listPattern{prefix: ref}
	var b strings.Builder
	for i := 0; i < len(pattern); {
		c := pattern[i]
		if c != '*' && c != '%' {
			b.WriteByte(c)
			p.literal++
			i++
			continue
		}
		// A run of wildcards matches what its widest one matches.
		j := i
		for j < len(pattern) && (pattern[j] == '*' || pattern[j] == '%') {
			if pattern[j] == '*' {
				c = '*'
			}
			j++
		}
		b.WriteByte(c)
		i = j
	}
	p.pattern = b.String()
	return p
}

// match reports whether name matches: "*" matches any run of bytes, "%"
// any run without the delimiter.
func (p listPattern) match(name string) bool {
	if !strings.HasPrefix(name, p.prefix) {
		return false
	}
	name = name[len(p.prefix):]
	if p.literal > len(name) {
		return false
	}
	// at[i]: the pattern so far can match name[:i].
	at := make([]bool, len(name)+1)
	next := make([]bool, len(name)+1)
	at[0] = true
	for k := 0; k < len(p.pattern); k++ {
		c := p.pattern[k]
		alive := false
		switch c {
		case '*':
			reach := false
			for i := range at {
				reach = reach || at[i]
				next[i] = reach
			}
		case '%':
			for i := range at {
				next[i] = at[i] || (i > 0 && next[i-1] && name[i-1] != delim)
			}
		default:
			next[0] = false
			for i := 1; i <= len(name); i++ {
				next[i] = at[i-1] && name[i-1] == c
			}
		}
		for _, ok := range next {
			alive = alive || ok
		}
		if !alive {
			return false
		}
		at, next = next, at
	}
	return at[len(name)]
}

// listData builds the LIST reply for e, or nil if the options exclude it.
func (s *session) listData(e *listEntry, options *imap.ListOptions) *imap.ListData {
	if e.orphan && !e.children {
		// Only a subscription: LIST (SUBSCRIBED) says it does not exist
		// (RFC 5258 section 3), LSUB, which has no such attribute, says
		// nothing, as Dovecot does; other LISTs leave it out.
		switch {
		case !options.SelectSubscribed:
			return nil
		case s.lsub():
			return &imap.ListData{Mailbox: e.name, Delim: delim}
		}
		return &imap.ListData{Mailbox: e.name, Delim: delim, Attrs: []imap.MailboxAttr{imap.MailboxAttrSubscribed, imap.MailboxAttrNonExistent}}
	}
	subscribed := e.mbox != nil && e.mbox.Subscribed || e.orphan
	data := &imap.ListData{Mailbox: e.name, Delim: delim}
	if e.mbox == nil {
		data.Attrs = append(data.Attrs, imap.MailboxAttrNoSelect)
	}
	if options.SelectSubscribed && !subscribed {
		switch {
		case options.SelectRecursiveMatch && e.subscribedKids:
			data.ChildInfo = &imap.ListDataChildInfo{Subscribed: true}
		case !options.SelectRecursiveMatch && e.unlistedKids:
			// LSUB shows an unsubscribed parent of a subscribed
			// mailbox the pattern does not reach ("%") as \Noselect
			// (RFC 3501 section 6.3.9); one it lists needs no parent.
			if e.mbox != nil {
				data.Attrs = append(data.Attrs, imap.MailboxAttrNoSelect)
			}
		default:
			return nil
		}
	}
	var role imap.MailboxAttr
	if e.mbox != nil {
		role = roleAttrs[e.mbox.Role]
	}
	if options.SelectSpecialUse && role == "" {
		return nil
	}
	if e.children {
		data.Attrs = append(data.Attrs, imap.MailboxAttrHasChildren)
	} else {
		data.Attrs = append(data.Attrs, imap.MailboxAttrHasNoChildren)
	}
	if subscribed && (options.SelectSubscribed || options.ReturnSubscribed) {
		data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
	}
	if role != "" {
		data.Attrs = append(data.Attrs, role)
	}
	if options.ReturnStatus != nil && e.mbox != nil {
		st, err := s.status(e.mbox, options.ReturnStatus)
		if err == nil {
			data.Status = st
		} else {
			s.srv.logger.Warn("imap list: status", "err", err)
		}
	}
	return data
}

func (s *session) Status(name string, options *imap.StatusOptions) (*imap.StatusData, error) {
	if *options == (imap.StatusOptions{}) {
		// go-imap takes "()", which RFC 9051's grammar does not.
		return nil, &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug, Text: "STATUS needs at least one item"}
	}
	name, err := normName(name)
	if err != nil {
		return nil, err
	}
	m, err := s.store().MailboxByName(name)
	if err != nil {
		return nil, storeError("status", err)
	}
	return s.status(&m, options)
}

func (s *session) status(m *store.Mailbox, options *imap.StatusOptions) (*imap.StatusData, error) {
	data := &imap.StatusData{Mailbox: m.Name, UIDNext: imap.UID(m.UIDNext), UIDValidity: m.UIDValidity}
	num := m.Messages
	data.NumMessages = &num
	if !options.NumUnseen && !options.NumDeleted && !options.Size && !options.NumRecent && !options.DeletedStorage {
		return data, nil
	}
	entries, err := s.store().Entries(m.ID)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	var unseen, deleted, recent uint32
	var size, deletedSize int64
	a := s.acct
	a.mu.Lock()
	recentNext := a.recentNext[m.ID]
	a.mu.Unlock()
	for _, e := range entries {
		size += e.Size
		if !hasFlag(e.Flags, imap.FlagSeen) {
			unseen++
		}
		if hasFlag(e.Flags, imap.FlagDeleted) {
			deleted++
			deletedSize += e.Size
		}
		if e.UID >= recentNext {
			recent++
		}
	}
	num = uint32(len(entries))
	data.NumUnseen, data.NumDeleted, data.NumRecent = &unseen, &deleted, &recent
	data.Size, data.DeletedStorage = &size, &deletedSize
	return data, nil
}

func hasFlag(flags []string, f imap.Flag) bool {
	for _, x := range flags {
		if strings.EqualFold(x, string(f)) {
			return true
		}
	}
	return false
}
