package mock

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"image"
	"image/color"
	"image/png"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
)

// header holds the top-level fields of a seeded message.
type header struct {
	from, to           string // formatted addresses
	fromName, toName   string
	subject            string // decoded
	date               time.Time
	messageID          string
	inReplyTo          string
	references         string
	contentType, cte   string
	quotedSender, when string // for replies: who wrote the quoted text, when
	lang               string // language of some sentences
}

func formatAddress(name, email string) string {
	return (&mail.Address{Name: name, Address: email}).String()
}

func (h *header) write(b *bytes.Buffer) {
	field := func(k, v string) {
		if v != "" {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	field("From", h.from)
	field("To", h.to)
	field("Subject", mime.QEncoding.Encode("utf-8", h.subject))
	field("Date", h.date.Format(time.RFC1123Z))
	field("Message-ID", h.messageID)
	field("In-Reply-To", h.inReplyTo)
	field("References", h.references)
	field("MIME-Version", "1.0")
	field("Content-Type", h.contentType)
	field("Content-Transfer-Encoding", h.cte)
	b.WriteString("\r\n")
}

// build returns the RFC 822 message of one seeded message. eightBit
// chooses an 8bit text/plain body (inline PGP needs a plain text body)
// over quoted-printable.
func (g *generator) build(kind SeedKind, h header, eightBit bool) []byte {
	r := g.rng
	size := 2048 + r.IntN(10*1024)
	var b bytes.Buffer
	switch kind {
	case KindPlain, KindReply:
		var text string
		if kind == KindReply {
			text = g.letter(h, size*2/3) + g.quote(h)
		} else {
			text = g.letter(h, size)
		}
		h.contentType = "text/plain; charset=utf-8"
		if eightBit || r.IntN(2) == 0 {
			h.cte = "8bit"
			h.write(&b)
			b.WriteString(crlf(text))
		} else {
			h.cte = "quoted-printable"
			h.write(&b)
			b.Write(qp(text))
		}
	case KindHTML:
		text := g.letter(h, size/3)
		g.multipart(&b, &h, "alternative", []part{
			{header: textHeader("text/plain"), body: qp(text)},
			{header: textHeader("text/html"), body: qp(toHTML(text))},
		})
	case KindAttachment:
		text := g.letter(h, size/4)
		name, ctype, data := g.attachment(size * 3 / 4 * 3 / 4)
		ah := textproto.MIMEHeader{}
		ah.Set("Content-Type", mime.FormatMediaType(ctype, map[string]string{"name": name}))
		ah.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
		ah.Set("Content-Transfer-Encoding", "base64")
		g.multipart(&b, &h, "mixed", []part{
			{header: textHeader("text/plain"), body: qp(text)},
			{header: ah, body: base64Lines(data)},
		})
	}
	return b.Bytes()
}

// part is one body part of a multipart seeded message.
type part struct {
	header textproto.MIMEHeader
	body   []byte
}

func textHeader(ctype string) textproto.MIMEHeader {
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", ctype+"; charset=utf-8")
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	return h
}

func (g *generator) multipart(b *bytes.Buffer, h *header, sub string, parts []part) {
	boundary := fmt.Sprintf("mock-%016x", g.rng.Uint64())
	h.contentType = mime.FormatMediaType("multipart/"+sub, map[string]string{"boundary": boundary})
	h.write(b)
	mw := multipart.NewWriter(b)
	// A fixed boundary of valid characters cannot fail to be set.
	_ = mw.SetBoundary(boundary)
	for _, p := range parts {
		// Writes to a bytes.Buffer do not fail.
		w, _ := mw.CreatePart(p.header)
		_, _ = w.Write(p.body)
	}
	_ = mw.Close()
}

// letter is a greeting, paragraphs of about size bytes and a closing.
func (g *generator) letter(h header, size int) string {
	paras := g.paragraphs(h.lang, size)
	return g.greeting(h.toName) + "\n\n" + strings.Join(paras, "\n\n") + "\n\n" + g.closing(h.fromName) + "\n"
}

// quote is the quoted previous message under a reply.
func (g *generator) quote(h header) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nOn %s, %s wrote:\n", h.when, h.quotedSender)
	for _, p := range g.paragraphs(h.lang, 600) {
		for line := range strings.SplitSeq(p, "\n") {
			b.WriteString("> " + line + "\n")
		}
		b.WriteString(">\n")
	}
	return b.String()
}

func toHTML(text string) string {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\n<body style=\"font-family: sans-serif\">\n")
	for p := range strings.SplitSeq(strings.TrimSpace(text), "\n\n") {
		b.WriteString("<p>" + strings.ReplaceAll(html.EscapeString(p), "\n", "<br>\n") + "</p>\n")
	}
	b.WriteString("</body></html>\n")
	return b.String()
}

// attachment returns a binary file of about size bytes: a small PDF-like
// document or a PNG of noise.
func (g *generator) attachment(size int) (name, ctype string, data []byte) {
	r := g.rng
	if r.IntN(2) == 0 {
		names := []string{"report-Q3.pdf", "Übersicht.pdf", "invoice.pdf"}
		var b bytes.Buffer
		b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n")
		b.WriteString("2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n")
		stream := make([]byte, max(size-300, 64))
		for i := range stream {
			stream[i] = byte(r.Uint32())
		}
		fmt.Fprintf(&b, "3 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n", len(stream))
		b.Write(stream)
		b.WriteString("\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
		return names[r.IntN(len(names))], "application/pdf", b.Bytes()
	}
	names := []string{"photo.png", "screenshot.png", "写真.png"}
	side := 8
	for side*side*4 < size {
		side++
	}
	img := image.NewNRGBA(image.Rect(0, 0, side, side))
	for y := range side {
		for x := range side {
			v := r.Uint32()
			img.SetNRGBA(x, y, color.NRGBA{R: byte(v), G: byte(v >> 8), B: byte(v >> 16), A: 255})
		}
	}
	var b bytes.Buffer
	// Noise does not compress; skipping deflate makes this 5× faster.
	// Encoding an in-memory image into a buffer does not fail.
	enc := png.Encoder{CompressionLevel: png.NoCompression}
	_ = enc.Encode(&b, img)
	return names[r.IntN(len(names))], "image/png", b.Bytes()
}

// qp encodes text ("\n" line endings) as quoted-printable with CRLF.
func qp(text string) []byte {
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	_, _ = w.Write([]byte(text))
	_ = w.Close()
	return b.Bytes()
}

func base64Lines(data []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(data)
	var b bytes.Buffer
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	return b.Bytes()
}

func crlf(text string) string { return strings.ReplaceAll(text, "\n", "\r\n") }
