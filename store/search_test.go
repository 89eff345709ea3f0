package store

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailbridge/mailbridge/upstream"
)

const mimeMsg = "From: =?utf-8?q?J=C3=BCrgen_Gro=C3=9F?= <juergen@example.test>\r\n" +
	"To: Team: alice@example.test, Bob <bob@example.test>;, carol@example.test\r\n" +
	"Cc: undisclosed-recipients:;\r\n" +
	"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= aus Berlin\r\n" +
	"Date: Mon, 2 Mar 2026 10:00:00 +0100\r\n" +
	"Message-ID: <abc@example.test>\r\n" +
	"In-Reply-To: <parent@example.test>\r\n" +
	"X-Tracking: Pangolin\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"b1\"\r\n" +
	"\r\n" +
	"preamble\r\n" +
	"--b1\r\n" +
	"Content-Type: multipart/alternative; boundary=b2\r\n" +
	"\r\n" +
	"--b2\r\n" +
	"Content-Type: text/plain; charset=iso-8859-1\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Sch=F6ne Gr=FC=DFe vom Kurf=FCrstendamm, quokkabody\r\n" +
	"--b2\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"\r\n" +
	"<html><style>.hidden{}</style><p>Hello &amp; <b>welcome</b></p></html>\r\n" +
	"--b2--\r\n" +
	"--b1\r\n" +
	"Content-Type: application/pdf; name=\"report.pdf\"\r\n" +
	"Content-Disposition: attachment; filename=\"report.pdf\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"JVBERi0xLjQK\r\n" +
	"--b1\r\n" +
	"Content-Type: message/rfc822\r\n" +
	"\r\n" +
	"From: inner@example.test\r\n" +
	"Subject: inner\r\n" +
	"\r\n" +
	"inner body\r\n" +
	"--b1--\r\n"

func TestParsedStoredAtApply(t *testing.T) {
	s, _ := seeded(t)
	must(t, s.Apply(Changes{Messages: []Incoming{{
		Meta: upstream.MessageMeta{ID: "m1", MailboxIDs: []string{upstream.Inbox}},
		Body: []byte(mimeMsg),
	}}}))
	e := entries(t, s, "INBOX")[0]
	p, err := s.Parsed(e.MsgID)
	must(t, err)

	env := p.Envelope
	if env.Subject != "=?utf-8?q?Gr=C3=BC=C3=9Fe?= aus Berlin" || env.MessageID != "abc@example.test" ||
		!slices.Equal(env.InReplyTo, []string{"parent@example.test"}) {
		t.Errorf("envelope = %+v", env)
	}
	if !env.Date.Equal(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("date = %v", env.Date)
	}
	if len(env.From) != 1 || env.From[0].Mailbox != "juergen" || env.From[0].Name != "=?utf-8?q?J=C3=BCrgen_Gro=C3=9F?=" {
		t.Errorf("from = %+v", env.From)
	}
	wantTo := []imap.Address{{Mailbox: "Team"}, {Mailbox: "alice", Host: "example.test"},
		{Name: "Bob", Mailbox: "bob", Host: "example.test"}, {}, {Mailbox: "carol", Host: "example.test"}}
	if !slices.Equal(env.To, wantTo) {
		t.Errorf("to = %+v, want %+v", env.To, wantTo)
	}
	if wantCc := []imap.Address{{Mailbox: "undisclosed-recipients"}, {}}; !slices.Equal(env.Cc, wantCc) {
		t.Errorf("cc = %+v", env.Cc)
	}
	if !slices.Equal(env.Sender, env.From) || !slices.Equal(env.ReplyTo, env.From) {
		t.Errorf("sender/reply-to do not default to from: %+v %+v", env.Sender, env.ReplyTo)
	}
	if !bytes.HasSuffix(p.Header, []byte("boundary=\"b1\"\r\n\r\n")) {
		t.Errorf("header block ends %q", p.Header[max(0, len(p.Header)-30):])
	}

	mixed, ok := p.BodyStructure.(*imap.BodyStructureMultiPart)
	if !ok || mixed.Subtype != "mixed" || len(mixed.Children) != 3 {
		t.Fatalf("body structure = %#v", p.BodyStructure)
	}
	alt := mixed.Children[0].(*imap.BodyStructureMultiPart)
	plain := alt.Children[0].(*imap.BodyStructureSinglePart)
	if plain.MediaType() != "text/plain" || plain.Params["charset"] != "iso-8859-1" || plain.Encoding != "quoted-printable" ||
		plain.Size != uint32(len("Sch=F6ne Gr=FC=DFe vom Kurf=FCrstendamm, quokkabody")) || plain.Text.NumLines != 0 {
		t.Errorf("text part = %+v", plain)
	}
	pdf := mixed.Children[1].(*imap.BodyStructureSinglePart)
	if pdf.Disposition() == nil || pdf.Disposition().Params["filename"] != "report.pdf" {
		t.Errorf("attachment = %+v", pdf)
	}
	inner := mixed.Children[2].(*imap.BodyStructureSinglePart)
	if inner.MessageRFC822 == nil || inner.MessageRFC822.Envelope.Subject != "inner" {
		t.Errorf("message/rfc822 = %+v", inner)
	}

	var got []uint64
	must(t, s.ParsedMany([]uint64{e.MsgID, 999, e.MsgID}, func(id uint64, p *Parsed) error {
		got = append(got, id)
		return nil
	}))
	if !slices.Equal(got, []uint64{e.MsgID, e.MsgID}) {
		t.Errorf("ParsedMany visited %v", got)
	}
	if _, err := s.Parsed(999); err == nil {
		t.Error("Parsed of a missing message succeeded")
	}
}

// searchStore holds three messages in INBOX (UIDs 1-3) with known text.
func searchStore(t *testing.T) (*Store, Mailbox) {
	s, _ := seeded(t)
	body := func(subject, from, text string) []byte {
		return fmt.Appendf(nil, "From: %s\r\nSubject: %s\r\nDate: Tue, 3 Feb 2026 23:30:00 -0500\r\n\r\n%s\r\n", from, subject, text)
	}
	must(t, s.Apply(Changes{Messages: []Incoming{
		{Meta: upstream.MessageMeta{ID: "a", MailboxIDs: []string{upstream.Inbox}, Flags: upstream.FlagSeen, Date: time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC)},
			Body: body("Quarterly report", "Alice <alice@example.test>", "The Narwhal migration is done.")},
		{Meta: upstream.MessageMeta{ID: "b", MailboxIDs: []string{upstream.Inbox}, Date: time.Date(2026, 2, 5, 12, 0, 0, 0, time.UTC)},
			Body: []byte(mimeMsg)},
		{Meta: upstream.MessageMeta{ID: "c", MailboxIDs: []string{upstream.Inbox}, Flags: upstream.FlagFlagged, Date: time.Date(2026, 2, 9, 12, 0, 0, 0, time.UTC)},
			Body: body("ΣΊΣΥΦΟΣ", "Иван <ivan@example.test>", strings.Repeat("Donaudampfschifffahrtsgesellschaftskapitänsmützenabzeichenhersteller", 2))},
	}}))
	inbox := box(t, s, "INBOX")
	_, err := s.SetFlags(inbox.ID, []uint32{3}, imap.StoreFlagsAdd, []string{"$Important", `\Deleted`})
	must(t, err)
	return s, inbox
}

func TestSearch(t *testing.T) {
	s, inbox := searchStore(t)
	uidSet := func(uids ...imap.UID) []imap.UIDSet { return []imap.UIDSet{imap.UIDSetNum(uids...)} }
	tests := []struct {
		name string
		c    imap.SearchCriteria
		want []uint32
	}{
		{"all", imap.SearchCriteria{}, []uint32{1, 2, 3}},
		{"text word", imap.SearchCriteria{Text: []string{"narwhal"}}, []uint32{1}},
		{"text infix", imap.SearchCriteria{Text: []string{"ARWHA"}}, []uint32{1}},
		{"text phrase", imap.SearchCriteria{Text: []string{"narwhal migration"}}, []uint32{1}},
		{"text phrase miss", imap.SearchCriteria{Text: []string{"migration narwhal"}}, nil},
		{"text header value", imap.SearchCriteria{Text: []string{"pangolin"}}, []uint32{2}},
		{"text header name", imap.SearchCriteria{Text: []string{"x-tracking:"}}, []uint32{2}},
		{"body excludes headers", imap.SearchCriteria{Body: []string{"pangolin"}}, nil},
		{"body latin1 qp", imap.SearchCriteria{Body: []string{"kurfürstendamm"}}, []uint32{2}},
		{"body html text", imap.SearchCriteria{Body: []string{"hello & welcome"}}, []uint32{2}},
		{"body html markup", imap.SearchCriteria{Body: []string{"hidden"}}, nil},
		{"body attachment", imap.SearchCriteria{Body: []string{"JVBERi0"}}, nil},
		{"body greek fold", imap.SearchCriteria{Text: []string{"σίσυφος"}}, []uint32{3}},
		{"long word infix", imap.SearchCriteria{Body: []string{"kapitänsmützenabzeichenhersteller"}}, []uint32{3}},
		{"long word across windows", imap.SearchCriteria{Body: []string{"schifffahrtsgesellschaftskapitänsmützenabzeichenherstellerdonau"}}, []uint32{3}},
		{"subject decoded", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "grüße"}}}, []uint32{2}},
		{"from name", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "jürgen"}}}, []uint32{2}},
		{"from address", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "FROM", Value: "alice@example"}}}, []uint32{1}},
		{"from cyrillic", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "ИВАН"}}}, []uint32{3}},
		{"to group member", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "To", Value: "bob@"}}}, []uint32{2}},
		{"header presence", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "X-Tracking"}}}, []uint32{2}},
		{"header other field", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "pangolin"}}}, nil},
		{"seen", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, []uint32{1}},
		{"unseen", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, []uint32{2, 3}},
		{"keyword", imap.SearchCriteria{Flag: []imap.Flag{"$important"}}, []uint32{3}},
		{"deleted", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagDeleted}}, []uint32{3}},
		{"unknown keyword", imap.SearchCriteria{Flag: []imap.Flag{"$nope"}}, nil},
		{"since", imap.SearchCriteria{Since: time.Date(2026, 2, 5, 23, 0, 0, 0, time.UTC)}, []uint32{2, 3}},
		{"before", imap.SearchCriteria{Before: time.Date(2026, 2, 5, 0, 0, 0, 0, time.UTC)}, []uint32{1}},
		{"sent on its own date", imap.SearchCriteria{SentSince: time.Date(2026, 2, 3, 0, 0, 0, 0, time.UTC),
			SentBefore: time.Date(2026, 2, 4, 0, 0, 0, 0, time.UTC)}, []uint32{1, 3}},
		{"larger", imap.SearchCriteria{Larger: 500}, []uint32{2}},
		{"smaller", imap.SearchCriteria{Smaller: 500}, []uint32{1, 3}},
		{"uid", imap.SearchCriteria{UID: uidSet(1, 3)}, []uint32{1, 3}},
		{"uid star", imap.SearchCriteria{UID: []imap.UIDSet{{imap.UIDRange{Start: 0, Stop: 0}}}}, []uint32{3}},
		{"not", imap.SearchCriteria{Not: []imap.SearchCriteria{{Text: []string{"narwhal"}}}}, []uint32{2, 3}},
		{"or", imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Text: []string{"narwhal"}}, {Flag: []imap.Flag{imap.FlagFlagged}}}}}, []uint32{1, 3}},
		{"and", imap.SearchCriteria{Text: []string{"the"}, Flag: []imap.Flag{imap.FlagSeen}}, []uint32{1}},
		{"no token", imap.SearchCriteria{Text: []string{"@"}}, []uint32{1, 2, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Search(inbox.ID, &tc.c)
			must(t, err)
			if !slices.Equal(got, tc.want) {
				t.Errorf("Search = %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := s.Search(inbox.ID, &imap.SearchCriteria{SeqNum: []imap.SeqSet{imap.SeqSetNum(1)}}); err == nil {
		t.Error("sequence numbers were accepted")
	}
	if _, err := s.Search(12345, &imap.SearchCriteria{}); err == nil {
		t.Error("a missing mailbox was searched")
	}
}

// Words added after the first search (vocabulary in memory) and after a
// reopen (vocabulary from the file) are found; deleted messages are not.
func TestSearchIndexLifecycle(t *testing.T) {
	s, path := seeded(t)
	inbox := box(t, s, "INBOX")
	text := func(q string) []uint32 {
		t.Helper()
		got, err := s.Search(inbox.ID, &imap.SearchCriteria{Text: []string{q}})
		must(t, err)
		return got
	}
	must(t, s.Apply(Changes{Messages: []Incoming{msg("a", "inbox")}}))
	if got := text("body of a"); !slices.Equal(got, []uint32{1}) {
		t.Fatalf("first search = %v", got)
	}
	must(t, s.Apply(Changes{Messages: []Incoming{{Meta: upstream.MessageMeta{ID: "b", MailboxIDs: []string{upstream.Inbox}},
		Body: []byte("Subject: x\r\n\r\nwombat\r\n")}}}))
	_, _, err := s.Append(inbox.ID, []byte("Subject: y\r\n\r\nwombats too\r\n"), nil, time.Time{})
	must(t, err)
	if got := text("wombat"); !slices.Equal(got, []uint32{2, 3}) {
		t.Fatalf("after writes = %v", got)
	}
	must(t, s.Apply(Changes{Deleted: []string{"b"}}))
	if got := text("wombat"); !slices.Equal(got, []uint32{3}) {
		t.Fatalf("after delete = %v", got)
	}
	must(t, s.Close())
	s = reopen(t, path)
	if got := text("wombats"); !slices.Equal(got, []uint32{3}) {
		t.Fatalf("after reopen = %v", got)
	}
}

// The index is sealed too: none of the words of a message may be readable
// in the file, not even as the keys of the index.
func TestIndexSealedAtRest(t *testing.T) {
	s, path := seeded(t)
	words := []string{"Capybara", "xylophonist", "Kurfürstendamm", "mongoose", "hedgehog@example.org"}
	must(t, s.Apply(Changes{Messages: []Incoming{{Meta: upstream.MessageMeta{ID: "m1", MailboxIDs: []string{upstream.Inbox}},
		Body: []byte("From: Hedgehog <hedgehog@example.org>\r\nSubject: Capybara\r\nContent-Type: text/html\r\n\r\n<p>xylophonist Kurfürstendamm mongoose</p>\r\n")}}}))
	got, err := s.Search(box(t, s, "INBOX").ID, &imap.SearchCriteria{Body: []string{"mongoose"}})
	must(t, err)
	if len(got) != 1 {
		t.Fatalf("the index does not find the word: %v", got)
	}
	must(t, s.Close())
	raw, err := os.ReadFile(path)
	must(t, err)
	for _, w := range words {
		for _, form := range []string{w, strings.ToLower(w), fold(w)} {
			if bytes.Contains(raw, []byte(form)) {
				t.Errorf("%q is readable in the cache file", form)
			}
		}
	}
}
