package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mailbridge/mailbridge/upstream"
)

// flagDeleted is the entry-only \Deleted bit, above the upstream.Flags byte.
const flagDeleted uint16 = 1 << 8

// flagSet is a parsed list of IMAP flags.
type flagSet struct {
	up       upstream.Flags
	deleted  bool
	keywords []string
}

var systemFlags = []struct {
	name string
	bit  upstream.Flags
}{
	{`\Seen`, upstream.FlagSeen},
	{`\Answered`, upstream.FlagAnswered},
	{`\Flagged`, upstream.FlagFlagged},
	{`\Draft`, upstream.FlagDraft},
	{`$Forwarded`, upstream.FlagForwarded},
}

// parseFlags sorts IMAP flags into upstream bits, \Deleted and keywords.
// \Recent and unknown system flags are dropped: clients cannot set them.
func parseFlags(flags []string) flagSet {
	var fs flagSet
next:
	for _, f := range flags {
		for _, sf := range systemFlags {
			if strings.EqualFold(f, sf.name) {
				fs.up |= sf.bit
				continue next
			}
		}
		switch {
		case strings.EqualFold(f, `\Deleted`):
			fs.deleted = true
		case f == "" || strings.HasPrefix(f, `\`):
		default:
			fs.keywords = append(fs.keywords, f)
		}
	}
	return fs
}

// imapFlags renders flags in a fixed order: system flags, then keywords in
// keyword-ID order.
func imapFlags(bits uint16, kw []uint32, names map[uint32]string) []string {
	out := make([]string, 0, 6+len(kw))
	for _, sf := range systemFlags[:4] {
		if upstream.Flags(bits).Has(sf.bit) {
			out = append(out, sf.name)
		}
	}
	if bits&flagDeleted != 0 {
		out = append(out, `\Deleted`)
	}
	if upstream.Flags(bits).Has(upstream.FlagForwarded) {
		out = append(out, `$Forwarded`)
	}
	for _, id := range kw {
		if n, ok := names[id]; ok {
			out = append(out, n)
		}
	}
	return out
}

// member is one mailbox entry of a message.
type member struct {
	mbox uint64
	uid  uint32
}

// msgRec is a message's clear record: nothing in it is mail content.
type msgRec struct {
	upstreamID string
	flags      upstream.Flags
	date       int64 // Unix seconds
	size       int64
	keywords   []uint32 // sorted keyword IDs
	members    []member
}

var errCorrupt = errors.New("store: corrupt record")

func (r *msgRec) encode() []byte {
	b := make([]byte, 0, 2+len(r.upstreamID)+1+16+2+4*len(r.keywords)+2+12*len(r.members))
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.upstreamID)))
	b = append(b, r.upstreamID...)
	b = append(b, byte(r.flags))
	b = binary.BigEndian.AppendUint64(b, uint64(r.date))
	b = binary.BigEndian.AppendUint64(b, uint64(r.size))
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.keywords)))
	for _, k := range r.keywords {
		b = binary.BigEndian.AppendUint32(b, k)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.members)))
	for _, m := range r.members {
		b = binary.BigEndian.AppendUint64(b, m.mbox)
		b = binary.BigEndian.AppendUint32(b, m.uid)
	}
	return b
}

func decodeMsg(b []byte) (*msgRec, error) {
	d := decoder{b: b}
	r := &msgRec{}
	r.upstreamID = string(d.bytes(int(d.u16())))
	r.flags = upstream.Flags(d.u8())
	r.date = int64(d.u64())
	r.size = int64(d.u64())
	if n := int(d.u16()); n > 0 {
		r.keywords = make([]uint32, n)
		for i := range r.keywords {
			r.keywords[i] = d.u32()
		}
	}
	if n := int(d.u16()); n > 0 {
		r.members = make([]member, n)
		for i := range r.members {
			r.members[i] = member{mbox: d.u64(), uid: d.u32()}
		}
	}
	if d.bad {
		return nil, fmt.Errorf("%w: message", errCorrupt)
	}
	return r, nil
}

func (r *msgRec) memberOf(mbox uint64) (uint32, bool) {
	for _, m := range r.members {
		if m.mbox == mbox {
			return m.uid, true
		}
	}
	return 0, false
}

// entryRec is what a mailbox listing needs, kept clear and small so that
// SELECT is one cursor scan: message ID, flags, date, size, keyword IDs.
type entryRec struct {
	msgID    uint64
	flags    uint16
	date     int64
	size     int64
	keywords []uint32
}

func newEntry(msgID uint64, r *msgRec, deleted bool) entryRec {
	e := entryRec{msgID: msgID, flags: uint16(r.flags), date: r.date, size: r.size, keywords: r.keywords}
	if deleted {
		e.flags |= flagDeleted
	}
	return e
}

func (e entryRec) encode() []byte {
	b := make([]byte, 0, 28+4*len(e.keywords))
	b = binary.BigEndian.AppendUint64(b, e.msgID)
	b = binary.BigEndian.AppendUint16(b, e.flags)
	b = binary.BigEndian.AppendUint64(b, uint64(e.date))
	b = binary.BigEndian.AppendUint64(b, uint64(e.size))
	b = binary.BigEndian.AppendUint16(b, uint16(len(e.keywords)))
	for _, k := range e.keywords {
		b = binary.BigEndian.AppendUint32(b, k)
	}
	return b
}

func decodeEntry(b []byte) (entryRec, error) {
	d := decoder{b: b}
	e := entryRec{msgID: d.u64(), flags: d.u16(), date: int64(d.u64()), size: int64(d.u64())}
	if n := int(d.u16()); n > 0 {
		e.keywords = make([]uint32, n)
		for i := range e.keywords {
			e.keywords[i] = d.u32()
		}
	}
	if d.bad {
		return entryRec{}, fmt.Errorf("%w: entry", errCorrupt)
	}
	return e, nil
}

func (e entryRec) toEntry(uid uint32, names map[uint32]string) Entry {
	return Entry{
		UID:   uid,
		MsgID: e.msgID,
		Flags: imapFlags(e.flags, e.keywords, names),
		Date:  timeOf(e.date),
		Size:  e.size,
	}
}

// decoder reads big-endian fields and remembers running short instead of
// panicking, so that a damaged record is an error.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) bytes(n int) []byte {
	if d.bad || len(d.b) < n {
		d.bad = true
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() uint8 {
	if v := d.bytes(1); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if v := d.bytes(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if v := d.bytes(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if v := d.bytes(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// sortedUnique returns ids sorted without duplicates.
func sortedUnique(ids []uint32) []uint32 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

func decodeU64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

func timeOf(unix int64) time.Time { return time.Unix(unix, 0).UTC() }
