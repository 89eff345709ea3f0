package store

import (
	"reflect"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	bolt "go.etcd.io/bbolt"
)

var codecMessages = []string{
	"From: a@x.org (Alice Example)\r\nTo: Team: a@x.org, \"B, Jr.\" <b@x.org>;, c@y.org\r\n" +
		"Cc: undisclosed-recipients:;\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n" +
		"Date: Tue, 3 Mar 2020 10:00:00 +0530\r\nMessage-ID: <m1@x.org>\r\nIn-Reply-To: <p@x.org>\r\n\r\nhello\r\n",
	"From: \"Quoted \\\"Name\\\"\" <q@x.org>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b1\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nK=F6ln\r\n" +
		"--b1\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"fw.eml\"\r\n\r\n" +
		"From: inner@x.org\r\nSubject: inner\r\n\r\ninner body\r\n" +
		"--b1\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Language: en, de\r\nContent-Location: http://x/a\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--b1--\r\n",
	"no header at all",
	"",
}

// sameParsed compares two Parsed values, dates by instant and offset.
func sameParsed(t *testing.T, want, got *Parsed) {
	t.Helper()
	w, g := *want.Envelope, *got.Envelope
	_, wo := w.Date.Zone()
	_, go_ := g.Date.Zone()
	if !w.Date.Equal(g.Date) || wo != go_ || w.Date.IsZero() != g.Date.IsZero() {
		t.Errorf("date: want %v, got %v", w.Date, g.Date)
	}
	w.Date, g.Date = time.Time{}, time.Time{}
	if !reflect.DeepEqual(w, g) {
		t.Errorf("envelope:\nwant %#v\n got %#v", w, g)
	}
	if string(want.Header) != string(got.Header) {
		t.Errorf("header: want %q, got %q", want.Header, got.Header)
	}
	if !reflect.DeepEqual(stripDates(want.BodyStructure), stripDates(got.BodyStructure)) {
		t.Errorf("body structure:\nwant %#v\n got %#v", want.BodyStructure, got.BodyStructure)
	}
}

// stripDates zeroes the dates of message/rfc822 envelopes, compared by
// sameParsed's caller through the top-level envelope only.
func stripDates(bs imap.BodyStructure) imap.BodyStructure {
	bs.Walk(func(_ []int, part imap.BodyStructure) bool {
		if sp, ok := part.(*imap.BodyStructureSinglePart); ok && sp.MessageRFC822 != nil && sp.MessageRFC822.Envelope != nil {
			sp.MessageRFC822.Envelope.Date = time.Time{}
		}
		return true
	})
	return bs
}

func TestParsedBinaryRoundTrip(t *testing.T) {
	for i, raw := range codecMessages {
		p, _ := analyzeDoc([]byte(raw))
		b := encodeParsedBinary(p)
		got, err := decodeStoredParsed(b)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		want, _ := analyzeDoc([]byte(raw))
		sameParsed(t, want, got)
		h, err := storedHeader(b)
		if err != nil || string(h) != string(want.Header) {
			t.Errorf("message %d: header only: %q, %v", i, h, err)
		}
	}
}

func TestParsedBinaryKeepsNilAndEmpty(t *testing.T) {
	p := &Parsed{
		Envelope: &imap.Envelope{From: []imap.Address{}, To: nil, InReplyTo: []string{}},
		BodyStructure: &imap.BodyStructureMultiPart{Subtype: "mixed", Children: []imap.BodyStructure{
			&imap.BodyStructureSinglePart{Type: "text", Subtype: "plain", Params: map[string]string{},
				Extended: &imap.BodyStructureSinglePartExt{Disposition: &imap.BodyStructureDisposition{Value: "inline"}}},
		}, Extended: &imap.BodyStructureMultiPartExt{Params: map[string]string{"boundary": "x"}}},
	}
	got, err := decodeStoredParsed(encodeParsedBinary(p))
	if err != nil {
		t.Fatal(err)
	}
	if got.Envelope.From == nil || got.Envelope.To != nil || got.Envelope.InReplyTo == nil {
		t.Errorf("nil and empty lists mixed up: %#v", got.Envelope)
	}
	if !reflect.DeepEqual(p.BodyStructure, got.BodyStructure) {
		t.Errorf("body structure:\nwant %#v\n got %#v", p.BodyStructure, got.BodyStructure)
	}
}

// The older JSON form still decodes: caches written before the binary
// form keep working.
func TestParsedDecodesJSONForm(t *testing.T) {
	p, _ := analyzeDoc([]byte(codecMessages[1]))
	got, err := decodeStoredParsed(encodeParsed(p))
	if err != nil {
		t.Fatal(err)
	}
	if got.Envelope.From[0].Name != `Quoted "Name"` || string(got.Header) != string(p.Header) {
		t.Errorf("JSON form: %#v", got.Envelope)
	}
	if h, err := storedHeader(encodeParsed(p)); err != nil || string(h) != string(p.Header) {
		t.Errorf("JSON form header: %q, %v", h, err)
	}
}

// A damaged record is an error, never a panic or a huge allocation.
func TestParsedBinaryDamaged(t *testing.T) {
	p, _ := analyzeDoc([]byte(codecMessages[1]))
	b := encodeParsedBinary(p)
	for n := range len(b) {
		if _, err := decodeParsedBinary(b[:n]); err == nil {
			t.Fatalf("truncated at %d of %d: no error", n, len(b))
		}
	}
	for i := 1; i < len(b); i++ {
		c := append([]byte(nil), b...)
		c[i] ^= 0xff
		decodeParsedBinary(c) // must not panic
		storedHeader(c)
	}
}

func BenchmarkDecodeParsed(b *testing.B) {
	p, _ := analyzeDoc([]byte(codecMessages[1]))
	for _, form := range []struct {
		name string
		data []byte
	}{{"json", encodeParsed(p)}, {"binary", encodeParsedBinary(p)}} {
		b.Run(form.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := decodeStoredParsed(form.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// headerTx reads the header block of a stored message alone.
func TestHeaderTx(t *testing.T) {
	s, _ := seeded(t)
	inbox := box(t, s, "INBOX")
	raw := "Subject: only the header\r\nFrom: a@x.org\r\n\r\nbody\r\n"
	_, _, err := s.Append(inbox.ID, []byte(raw), nil, time.Time{})
	must(t, err)
	id := entries(t, s, "INBOX")[0].MsgID
	var h []byte
	must(t, s.view(func(tx *bolt.Tx) error {
		var err error
		h, err = s.headerTx(tx, id)
		return err
	}))
	if want := raw[:len(raw)-len("body\r\n")]; string(h) != want {
		t.Fatalf("header = %q, want %q", h, want)
	}
}
