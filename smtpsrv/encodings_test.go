package smtpsrv

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/mailbridge/mailbridge/crypto"
)

// corpusMaxBytes is the size limit of the encodings harness; one message
// comes within a few hundred bytes of it.
const corpusMaxBytes = 1 << 20

// base64Lines encodes data as a MIME body: 76-character CRLF lines.
func base64Lines(data []byte) string {
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	return b.String()
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

const corpusHeader = "From: =?UTF-8?B?w4FsaWNlIMOWc3Ryw7Zt?= <alice@example.org>\r\n" +
	"To: =?ISO-2022-JP?B?GyRCOzNFRBsoQg==?= <bob@example.net>, Carol <carol@example.com>\r\n" +
	"Reply-To: =?ISO-8859-1?Q?Andr=E9?= <alias@example.org>\r\n" +
	"Sender: alice@example.org\r\n" +
	"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_=E2=80=93_=E6=97=A5=E6=9C=AC?=\r\n" +
	"Message-ID: <corpus@example.org>\r\n" +
	"Date: Mon, 1 Jan 2024 12:00:00 +0000\r\n" +
	"MIME-Version: 1.0\r\n"

// corpus returns messages exercising what submission must carry intact.
func corpus() map[string]string {
	png := randomBytes(1, 20000)
	bin := randomBytes(2, 150000)
	long := strings.Repeat("0123456789", 99) + "\r\n" // 990 bytes + CRLF, under RFC 5321's 1000
	near := corpusMaxBytes - 600 - len(corpusHeader)
	filler := strings.Repeat(strings.Repeat("z", 76)+"\r\n", near/78)

	return map[string]string{
		"attachments": corpusHeader + "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n" +
			"--outer\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
			"Hall=C3=B6, see the files.=\r\n\r\n" +
			"--outer\r\nContent-Type: application/octet-stream; name=\"data.bin\"\r\nContent-Disposition: attachment; filename=\"data.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			base64Lines(bin) +
			"--outer\r\nContent-Type: application/pdf; name=\"=?UTF-8?Q?r=C3=A9sum=C3=A9.pdf?=\"\r\nContent-Disposition: attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			base64Lines([]byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")) +
			"--outer--\r\n",
		"inline-image": corpusHeader + "Content-Type: multipart/related; boundary=\"rel\"; type=\"text/html\"\r\n\r\n" +
			"--rel\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
			"<html><body><p>Größe: <img src=\"cid:img1@example.org\"></p></body></html>\r\n" +
			"--rel\r\nContent-Type: image/png\r\nContent-ID: <img1@example.org>\r\nContent-Disposition: inline\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			base64Lines(png) +
			"--rel--\r\n",
		"latin1-8bit": corpusHeader + "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
			"Caf\xe9 cr\xe8me br\xfbl\xe9e, \xa9 2024\r\n",
		"shift-jis-8bit": corpusHeader + "Content-Type: text/plain; charset=Shift_JIS\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
			"\x93\xfa\x96\x7b\x8c\xea\x82\xcc\x83\x65\x83\x4c\x83\x58\x83\x67\r\n",
		"koi8r-alternative": corpusHeader + "Content-Type: multipart/alternative; boundary=alt\r\n\r\n" +
			"--alt\r\nContent-Type: text/plain; charset=koi8-r\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\xf0\xd2\xc9\xd7\xc5\xd4\r\n" +
			"--alt\r\nContent-Type: text/html; charset=utf-16le\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			base64Lines([]byte("<\x00p\x00>\x00\x1f\x04@\x048\x042\x045\x04B\x04<\x00/\x00p\x00>\x00")) +
			"--alt--\r\n",
		"long-lines": corpusHeader + "Content-Type: text/plain; charset=us-ascii\r\n\r\n" +
			long + long + "short\r\n" + strings.TrimSuffix(long, "\r\n") + " trailing space \r\n\r\n\r\n",
		"no-final-newline": corpusHeader + "Content-Type: text/plain\r\n\r\nno newline at the end",
		"near-size-limit":  corpusHeader + "Content-Type: text/plain; charset=us-ascii\r\n\r\n" + filler,
	}
}

// entityParts returns a MIME entity's Content-* fields (unfolded, with the
// protected-header parameters removed) and its body bytes.
func entityParts(t *testing.T, ent []byte) (content []string, body []byte) {
	t.Helper()
	i := bytes.Index(ent, []byte("\r\n\r\n"))
	if i < 0 {
		t.Fatalf("entity has no header/body separator: %q", ent[:min(len(ent), 200)])
	}
	for _, line := range strings.Split(strings.ReplaceAll(string(ent[:i]), "\r\n ", " "), "\r\n") {
		if strings.HasPrefix(strings.ToLower(line), "content-") {
			line = strings.ReplaceAll(line, `; hp="cipher"`, "")
			line = strings.ReplaceAll(line, `; protected-headers="v1"`, "")
			content = append(content, line)
		}
	}
	return content, ent[i+4:]
}

// TestEncodingsSurviveEncryption sends each corpus message to a recipient
// with a key and one without, and checks the one without got exactly what
// was sent while the encrypted payload's entity is the submitted entity,
// byte for byte: same Content-* fields, same body.
func TestEncodingsSurviveEncryption(t *testing.T) {
	g := maybeGPG(t)
	h := newHarness(t, corpusMaxBytes)
	if g != nil {
		g.importSecret(h.bob)
		g.importPublic(h.alice)
	}
	c := dialAuthed(t, h)
	for name, msg := range corpus() {
		t.Run(name, func(t *testing.T) {
			if name == "near-size-limit" && (len(msg) > corpusMaxBytes || len(msg) < corpusMaxBytes-1024) {
				t.Fatalf("near-size-limit message is %d bytes, limit %d", len(msg), corpusMaxBytes)
			}
			if !strings.HasSuffix(msg, "\r\n") {
				// DATA always ends a message with a line break.
				msg += "\r\n"
			}
			before := len(h.up.delivered())
			c.ok(250, "RSET")
			if code, text := c.send(aliceAddr, []string{bobAddr, carolAddr}, msg); code != 250 {
				t.Fatalf("got %d %q", code, text)
			}
			sends := h.up.delivered()[before:]
			if len(sends) != 2 {
				t.Fatalf("%d sends, want 2", len(sends))
			}
			if got := string(sends[1].Raw); got != msg {
				t.Errorf("recipient without key got a different message (%d bytes, sent %d)", len(got), len(msg))
			}
			wantContent, wantBody := entityParts(t, []byte(msg))

			res := crypto.Decrypt(sends[0].Raw, openpgp.EntityList{h.bob}, func(string) openpgp.EntityList { return openpgp.EntityList{h.alice} })
			if res.Failed || res.Signature != crypto.SigValid {
				t.Fatalf("decrypt: failed %v (%s), signature %s", res.Failed, res.Reason, res.Signature)
			}
			checks := map[string][]byte{"crypto.Decrypt": res.Message}
			if g != nil {
				checks["gpg"] = g.checkDecryptsAndVerifies(pgpPayload(t, sends[0].Raw), h.alice)
			}
			for who, dec := range checks {
				gotContent, gotBody := entityParts(t, dec)
				if strings.Join(gotContent, "\n") != strings.Join(wantContent, "\n") {
					t.Errorf("%s: Content fields\n%q\nwant\n%q", who, gotContent, wantContent)
				}
				if !bytes.Equal(gotBody, wantBody) {
					t.Errorf("%s: body differs (%d bytes, sent %d)", who, len(gotBody), len(wantBody))
				}
			}
			sent := decryptAs(t, sends[0].SentCopy, crypto.FormatWhole, h.alice, h.alice)
			if string(sent) != msg {
				t.Error("Sent copy differs from the message as written")
			}
		})
	}
}
