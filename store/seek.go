package store

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// Seeking: confirming one string against a candidate's text without
// building the text whole. A phrase of common words leaves most of a
// mailbox as candidates, each to be unsealed and decoded; stopping at the
// first match, which usually comes early in the text, and decoding the
// text a piece at a time roughly halves what each costs.

// seekPiece is how much of a part a seeking walk decodes at a time.
const seekPiece = 2048

// emit appends the folded form of raw to the text. A seeking walk looks
// for its string there once a window's worth has gathered.
func (w *walker) emit(raw []byte) {
	w.text = foldAppend(w.text, raw)
	if w.seek != nil && len(w.text) >= max(seekPiece, 4*len(w.seek)) {
		w.look()
	}
}

// look searches the text gathered so far and keeps only the tail a match
// could still start in. The tail is shorter than the string, so a match
// found later always includes bytes not looked at before; and the window
// is a few times the string, so that a long string is not copied and
// searched again for every short piece of text.
func (w *walker) look() {
	if w.found {
		return
	}
	if bytes.Contains(w.text, w.seek) {
		w.found = true
		return
	}
	if keep := len(w.seek) - 1; len(w.text) > keep {
		w.text = append(w.text[:0], w.text[len(w.text)-keep:]...)
	}
}

// seekPieces is addText for a seeking walk over a part that is searched
// as it is or quoted-printable: the same text, counted against maxText the
// same way, decoded and looked at seekPiece bytes at a time.
func (w *walker) seekPieces(body []byte, qp bool) {
	for len(body) > 0 && !w.found && w.n < maxText {
		piece := body[:pieceEnd(body, seekPiece, qp)]
		body = body[len(piece):]
		raw := piece
		if qp {
			w.dec = appendQP(w.dec[:0], piece)
			raw = w.dec
		}
		raw = raw[:min(len(raw), maxText-w.n)]
		w.n += len(raw)
		w.emit(raw)
	}
	w.n++
	w.emit(newline)
}

// pieceEnd returns where the first piece of body of at least size bytes
// ends: after a line break, which no UTF-8 sequence spans, and in
// quoted-printable not after a soft one, which an encoded sequence may
// span. Decoding piece by piece then yields the bytes decoding the whole
// would.
func pieceEnd(body []byte, size int, qp bool) int {
	for from := size; from < len(body); {
		i := bytes.IndexByte(body[from:], '\n')
		if i < 0 {
			break
		}
		end := from + i + 1
		line := bytes.TrimSuffix(body[:end-1], []byte("\r"))
		if !qp || !bytes.HasSuffix(line, []byte("=")) {
			return end
		}
		from = end
	}
	return len(body)
}

// seeker confirms candidates for a search with one string key the index
// could not settle, reusing its buffers from one candidate to the next.
type seeker struct {
	body, text, dec []byte
}

// contains reports whether the message's text (where is "body") or its
// header and text (where is "text") contains folded q, as its search
// document would.
func (sk *seeker) contains(s *Store, tx *bolt.Tx, msgID uint64, where, q string) (bool, error) {
	if q == "" {
		return true, nil
	}
	body, err := s.appendBodyTx(sk.body[:0], tx, msgID)
	if err != nil {
		return false, err
	}
	sk.body = body
	hb, rest := splitHeader(body)
	h := readHeader(hb)
	w := walker{seek: []byte(q), text: sk.text[:0], dec: sk.dec[:0]}
	w.part(h, rest, 0, "text/plain")
	w.look() // what the last window left
	sk.text, sk.dec = w.text, w.dec
	if w.found || where != "text" {
		return w.found, nil
	}
	for _, f := range headerFields(h) {
		if fieldContains(f, q) {
			return true, nil
		}
	}
	return false, nil
}
