package store

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message/textproto"
)

// Parsed is what IMAP needs about a message besides its body, computed
// once when the message enters the cache.
type Parsed struct {
	Envelope *imap.Envelope
	// BodyStructure is the extended form; the non-extended BODY form
	// leaves out the Extended fields.
	BodyStructure imap.BodyStructure
	// Header is the raw header block including the blank line that ends
	// it, for BODY[HEADER] and HEADER.FIELDS.
	Header []byte
}

// Analysis is what the store derives from a message's plaintext: its
// Parsed form and its index terms. Analyze makes one;
// the syncer does so on its worker goroutines and passes it in
// Incoming.Analysis, so the single writer only writes.
type Analysis struct {
	parsed []byte   // encoded parsedWire
	words  string   // distinct tokens, one after the other
	ends   []uint32 // where each word ends in words
	terms  []uint64 // posting keys: (class, word) hashed with the index key
	// termWords holds the word of each term, for the vocabulary: a word
	// is added to it when one of its terms gets its first posting.
	termWords []uint32
}

// word returns the i-th word.
func (a *Analysis) word(i int) string {
	start := uint32(0)
	if i > 0 {
		start = a.ends[i-1]
	}
	return a.words[start:a.ends[i]]
}

// Term classes: a word in a header value or in the body text, and again
// in one of the fields SEARCH names a key after (FROM, TO, CC, BCC,
// SUBJECT), so that those keys are answered from the index like TEXT.
const (
	classHeader  = 'h'
	classBody    = 'b'
	classVocab   = 'w'
	classFrom    = 'f'
	classTo      = 't'
	classCc      = 'c'
	classBcc     = 'B'
	classSubject = 's'
)

// Bits of wordSet classes: where a word occurs.
const (
	inHeader byte = 1 << iota
	inBody
	inFrom
	inTo
	inCc
	inBcc
	inSubject
)

// fieldBit is the wordSet bit of a lower-case field name, 0 for a field
// without its own terms.
func fieldBit(name string) byte {
	switch name {
	case "from":
		return inFrom
	case "to":
		return inTo
	case "cc":
		return inCc
	case "bcc":
		return inBcc
	case "subject":
		return inSubject
	}
	return 0
}

// bitClass is the term class of a field bit.
func bitClass(bit byte) byte {
	switch bit {
	case inFrom:
		return classFrom
	case inTo:
		return classTo
	case inCc:
		return classCc
	case inBcc:
		return classBcc
	case inSubject:
		return classSubject
	}
	return 0
}

// fieldClass is the term class of a lower-case field name, 0 for a field
// without its own terms.
func fieldClass(name string) byte { return bitClass(fieldBit(name)) }

// indexKeys derives the keyed hash for the search index from the cache
// key, so that index keys reveal no word without the key.
func indexKey(cacheKey []byte) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, cacheKey, nil, "mailbridge store search index v1", 32)
	if err != nil {
		return nil, fmt.Errorf("store: derive index key: %w", err)
	}
	return k, nil
}

// termKey is the keyed hash of one word in one class: CBC-MAC under AES
// with the class and length in the first block, which makes the encoding
// prefix-free and so the MAC a PRF for words of any length. Most words fit
// the first block: one AES call each, an order of magnitude cheaper than
// an HMAC, which matters with a few hundred words per message. 64 bits
// are plenty, since a collision only adds a candidate that the
// confirmation drops.
func (s *Store) termKey(class byte, word string) uint64 {
	return s.termKeyBuf(make([]byte, 16), class, word)
}

// termKeyBuf is termKey with a caller's 16-byte scratch block: the block
// passes through the cipher.Block interface, so a local array would be
// allocated on every call.
func (s *Store) termKeyBuf(blk []byte, class byte, word string) uint64 {
	clear(blk)
	blk[0] = class
	binary.BigEndian.PutUint16(blk[1:3], uint16(min(len(word), 0xffff)))
	n := copy(blk[3:], word)
	s.idxCipher.Encrypt(blk, blk)
	for rest := word[n:]; len(rest) > 0; {
		m := min(len(rest), 16)
		for i := range m {
			blk[i] ^= rest[i]
		}
		rest = rest[m:]
		s.idxCipher.Encrypt(blk, blk)
	}
	return binary.BigEndian.Uint64(blk[:8])
}

// Analyze parses a message once: envelope, body structure, header block,
// and the index terms of its decoded, case-folded text. It never fails: a
// damaged message yields what could be read of it.
func (s *Store) Analyze(raw []byte) *Analysis {
	sc, _ := s.scratch.Get().(*analyzeScratch)
	if sc == nil {
		sc = &analyzeScratch{}
	}
	defer s.scratch.Put(sc)
	hb, body := splitHeader(raw)
	h := readHeader(hb)
	w := walker{text: sc.text[:0]}
	p := &Parsed{Envelope: envelope(h), Header: hb}
	p.BodyStructure = w.part(h, body, 0, "text/plain")
	a := &Analysis{parsed: encodeParsedBinary(p)}

	ws := &sc.words
	ws.init(64 + len(w.text)/32)
	for f := h.Fields(); f.Next(); {
		// As headerFields has them, read from the text buffer (past the
		// body's text) so that the tokenizer sees bytes only.
		name := strings.ToLower(f.Key())
		value := fold(decodeHeader(unfold(f.Value())))
		n := len(w.text)
		w.text = append(append(w.text, name...), value...)
		ws.addTokens(w.text[n:n+len(name)], inHeader)
		ws.addTokens(w.text[n+len(name):], inHeader|fieldBit(name))
		w.text = w.text[:n]
	}
	ws.addTokens(w.text, inBody)
	a.words, a.ends = ws.words()
	classes := ws.classes
	a.terms = make([]uint64, 0, len(a.ends)+len(a.ends)/2)
	a.termWords = make([]uint32, 0, cap(a.terms))
	blk := sc.blk[:]
	for i := range a.ends {
		word := a.word(i)
		if classes[i]&inHeader != 0 {
			a.terms = append(a.terms, s.termKeyBuf(blk, classHeader, word))
		}
		if classes[i]&inBody != 0 {
			a.terms = append(a.terms, s.termKeyBuf(blk, classBody, word))
		}
		a.terms = s.appendFieldTerms(a.terms, blk, word, classes[i])
		for len(a.termWords) < len(a.terms) {
			a.termWords = append(a.termWords, uint32(i))
		}
	}
	sc.text = w.text
	if cap(sc.text) > maxScratch || cap(ws.arena) > maxScratch {
		// One huge message must not pin its buffers.
		sc.text, sc.words = nil, wordSet{}
	}
	return a
}

// analyzeScratch is what Analyze reuses from one message to the next:
// the folded text and the word table, a few tens of KiB per message.
type analyzeScratch struct {
	text  []byte
	words wordSet
	blk   [16]byte
}

// maxScratch is the largest text buffer kept for the next message.
const maxScratch = 256 << 10

// appendFieldTerms appends the per-field terms of a word found in the
// fields whose bits classes has.
func (s *Store) appendFieldTerms(terms []uint64, blk []byte, word string, classes byte) []uint64 {
	if classes&^(inHeader|inBody) == 0 {
		return terms
	}
	for bit := inFrom; bit <= inSubject; bit <<= 1 {
		if classes&bit != 0 {
			terms = append(terms, s.termKeyBuf(blk, bitClass(bit), word))
		}
	}
	return terms
}

// fieldTerms returns the per-field terms of a header block, which is what
// migration 3 adds to messages indexed before fields had their own terms.
func (s *Store) fieldTerms(hb []byte) []uint64 {
	ws := &wordSet{}
	ws.init(64)
	for _, f := range headerFields(readHeader(hb)) {
		if bit := fieldBit(f.name); bit != 0 {
			ws.addTokens([]byte(f.value), bit)
		}
	}
	var terms []uint64
	blk := make([]byte, 16)
	words, ends := ws.words()
	start := uint32(0)
	for i, end := range ends {
		terms = s.appendFieldTerms(terms, blk, words[start:end], ws.classes[i])
		start = end
	}
	return terms
}

// analyzeDoc parses a message into its Parsed form and its search
// document, as Analyze and search see them.
func analyzeDoc(raw []byte) (*Parsed, *searchDoc) {
	hb, body := splitHeader(raw)
	h := readHeader(hb)
	w := walker{text: make([]byte, 0, len(body))} // the text is at most about the body's size
	p := &Parsed{Envelope: envelope(h), Header: hb}
	p.BodyStructure = w.part(h, body, 0, "text/plain")
	doc := &searchDoc{fields: headerFields(h), body: string(w.text)}
	return p, doc
}

// headerFields returns a header's fields as search sees them: lower-case
// names, decoded and folded values.
func headerFields(h textproto.Header) []docField {
	var out []docField
	for f := h.Fields(); f.Next(); {
		out = append(out, docField{name: strings.ToLower(f.Key()), value: fold(decodeHeader(unfold(f.Value())))})
	}
	return out
}

// ---- the search document ----

type docField struct{ name, value string }

// searchDoc is the folded text of a message: header fields with decoded
// values, and the decoded text of its text parts.
type searchDoc struct {
	fields []docField
	body   string
}

// ---- Parsed at rest ----

// bsWire is a body structure as JSON: go-imap's BodyStructure is an
// interface, which encoding/json cannot decode by itself.
type bsWire struct {
	Multi    bool                           `json:"m,omitempty"`
	Type     string                         `json:"t,omitempty"`
	Subtype  string                         `json:"s,omitempty"`
	Params   map[string]string              `json:"p,omitempty"`
	ID       string                         `json:"id,omitempty"`
	Desc     string                         `json:"d,omitempty"`
	Enc      string                         `json:"e,omitempty"`
	Size     uint32                         `json:"z,omitempty"`
	Text     *imap.BodyStructureText        `json:"tx,omitempty"`
	Env      *imap.Envelope                 `json:"env,omitempty"` // message/rfc822
	Inner    *bsWire                        `json:"in,omitempty"`
	Lines    int64                          `json:"l,omitempty"`
	Children []*bsWire                      `json:"c,omitempty"`
	Disp     *imap.BodyStructureDisposition `json:"di,omitempty"`
	Lang     []string                       `json:"la,omitempty"`
	Loc      string                         `json:"lo,omitempty"`
	HasExt   bool                           `json:"x,omitempty"`
}

type parsedWire struct {
	Env    *imap.Envelope `json:"e"`
	BS     *bsWire        `json:"b"`
	Header []byte         `json:"h"`
}

func toWire(bs imap.BodyStructure) *bsWire {
	switch bs := bs.(type) {
	case *imap.BodyStructureMultiPart:
		w := &bsWire{Multi: true, Subtype: bs.Subtype}
		for _, c := range bs.Children {
			w.Children = append(w.Children, toWire(c))
		}
		if e := bs.Extended; e != nil {
			w.HasExt, w.Params, w.Disp, w.Lang, w.Loc = true, e.Params, e.Disposition, e.Language, e.Location
		}
		return w
	case *imap.BodyStructureSinglePart:
		w := &bsWire{Type: bs.Type, Subtype: bs.Subtype, Params: bs.Params, ID: bs.ID, Desc: bs.Description,
			Enc: bs.Encoding, Size: bs.Size, Text: bs.Text}
		if m := bs.MessageRFC822; m != nil {
			w.Env, w.Inner, w.Lines = m.Envelope, toWire(m.BodyStructure), m.NumLines
		}
		if e := bs.Extended; e != nil {
			w.HasExt, w.Disp, w.Lang, w.Loc = true, e.Disposition, e.Language, e.Location
		}
		return w
	}
	return nil
}

func fromWire(w *bsWire) imap.BodyStructure {
	if w == nil {
		return &imap.BodyStructureSinglePart{Type: "text", Subtype: "plain", Encoding: "7bit", Text: &imap.BodyStructureText{}}
	}
	if w.Multi {
		bs := &imap.BodyStructureMultiPart{Subtype: w.Subtype}
		for _, c := range w.Children {
			bs.Children = append(bs.Children, fromWire(c))
		}
		if w.HasExt {
			bs.Extended = &imap.BodyStructureMultiPartExt{Params: w.Params, Disposition: w.Disp, Language: w.Lang, Location: w.Loc}
		}
		return bs
	}
	bs := &imap.BodyStructureSinglePart{Type: w.Type, Subtype: w.Subtype, Params: w.Params, ID: w.ID,
		Description: w.Desc, Encoding: w.Enc, Size: w.Size, Text: w.Text}
	if w.Inner != nil || w.Env != nil {
		bs.MessageRFC822 = &imap.BodyStructureMessageRFC822{Envelope: w.Env, BodyStructure: fromWire(w.Inner), NumLines: w.Lines}
	}
	if w.HasExt {
		bs.Extended = &imap.BodyStructureSinglePartExt{Disposition: w.Disp, Language: w.Lang, Location: w.Loc}
	}
	return bs
}

// encodeParsed is the first stored form (JSON), which caches written
// before the binary one (encodeParsedBinary) still hold and
// decodeStoredParsed still reads.
func encodeParsed(p *Parsed) []byte {
	b, err := json.Marshal(parsedWire{Env: p.Envelope, BS: toWire(p.BodyStructure), Header: p.Header})
	if err != nil {
		// Every field is a plain value: this cannot happen.
		return []byte("{}")
	}
	return b
}

func decodeParsed(b []byte) (*Parsed, error) {
	var w parsedWire
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: parsed message: %w", errCorrupt, err)
	}
	if w.Env == nil {
		w.Env = &imap.Envelope{}
	}
	return &Parsed{Envelope: w.Env, BodyStructure: fromWire(w.BS), Header: w.Header}, nil
}
