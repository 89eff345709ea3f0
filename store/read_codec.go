package store

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"
)

// Parsed at rest, binary form. FETCH ENVELOPE BODYSTRUCTURE and header
// searches decode one of these per message, so the format is made for
// decoding: a version byte (JSON, the older form, starts with '{'), the
// header block first so that header-only readers skip the rest, then the
// envelope and a pre-order walk of the body structure with a tag byte per
// node. Strings and lists are uvarint length-prefixed; a list or map
// length is stored plus one, so that nil (0) and empty (1) stay apart.
// Decoding copies the record into one string and slices every value from
// it: one allocation for all the strings of a message.

// parsedBinV1 marks the binary form.
const parsedBinV1 = 0x01

// maxBSDepth bounds nesting on decode, as the parser bounds it on encode.
const maxBSDepth = 64

const (
	bsNil    = 0
	bsSingle = 1
	bsMulti  = 2
)

// Presence bits of a single part's optional blocks.
const (
	bsHasText = 1 << iota
	bsHasMsg
	bsHasExt
	bsHasDisp
)

// encodeParsedBinary encodes p in the binary form.
func encodeParsedBinary(p *Parsed) []byte {
	b := make([]byte, 0, 64+len(p.Header)+512)
	b = append(b, parsedBinV1)
	b = appendBytes(b, p.Header)
	b = appendEnvelope(b, p.Envelope)
	return appendBS(b, p.BodyStructure)
}

// decodeStoredParsed decodes either stored form of Parsed.
func decodeStoredParsed(b []byte) (*Parsed, error) {
	if len(b) > 0 && b[0] == parsedBinV1 {
		return decodeParsedBinary(b)
	}
	return decodeParsed(b)
}

// storedHeader returns the header block of a stored Parsed without
// decoding the rest; the result aliases b.
func storedHeader(b []byte) ([]byte, error) {
	if len(b) > 0 && b[0] == parsedBinV1 {
		d := binDecoder{b: b[1:]}
		h := d.bytes()
		if d.bad {
			return nil, fmt.Errorf("%w: parsed message", errCorrupt)
		}
		return h, nil
	}
	p, err := decodeParsed(b)
	if err != nil {
		return nil, err
	}
	return p.Header, nil
}

func decodeParsedBinary(b []byte) (*Parsed, error) {
	if len(b) == 0 || b[0] != parsedBinV1 {
		return nil, fmt.Errorf("%w: parsed message version", errCorrupt)
	}
	d := binDecoder{b: b[1:], s: string(b[1:])}
	p := &Parsed{Header: d.bytes()}
	p.Envelope = d.envelope()
	if p.Envelope == nil {
		p.Envelope = &imap.Envelope{}
	}
	p.BodyStructure = d.bs(0)
	if d.bad || len(d.b) != 0 {
		return nil, fmt.Errorf("%w: parsed message", errCorrupt)
	}
	if p.BodyStructure == nil {
		p.BodyStructure = fromWire(nil)
	}
	return p, nil
}

// ---- encoding ----

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendCount writes n+1, or 0 for nil.
func appendCount(b []byte, n int, isNil bool) []byte {
	if isNil {
		return append(b, 0)
	}
	return binary.AppendUvarint(b, uint64(n)+1)
}

func appendStrings(b []byte, l []string) []byte {
	b = appendCount(b, len(l), l == nil)
	for _, s := range l {
		b = appendString(b, s)
	}
	return b
}

func appendParams(b []byte, m map[string]string) []byte {
	b = appendCount(b, len(m), m == nil)
	// Sorted keys make the encoding deterministic.
	for _, k := range slices.Sorted(maps.Keys(m)) {
		b = appendString(b, k)
		b = appendString(b, m[k])
	}
	return b
}

func appendAddresses(b []byte, l []imap.Address) []byte {
	b = appendCount(b, len(l), l == nil)
	for _, a := range l {
		b = appendString(b, a.Name)
		b = appendString(b, a.Mailbox)
		b = appendString(b, a.Host)
	}
	return b
}

func appendTime(b []byte, t time.Time) []byte {
	tb, err := t.MarshalBinary()
	if err != nil {
		// Only a zone offset that is not whole minutes fails; keep
		// the instant in UTC rather than lose the date.
		tb, _ = t.UTC().MarshalBinary()
	}
	return appendBytes(b, tb)
}

func appendEnvelope(b []byte, e *imap.Envelope) []byte {
	if e == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	b = appendTime(b, e.Date)
	b = appendString(b, e.Subject)
	for _, l := range [][]imap.Address{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc} {
		b = appendAddresses(b, l)
	}
	b = appendStrings(b, e.InReplyTo)
	return appendString(b, e.MessageID)
}

func appendDisposition(b []byte, d *imap.BodyStructureDisposition) []byte {
	b = appendString(b, d.Value)
	return appendParams(b, d.Params)
}

func appendBS(b []byte, bs imap.BodyStructure) []byte {
	switch bs := bs.(type) {
	case *imap.BodyStructureMultiPart:
		if bs == nil {
			return append(b, bsNil)
		}
		b = append(b, bsMulti)
		b = appendString(b, bs.Subtype)
		b = binary.AppendUvarint(b, uint64(len(bs.Children)))
		for _, c := range bs.Children {
			b = appendBS(b, c)
		}
		var bits byte
		e := bs.Extended
		if e != nil {
			bits |= bsHasExt
			if e.Disposition != nil {
				bits |= bsHasDisp
			}
		}
		b = append(b, bits)
		if e != nil {
			b = appendParams(b, e.Params)
			if e.Disposition != nil {
				b = appendDisposition(b, e.Disposition)
			}
			b = appendStrings(b, e.Language)
			b = appendString(b, e.Location)
		}
		return b
	case *imap.BodyStructureSinglePart:
		if bs == nil {
			return append(b, bsNil)
		}
		b = append(b, bsSingle)
		for _, s := range []string{bs.Type, bs.Subtype, bs.ID, bs.Description, bs.Encoding} {
			b = appendString(b, s)
		}
		b = appendParams(b, bs.Params)
		b = binary.AppendUvarint(b, uint64(bs.Size))
		var bits byte
		if bs.Text != nil {
			bits |= bsHasText
		}
		if bs.MessageRFC822 != nil {
			bits |= bsHasMsg
		}
		e := bs.Extended
		if e != nil {
			bits |= bsHasExt
			if e.Disposition != nil {
				bits |= bsHasDisp
			}
		}
		b = append(b, bits)
		if bs.Text != nil {
			b = binary.AppendVarint(b, bs.Text.NumLines)
		}
		if m := bs.MessageRFC822; m != nil {
			b = appendEnvelope(b, m.Envelope)
			b = appendBS(b, m.BodyStructure)
			b = binary.AppendVarint(b, m.NumLines)
		}
		if e != nil {
			if e.Disposition != nil {
				b = appendDisposition(b, e.Disposition)
			}
			b = appendStrings(b, e.Language)
			b = appendString(b, e.Location)
		}
		return b
	}
	return append(b, bsNil)
}

// ---- decoding ----

// binDecoder reads the binary form; like decoder, it records running
// short instead of panicking. s is the same bytes as b as one string:
// strings are sliced from it (off is how far b has advanced in s).
type binDecoder struct {
	b   []byte
	s   string
	off int
	bad bool
}

func (d *binDecoder) uvarint() uint64 {
	if d.bad {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b, d.off = d.b[n:], d.off+n
	return v
}

func (d *binDecoder) varint() int64 {
	if d.bad {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b, d.off = d.b[n:], d.off+n
	return v
}

func (d *binDecoder) byte() byte {
	if d.bad || len(d.b) == 0 {
		d.bad = true
		return 0
	}
	v := d.b[0]
	d.b, d.off = d.b[1:], d.off+1
	return v
}

// length reads a length and checks that that many bytes follow.
func (d *binDecoder) length() int {
	n := d.uvarint()
	if d.bad || n > uint64(len(d.b)) {
		d.bad = true
		return 0
	}
	return int(n)
}

func (d *binDecoder) bytes() []byte {
	n := d.length()
	if d.bad {
		return nil
	}
	v := d.b[:n:n]
	d.b, d.off = d.b[n:], d.off+n
	return v
}

func (d *binDecoder) string() string {
	n := d.length()
	if d.bad || n == 0 {
		return ""
	}
	var v string
	if len(d.s) >= d.off+n {
		v = d.s[d.off : d.off+n]
	} else {
		v = string(d.b[:n])
	}
	d.b, d.off = d.b[n:], d.off+n
	return v
}

// count reads a list length stored plus one; nil reports a nil list. Each
// element takes at least one byte, which bounds allocation on bad input.
func (d *binDecoder) count() (n int, isNil bool) {
	c := d.uvarint()
	if d.bad || c == 0 {
		return 0, true
	}
	if c-1 > uint64(len(d.b)) {
		d.bad = true
		return 0, true
	}
	return int(c - 1), false
}

func (d *binDecoder) strings() []string {
	n, isNil := d.count()
	if isNil {
		return nil
	}
	l := make([]string, n)
	for i := range l {
		l[i] = d.string()
	}
	return l
}

func (d *binDecoder) params() map[string]string {
	n, isNil := d.count()
	if isNil {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := d.string()
		m[k] = d.string()
	}
	return m
}

func (d *binDecoder) addresses() []imap.Address {
	n, isNil := d.count()
	if isNil {
		return nil
	}
	l := make([]imap.Address, n)
	for i := range l {
		l[i] = imap.Address{Name: d.string(), Mailbox: d.string(), Host: d.string()}
	}
	return l
}

func (d *binDecoder) time() time.Time {
	var t time.Time
	if b := d.bytes(); !d.bad {
		if err := t.UnmarshalBinary(b); err != nil {
			d.bad = true
		}
	}
	return t
}

func (d *binDecoder) envelope() *imap.Envelope {
	if d.byte() == 0 {
		return nil
	}
	e := &imap.Envelope{Date: d.time(), Subject: d.string()}
	for _, l := range []*[]imap.Address{&e.From, &e.Sender, &e.ReplyTo, &e.To, &e.Cc, &e.Bcc} {
		*l = d.addresses()
	}
	e.InReplyTo = d.strings()
	e.MessageID = d.string()
	return e
}

func (d *binDecoder) disposition() *imap.BodyStructureDisposition {
	return &imap.BodyStructureDisposition{Value: d.string(), Params: d.params()}
}

func (d *binDecoder) bs(depth int) imap.BodyStructure {
	if depth > maxBSDepth {
		d.bad = true
		return nil
	}
	switch d.byte() {
	case bsNil:
		return nil
	case bsMulti:
		bs := &imap.BodyStructureMultiPart{Subtype: d.string()}
		n := d.length() // each child takes at least one byte
		if n > 0 {
			bs.Children = make([]imap.BodyStructure, 0, n)
		}
		for range n {
			if c := d.bs(depth + 1); c != nil {
				bs.Children = append(bs.Children, c)
			}
		}
		if bits := d.byte(); bits&bsHasExt != 0 {
			e := &imap.BodyStructureMultiPartExt{Params: d.params()}
			if bits&bsHasDisp != 0 {
				e.Disposition = d.disposition()
			}
			e.Language, e.Location = d.strings(), d.string()
			bs.Extended = e
		}
		return bs
	case bsSingle:
		bs := &imap.BodyStructureSinglePart{Type: d.string(), Subtype: d.string(), ID: d.string(),
			Description: d.string(), Encoding: d.string()}
		bs.Params = d.params()
		bs.Size = uint32(d.uvarint())
		bits := d.byte()
		if bits&bsHasText != 0 {
			bs.Text = &imap.BodyStructureText{NumLines: d.varint()}
		}
		if bits&bsHasMsg != 0 {
			m := &imap.BodyStructureMessageRFC822{Envelope: d.envelope()}
			m.BodyStructure = d.bs(depth + 1)
			m.NumLines = d.varint()
			bs.MessageRFC822 = m
		}
		if bits&bsHasExt != 0 {
			e := &imap.BodyStructureSinglePartExt{}
			if bits&bsHasDisp != 0 {
				e.Disposition = d.disposition()
			}
			e.Language, e.Location = d.strings(), d.string()
			bs.Extended = e
		}
		return bs
	}
	d.bad = true
	return nil
}
