package imapsrv

// Test messages; helpers convert their line endings to CRLF.

const testMessage1 = `From: Bob Example <bob@example.com>
To: Alice <alice@example.org>
Cc: carol@example.net
Subject: Lunch tomorrow
Date: Sat, 09 Mar 2024 10:00:00 +0100
Message-ID: <m1@example.com>

Shall we meet at noon?
`

const testMessage2 = `From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.de>
To: alice@example.org
Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=
Date: Sun, 10 Mar 2024 08:30:00 +0000
Message-ID: <m2@example.de>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="XYZ"

--XYZ
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Sch=C3=B6ne Gr=C3=BC=C3=9Fe vom Rhein.
--XYZ
Content-Type: application/pdf; name="report.pdf"
Content-Disposition: attachment; filename="report.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQKJcfs
--XYZ--
`

const testMessage3 = `From: Dave <dave@example.com>
To: Alice <alice@example.org>
Subject: Invoice 42
Date: Mon, 11 Mar 2024 09:15:00 -0500
Message-ID: <m3@example.com>
In-Reply-To: <m1@example.com>

Please find the invoice attached. Total: 42 EUR.
`
