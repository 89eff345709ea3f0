package store

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/mailbridge/mailbridge/upstream"
	"github.com/mailbridge/mailbridge/upstream/mock"
)

// seekCorpus is the seeded corpus plus messages built to fall on the
// seeking walk's edges: pieces that end inside quoted-printable soft line
// breaks and encoded UTF-8, text past maxText, parts it decodes whole.
func seekCorpus() [][]byte {
	var msgs [][]byte
	for _, m := range mock.SeedMessages(60, 3, upstream.Address{Email: mock.DemoEmail}) {
		msgs = append(msgs, m.Raw)
	}
	hdr := "From: Zoë <zoe@example.test>\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= aus Köln\r\nMIME-Version: 1.0\r\n"
	// Quoted-printable where "É" (=C3=89) is split by a soft line break at
	// every offset around the first piece's end.
	for pad := seekPiece - 40; pad < seekPiece+10; pad++ {
		var b strings.Builder
		for b.Len()+17 <= pad {
			b.WriteString("=C3=89t=C3=A9 x\r\n")
		}
		b.WriteString(strings.Repeat("z", pad-b.Len()))
		b.WriteString("CAF=C3=\r\n=89 CR=C3=88ME=\r\n BR=C3=9BL=C3=89E end\r\nsecond line=3D\r\n")
		msgs = append(msgs, []byte(hdr+"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"+b.String()))
	}
	// Bare LF line ends, long lines without any break, and a body past
	// maxText, searched as it is.
	msgs = append(msgs,
		[]byte("Subject: lf\n\nfirst line\nsecond LINE here\n"+strings.Repeat("y", 3*seekPiece)+" tail words\n"),
		[]byte("Subject: big\r\nContent-Type: text/plain\r\n\r\n"+strings.Repeat("filler text line\r\n", maxText/18)+"beyond the limit\r\n"),
	)
	// Parts the walk decodes whole: base64, another charset, HTML; then
	// nested messages and a multipart whose text is split over parts.
	msgs = append(msgs, []byte(hdr+"Content-Type: multipart/mixed; boundary=b\r\n\r\n"+
		"--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVsbG8gV8OWcmxkLCBiYXNlNjQgdGV4dA==\r\n"+
		"--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC=DFe aus K=F6ln\r\n"+
		"--b\r\nContent-Type: text/html\r\n\r\n<p>Some <b>bold</b> &amp; text</p>\r\n"+
		"--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment\r\n\r\nattached secret words\r\n"+
		"--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body words\r\n"+
		"--b--\r\n"))
	return msgs
}

// TestSeekMatchesDocument checks the seeking walk against the search
// document it stands in for, over substrings of every message's text
// (across piece ends and part ends among them) and strings found nowhere.
func TestSeekMatchesDocument(t *testing.T) {
	s, _ := seeded(t)
	corpus := seekCorpus()
	var in []Incoming
	for i, raw := range corpus {
		in = append(in, Incoming{Meta: upstream.MessageMeta{ID: fmt.Sprintf("m%d", i), MailboxIDs: []string{upstream.Inbox}}, Body: raw})
	}
	must(t, s.Apply(Changes{Messages: in}))
	rng := rand.New(rand.NewPCG(1, 2))
	err := s.view(func(tx *bolt.Tx) error {
		var sk seeker
		ids := messageIDs(t, tx)
		if len(ids) != len(corpus) {
			t.Fatalf("%d messages stored, want %d", len(ids), len(corpus))
		}
		var queries []string
		for _, id := range ids {
			doc, err := s.searchDocTx(tx, id)
			if err != nil {
				return err
			}
			queries = append(queries, substrings(rng, doc.body, 4)...)
			for _, f := range doc.fields {
				queries = append(queries, substrings(rng, f.value, 2)...)
			}
		}
		queries = append(queries, "", "not in any message at all", "é", "café crème", "crème brûlée", "beyond the limit", "attached secret")
		for _, id := range ids {
			doc, err := s.searchDocTx(tx, id)
			if err != nil {
				return err
			}
			// Its own text, strings from elsewhere that may or may not be
			// in it, and the fixed ones.
			qs := append(substrings(rng, doc.body, 20), queries[len(queries)-7:]...)
			if len(doc.body) < 100<<10 { // walking a megabyte a query adds up
				for range 60 {
					qs = append(qs, queries[rng.IntN(len(queries))])
				}
			}
			for _, q := range qs {
				inBody := strings.Contains(doc.body, q)
				inText := inBody
				for _, f := range doc.fields {
					inText = inText || fieldContains(f, q)
				}
				for where, want := range map[string]bool{"body": inBody, "text": inText} {
					got, err := sk.contains(s, tx, id, where, q)
					if err != nil {
						return err
					}
					if got != want {
						t.Errorf("message %d, %s %q: seek says %v, document %v", id, where, q, got, want)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// substrings returns n random substrings of s, cut on rune boundaries.
func substrings(rng *rand.Rand, s string, n int) []string {
	if s == "" {
		return nil
	}
	var out []string
	for range n {
		i := rng.IntN(len(s))
		j := min(len(s), i+1+rng.IntN(40))
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		for j < len(s) && !utf8.RuneStart(s[j]) {
			j++
		}
		out = append(out, s[i:j])
	}
	return out
}

func messageIDs(t *testing.T, tx *bolt.Tx) []uint64 {
	t.Helper()
	var ids []uint64
	err := tx.Bucket([]byte(bktBodies)).ForEach(func(k, _ []byte) error {
		ids = append(ids, decodeU64(k))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}
