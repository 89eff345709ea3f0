package mock

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/mailbridge/mailbridge/upstream"
)

// IDs and names of the user labels seeded messages carry.
const (
	LabelWork         = "work"
	LabelWorkProjects = "work-projects"
	labelWorkName     = "Work"
	labelProjectsName = "Work/Projects"
)

// seedEpoch anchors seeded dates: they spread over the year before it. A
// constant, not time.Now, so the same seed gives the same Date headers on
// any day.
var seedEpoch = time.Date(2026, time.November, 1, 9, 30, 0, 0, time.UTC)

// SeedKind is the shape of a seeded message.
type SeedKind string

// Kinds of seeded messages.
const (
	KindPlain      SeedKind = "plain"      // text/plain
	KindHTML       SeedKind = "html"       // multipart/alternative, text and HTML
	KindAttachment SeedKind = "attachment" // multipart/mixed with a PDF or PNG
	KindReply      SeedKind = "reply"      // text/plain reply in a thread
)

// SeedMessage is one message of a seeded mailbox, as Seed stores it before
// encryption.
type SeedMessage struct {
	ID         string // upstream message ID
	MessageID  string // the Message-ID header, with angle brackets
	Kind       SeedKind
	Raw        []byte // plaintext RFC 822 message, CRLF line endings
	MailboxIDs []string
	Flags      upstream.Flags
	Date       time.Time
	Format     Format
	From       string // sender address
	// Signer is the address whose key signed the message, "" if unsigned.
	Signer string
	// SignerKnown tells whether the key server has the signer's key; the
	// others are signed by a key nobody can look up.
	SignerKnown bool

	subject, references string // decoded, for replies to this message
	fromName            string
	peer                int // index in contacts of the correspondent
}

// contact is a seeded correspondent. Those with a key sign some of their
// messages with the fixture key of that name.
type contact struct {
	name, email string
	key         string // fixture key file, "" for none
	published   bool   // key on the key server
	lang        string
}

// contacts is read-only seed data.
var contacts = []contact{
	{"Alice Liddell", AliceEmail, "alice", true, "en"},
	{"Jürgen Groß", "juergen@example.test", "juergen", true, "de"},
	{"山田太郎", "yamada@example.test", "yamada", true, "ja"},
	{"Иван Петров", "ivan@example.test", "ivan", false, "ru"},
	{"Zoë Ångström", "zoe@example.test", "", false, "en"},
	{"Shop Newsletter", "news@shop.example.test", "", false, "en"},
	{"Bob Stone", "bob@example.test", "", false, "en"},
}

// SeedMessages returns the n messages Seed(…, n, seed) stores for an
// account whose primary address is me, oldest first. The result depends
// only on its arguments.
func SeedMessages(n int, seed int64, me upstream.Address) []SeedMessage {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6d61696c62726467))
	dates := make([]time.Time, n)
	for i := range dates {
		back := time.Duration(rng.Int64N(int64(365 * 24 * time.Hour)))
		dates[i] = seedEpoch.Add(-back).Truncate(time.Second)
	}
	slices.SortFunc(dates, func(a, b time.Time) int { return a.Compare(b) })

	g := &generator{rng: rng, me: me}
	out := make([]SeedMessage, 0, n)
	for i := range n {
		out = append(out, g.message(i, seed, dates[i], out))
	}
	return out
}

// generator holds what one SeedMessages run draws from.
type generator struct {
	rng *rand.Rand
	me  upstream.Address
}

func (g *generator) message(i int, seed int64, date time.Time, prev []SeedMessage) SeedMessage {
	r := g.rng
	m := SeedMessage{
		ID:        fmt.Sprintf("s%016x-%06d", uint64(seed), i),
		MessageID: fmt.Sprintf("<seed.%x.%d@mock.example.test>", uint64(seed), i),
		Date:      date,
	}
	sent := r.IntN(100) < 12
	peer := r.IntN(len(contacts))
	switch k := r.IntN(100); {
	case k < 35 || (k >= 85 && len(prev) == 0):
		m.Kind = KindPlain
	case k < 65:
		m.Kind = KindHTML
	case k < 85:
		m.Kind = KindAttachment
	default:
		m.Kind = KindReply
	}
	var parent *SeedMessage
	if m.Kind == KindReply {
		parent = &prev[r.IntN(len(prev))]
		peer = parent.peer
	}
	c := contacts[peer]
	m.peer = peer

	if sent {
		m.From = g.me.Email
		m.MailboxIDs = []string{upstream.Sent}
		m.Flags = upstream.FlagSeen
	} else {
		m.From = c.email
		m.MailboxIDs, m.Flags = g.placement()
		if c.key != "" && (!c.published || r.IntN(100) < 75) {
			m.Signer, m.SignerKnown = c.email, c.published
		}
	}
	m.MailboxIDs = normalizeLabels(nil, m.MailboxIDs)

	textual := m.Kind == KindPlain || m.Kind == KindReply
	switch f := r.IntN(100); {
	case textual && f < 25:
		m.Format = FormatInline
	case f >= 88:
		m.Format = FormatWhole
	default:
		m.Format = FormatPGPMIME
	}

	from, to := g.me.Name, c.name
	fromAddr, toAddr := g.me.Email, c.email
	if !sent {
		from, to, fromAddr, toAddr = to, from, toAddr, fromAddr
	}
	h := header{
		from:      formatAddress(from, fromAddr),
		to:        formatAddress(to, toAddr),
		fromName:  from,
		toName:    to,
		subject:   g.subject(c),
		date:      date,
		messageID: m.MessageID,
		lang:      c.lang,
	}
	if parent != nil {
		h.subject = "Re: " + strings.TrimPrefix(parent.subject, "Re: ")
		h.inReplyTo = parent.MessageID
		h.references = strings.TrimSpace(parent.references + " " + parent.MessageID)
		h.quotedSender = parent.fromName
		h.when = parent.Date.Format("Mon, 2 Jan 2006 at 15:04")
	}
	m.subject, m.references, m.fromName = h.subject, h.references, from
	m.Raw = g.build(m.Kind, h, m.Format == FormatInline)
	return m
}

// placement picks labels and flags for a received message: mostly Inbox,
// some archived or under Work, a few in Trash or Spam.
func (g *generator) placement() ([]string, upstream.Flags) {
	r := g.rng
	var labels []string
	switch p := r.IntN(100); {
	case p < 55:
		labels = []string{upstream.Inbox}
	case p < 68:
		labels = []string{upstream.Archive}
	case p < 78:
		labels = []string{upstream.Inbox, LabelWork}
	case p < 85:
		labels = []string{upstream.Archive, LabelWorkProjects}
	case p < 93:
		labels = []string{upstream.Trash}
	default:
		labels = []string{upstream.Spam}
	}
	var f upstream.Flags
	if r.IntN(100) < 65 {
		f |= upstream.FlagSeen
	}
	if r.IntN(100) < 10 {
		f |= upstream.FlagFlagged
	}
	if r.IntN(100) < 5 {
		f |= upstream.FlagAnswered
	}
	return labels, f
}
