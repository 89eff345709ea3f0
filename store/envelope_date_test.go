package store

import (
	"net/mail"
	"testing"
)

var dateInputs = []string{
	"Mon, 2 Mar 2026 10:00:00 +0000",
	"Tue, 03 Mar 2020 10:00:00 +0530",
	"Tue,  3 Mar 2020 10:00:00 -0800",
	"Tue, 3 Mar 2020 10:00:00.250 +0100",
	"Tue, 3 Mar 2020 10:00 +0100",
	"Tue, 3 Mar 20 10:00:00 +0100",
	"Tue, 3 Mar 2020 10:00:00 GMT",
	"Tue, 3 Mar 2020 10:00:00 +0000 (UTC)",
	"Tue, 3 Mar 2020 10:00:00 +0000 (UTC",
	"Tue, 3 Mar 2020 10:00:00 +0000 trailing",
	"Tue, 3 Mar 2020 10:00:00 +00",
	"Tue, 3 Mar 2020 10:00:00 +00:00",
	"Tue, 3 Mar 2020 25:00:00 +0000",
	"Xyz, 3 Mar 2020 10:00:00 +0000",
	"Tue, 31 Feb 2020 10:00:00 +0000",
	"Tue,\t3 Mar 2020 10:00:00 +0000",
	"Tue, 3 Mar 2020 10:00:00 +0000\r",
	"Tue, 3 Mar -020 10:00:00 +0000",
	"3 Mar 2020 10:00:00 +0000",
	" Tue, 3 Mar 2020 10:00:00 +0000",
	"Thu, 20 Nov 1997 09:55:06 MDT",
	"Thu, 20 Nov 1997 09:55:06 MDT (MDT)",
	"2020-03-03T10:00:00Z",
	"",
	"garbage",
}

// TestParseDateMatchesNetMail checks that the fast path accepts exactly
// what mail.ParseDate accepts, with the same instant and zone.
func TestParseDateMatchesNetMail(t *testing.T) {
	for _, in := range dateInputs {
		checkParseDate(t, in)
	}
}

func FuzzParseDate(f *testing.F) {
	for _, in := range dateInputs {
		f.Add(in)
	}
	f.Fuzz(checkParseDate)
}

func checkParseDate(t *testing.T, in string) {
	want, werr := mail.ParseDate(in)
	got, gerr := parseDate(in)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%q: net/mail error %v, parseDate error %v", in, werr, gerr)
	}
	_, wo := want.Zone()
	_, gof := got.Zone()
	if !want.Equal(got) || wo != gof || want.Location().String() != got.Location().String() {
		t.Fatalf("%q: net/mail %v, parseDate %v", in, want, got)
	}
}

func BenchmarkParseDate(b *testing.B) {
	for b.Loop() {
		if _, err := parseDate("Mon, 2 Mar 2026 10:00:00 +0000"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseDateNetMail(b *testing.B) {
	for b.Loop() {
		if _, err := mail.ParseDate("Mon, 2 Mar 2026 10:00:00 +0000"); err != nil {
			b.Fatal(err)
		}
	}
}
