package mock

import (
	"strings"
)

// Read-only word material for seeded messages.

var subjects = map[string][]string{
	"en": {
		"Quarterly report", "Lunch on Friday?", "Meeting notes", "Trip photos",
		"Party on Saturday 🎉", "☕ Coffee tomorrow?", "Your order has shipped",
		"Invoice for October", "Draft of the proposal", "Weekend plans",
		"Re-scheduling our call", "Ideas for the offsite 💡",
	},
	"de": {"Grüße aus Köln", "Übersicht für nächste Woche", "Termin am Dienstag", "Fußball am Wochenende ⚽"},
	"ja": {"日本語のテスト", "会議の議事録", "週末の予定について"},
	"ru": {"Привет", "Отчёт за квартал", "Встреча в пятницу"},
}

var sentences = map[string][]string{
	"en": {
		"I had a look at the numbers you sent over yesterday.",
		"Could we move the meeting to Thursday afternoon?",
		"The new build is on the staging server now.",
		"Let me know what you think before the end of the week.",
		"Attached is the document we talked about on the phone.",
		"The weather has been lovely, we spent the whole day outside.",
		"Thanks again for your help with the migration last month.",
		"I am not sure the estimate covers the testing effort.",
		"We should keep the scope small and ship the first part early.",
		"Please double-check the address before you send the parcel.",
		"There are still a few open questions about the budget.",
		"The train was late again, so I missed the first talk.",
		"Naïve café owners in Zürich serve the best crème brûlée.",
		"Nothing urgent, just wanted to keep you in the loop.",
	},
	"de": {
		"Viele Grüße aus Köln, das Wetter ist herrlich.",
		"Könnten wir den Termin auf Donnerstag verschieben?",
		"Die Übersicht hänge ich dir gleich noch an.",
		"Wir treffen uns um acht Uhr vor dem Dom.",
		"Schöne Grüße an die ganze Familie!",
	},
	"ja": {
		"お世話になっております。",
		"来週の会議の件でご連絡いたします。",
		"資料を添付しましたのでご確認ください。",
		"よろしくお願いいたします。",
	},
	"ru": {
		"Привет! Как у тебя дела?",
		"Отправляю отчёт за прошлый квартал.",
		"Давай встретимся в пятницу после обеда.",
		"Спасибо за помощь с переездом.",
	},
}

var closings = []string{"Best regards", "Cheers", "Thanks", "Kind regards", "Talk soon"}

// paragraphs returns text of about size bytes once quoted-printable
// encoded: paragraphs of sentences wrapped at 72 columns, separated by
// blank lines, "\n" line endings.
func (g *generator) paragraphs(lang string, size int) []string {
	r := g.rng
	var paras []string
	total := 0
	for total < size {
		var words []string
		for range 3 + r.IntN(4) {
			pool := sentences["en"]
			if lang != "en" && lang != "" && r.IntN(3) == 0 {
				pool = sentences[lang]
			}
			words = append(words, pool[r.IntN(len(pool))])
		}
		p := wrap(strings.Join(words, " "), 72)
		paras = append(paras, p)
		total += qpCost(p) + 2
	}
	return paras
}

// wrap breaks text into lines of at most width bytes at spaces.
func wrap(text string, width int) string {
	var b strings.Builder
	line := 0
	for i, w := range strings.Fields(text) {
		if i > 0 {
			if line+1+len(w) > width {
				b.WriteByte('\n')
				line = 0
			} else {
				b.WriteByte(' ')
				line++
			}
		}
		b.WriteString(w)
		line += len(w)
	}
	return b.String()
}

func (g *generator) subject(c contact) string {
	pool := subjects["en"]
	if c.lang != "en" && g.rng.IntN(2) == 0 {
		pool = subjects[c.lang]
	}
	return pool[g.rng.IntN(len(pool))]
}

// greeting opens a letter to name.
func (g *generator) greeting(name string) string {
	if name == "" {
		return "Hi,"
	}
	return "Hi " + strings.Fields(name)[0] + ","
}

func (g *generator) closing(name string) string {
	c := closings[g.rng.IntN(len(closings))]
	if name == "" {
		return c + ","
	}
	return c + ",\n" + name
}

// qpCost estimates the quoted-printable size of s: three bytes for every
// byte outside ASCII.
func qpCost(s string) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			n += 2
		}
	}
	return n
}
