package mock

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mailbridge/mailbridge/upstream"
)

var seedMe = upstream.Address{Email: testEmail, Name: "Demo User"}

func TestSeedMessagesDeterministic(t *testing.T) {
	a := SeedMessages(60, 42, seedMe)
	b := SeedMessages(60, 42, seedMe)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different messages")
	}
	c := SeedMessages(60, 43, seedMe)
	if bytes.Equal(a[0].Raw, c[0].Raw) || a[0].ID == c[0].ID {
		t.Fatal("different seeds, same messages")
	}
	if len(SeedMessages(0, 42, seedMe)) != 0 {
		t.Fatal("n = 0 gives messages")
	}
}

// leafParts parses a message and returns the decoded content of its leaf
// parts by media type.
func leafParts(t *testing.T, raw []byte) (*mail.Message, map[string][][]byte) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	parts := map[string][][]byte{}
	var walk func(ctype, cte string, body io.Reader)
	walk = func(ctype, cte string, body io.Reader) {
		mt, params, err := mime.ParseMediaType(ctype)
		if err != nil {
			t.Fatalf("content type %q: %v", ctype, err)
		}
		if strings.HasPrefix(mt, "multipart/") {
			mr := multipart.NewReader(body, params["boundary"])
			for {
				p, err := mr.NextRawPart()
				if err == io.EOF {
					return
				}
				if err != nil {
					t.Fatalf("multipart: %v", err)
				}
				walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p)
			}
		}
		switch strings.ToLower(cte) {
		case "quoted-printable":
			body = quotedprintable.NewReader(body)
		case "base64":
			body = base64.NewDecoder(base64.StdEncoding, body)
		}
		data, err := io.ReadAll(body)
		if err != nil {
			t.Fatalf("%s body: %v", mt, err)
		}
		parts[mt] = append(parts[mt], data)
	}
	walk(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	return msg, parts
}

func TestSeedMessagesAreRealistic(t *testing.T) {
	msgs := SeedMessages(300, 7, seedMe)
	seen := map[string]int{}
	ids := map[string]bool{}
	dec := new(mime.WordDecoder)
	for i, m := range msgs {
		if i > 0 && (m.Date.Before(msgs[i-1].Date) || m.ID <= msgs[i-1].ID) {
			t.Fatalf("message %d out of order", i)
		}
		if m.Date.After(seedEpoch) || m.Date.Before(seedEpoch.AddDate(-1, 0, -1)) {
			t.Fatalf("message %d dated %v", i, m.Date)
		}
		if len(m.Raw) < 1500 || len(m.Raw) > 16<<10 {
			t.Errorf("message %d has %d bytes", i, len(m.Raw))
		}
		if bytes.Contains(bytes.ReplaceAll(m.Raw, []byte("\r\n"), nil), []byte("\n")) {
			t.Fatalf("message %d has bare LF", i)
		}
		hdr, _, _ := bytes.Cut(m.Raw, []byte("\r\n\r\n"))
		for _, b := range hdr {
			if b >= 0x80 {
				t.Fatalf("message %d has raw 8-bit header bytes", i)
			}
		}
		msg, parts := leafParts(t, m.Raw)
		if msg.Header.Get("Message-ID") != m.MessageID || ids[m.MessageID] {
			t.Fatalf("message %d Message-ID %q", i, msg.Header.Get("Message-ID"))
		}
		ids[m.MessageID] = true
		if d, err := msg.Header.Date(); err != nil || !d.Equal(m.Date) {
			t.Fatalf("message %d Date %v, %v", i, d, err)
		}
		from, err := mail.ParseAddress(msg.Header.Get("From"))
		if err != nil || from.Address != m.From {
			t.Fatalf("message %d From %v, %v", i, from, err)
		}
		subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
		if err != nil || !utf8.ValidString(subject) {
			t.Fatalf("message %d Subject: %v", i, err)
		}
		for _, text := range parts["text/plain"] {
			if !utf8.Valid(text) || !bytes.Contains(text, []byte("Hi ")) {
				t.Fatalf("message %d text part is not a letter", i)
			}
		}

		switch m.Kind {
		case KindPlain, KindReply:
			if len(parts) != 1 || len(parts["text/plain"]) != 1 {
				t.Fatalf("message %d (%s) parts %v", i, m.Kind, len(parts))
			}
		case KindHTML:
			if len(parts["text/plain"]) != 1 || len(parts["text/html"]) != 1 {
				t.Fatalf("message %d (html) parts", i)
			}
		case KindAttachment:
			png, pdf := parts["image/png"], parts["application/pdf"]
			switch {
			case len(png) == 1 && bytes.HasPrefix(png[0], []byte("\x89PNG\r\n\x1a\n")):
			case len(pdf) == 1 && bytes.HasPrefix(pdf[0], []byte("%PDF-")):
			default:
				t.Fatalf("message %d has no proper attachment", i)
			}
		}
		if m.Kind == KindReply {
			parent := msg.Header.Get("In-Reply-To")
			if !strings.HasPrefix(subject, "Re: ") || !ids[parent] || !strings.HasSuffix(msg.Header.Get("References"), parent) {
				t.Fatalf("message %d is not a proper reply", i)
			}
		}
		if m.Format == FormatInline && m.Kind != KindPlain && m.Kind != KindReply {
			t.Fatalf("message %d: inline PGP for %s", i, m.Kind)
		}
		if m.From == testEmail && (m.Signer != "" || !slices.Equal(m.MailboxIDs, []string{upstream.Sent})) {
			t.Fatalf("sent message %d: %+v", i, m)
		}

		seen["kind:"+string(m.Kind)]++
		seen["format:"+m.Format.String()]++
		for _, l := range m.MailboxIDs {
			seen["label:"+l]++
		}
		if m.Flags.Has(upstream.FlagSeen) {
			seen["seen"]++
		}
		if m.Flags.Has(upstream.FlagFlagged) {
			seen["flagged"]++
		}
		switch {
		case m.Signer != "" && m.SignerKnown:
			seen["signed-known"]++
		case m.Signer != "":
			seen["signed-unknown"]++
		}
		if !isASCII(subject) {
			seen["non-ascii-subject"]++
		}
		if !isASCII(from.Name) {
			seen["non-ascii-name"]++
		}
	}
	for _, want := range []string{
		"kind:plain", "kind:html", "kind:attachment", "kind:reply",
		"format:pgp-mime", "format:inline", "format:whole",
		"label:inbox", "label:archive", "label:sent", "label:trash", "label:spam",
		"label:" + LabelWork, "label:" + LabelWorkProjects,
		"seen", "flagged", "signed-known", "signed-unknown", "non-ascii-subject", "non-ascii-name",
	} {
		if seen[want] == 0 {
			t.Errorf("no %s among 300 seeded messages", want)
		}
	}
	if seen["label:inbox"] < 100 {
		t.Errorf("only %d of 300 in Inbox", seen["label:inbox"])
	}
}

func isASCII(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r > 0x7f })
}

func TestSeedStores(t *testing.T) {
	s, sess := newAccount(t)
	ctx := context.Background()
	if err := s.Seed(testUser, 40, 3); err != nil {
		t.Fatal(err)
	}
	want := SeedMessages(40, 3, seedMe)
	got, err := s.Messages(testUser)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d messages stored, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.ID != w.ID || !slices.Equal(g.MailboxIDs, w.MailboxIDs) || g.Flags != w.Flags || !g.Date.Equal(w.Date) {
			t.Fatalf("stored %+v, seeded %+v", g.MessageMeta, w)
		}
		// Every seeded body starts with a greeting like "Hi Demo,".
		if bytes.Contains(g.Raw, []byte("Hi ")) {
			t.Fatalf("message %s stored in plaintext", g.ID)
		}
	}
	boxes, _ := sess.Mailboxes(ctx)
	if !slices.ContainsFunc(boxes, func(m upstream.Mailbox) bool { return m.ID == LabelWorkProjects && m.Name == "Work/Projects" }) {
		t.Fatalf("seed labels missing: %+v", boxes)
	}
	for _, c := range contacts {
		_, err := sess.PublicKeys(ctx, c.email)
		if known := c.key != "" && c.published; known != (err == nil) {
			t.Errorf("key of %s: published %v, lookup error %v", c.email, known, err)
		}
	}

	latest, _ := sess.LatestEventID(ctx)
	if err := s.Seed(testUser, 40, 3); err != nil {
		t.Fatal(err)
	}
	if again, _ := sess.LatestEventID(ctx); again != latest {
		t.Fatal("seeding twice stored messages again")
	}
}

func BenchmarkSeed(b *testing.B) {
	s := newServer(b, Options{})
	addDemo(b, s)
	for i := range b.N {
		if err := s.Seed(testUser, 100, int64(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(100*b.N), "µs/msg")
}

func BenchmarkSeedMessages(b *testing.B) {
	for b.Loop() {
		SeedMessages(100, 1, seedMe)
	}
}
