#!/usr/bin/env python3
"""Drives a running mailbridge with Python's own imaplib and smtplib.

Usage: client.py INFO_JSON EXPECTED_MESSAGES SUBJECT
Reads the settings `mailbridge info --json` printed, then checks what a
mail client sees. Exits non-zero with a message on the first mismatch.
"""
import email
import email.policy
import imaplib
import json
import re
import smtplib
import ssl
import sys
import time
from email.message import EmailMessage


def fail(msg):
    print("FAIL:", msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


info = json.load(open(sys.argv[1]))
expected = int(sys.argv[2])
subject = sys.argv[3]
acct = info["accounts"][0]
user, password = acct["username"], acct["password"]
ctx = ssl.create_default_context(cafile=info["certificate"])


def imap_starttls():
    c = imaplib.IMAP4(info["imap"]["host"], info["imap"]["port"])
    check("LOGINDISABLED" in c.capabilities, "LOGINDISABLED not advertised before STARTTLS: %r" % (c.capabilities,))
    try:
        c.login(user, password)
        fail("LOGIN accepted before STARTTLS")
    except imaplib.IMAP4.error:
        pass
    c.starttls(ssl_context=ctx)
    return c


def mailboxes(c):
    typ, data = c.list()
    check(typ == "OK", "LIST failed")
    out = []
    for line in data:
        m = re.match(rb'\((.*?)\) "(.*?)" (.*)', line)
        check(m, "bad LIST line %r" % line)
        name = m.group(3).decode()
        if name.startswith('"'):
            name = name[1:-1]
        out.append((m.group(1).decode(), name))
    return out


# --- IMAP over STARTTLS: wrong password, then the right one, on one connection.
c = imap_starttls()
try:
    c.login(user, password + "x")
    fail("wrong password accepted")
except imaplib.IMAP4.error as e:
    check("AUTHENTICATIONFAILED" in str(e) or "nvalid" in str(e), "unclear auth error: %s" % e)
c.login(user, password)

# A malformed command gets BAD and the connection stays usable.
tag = c._new_tag().decode()
c.send(("%s FROBNICATE (((\r\n" % tag).encode())
line = c.readline().decode()
while line.startswith("*"):
    line = c.readline().decode()
check(line.startswith(tag + " BAD"), "malformed command: expected BAD, got %r" % line)
typ, _ = c.noop()
check(typ == "OK", "connection unusable after BAD")

boxes = mailboxes(c)
names = [n for _, n in boxes]
attrs = {n: a for a, n in boxes}
for want, flag in [("INBOX", None), ("Sent", "\\Sent"), ("Trash", "\\Trash"), ("Drafts", "\\Drafts"),
                   ("Spam", "\\Junk"), ("Archive", "\\Archive"), ("All Mail", "\\All")]:
    check(want in names, "mailbox %s missing from LIST: %r" % (want, names))
    if flag:
        check(flag in attrs[want], "%s lacks %s: %r" % (want, flag, attrs[want]))

# Every seeded message is somewhere, once per Message-ID.
seen = set()
total = 0
for a, name in boxes:
    if "\\Noselect" in a or name == "All Mail":
        continue
    typ, data = c.select('"%s"' % name, readonly=True)
    check(typ == "OK", "EXAMINE %s failed" % name)
    n = int(data[0])
    total += n
    if n == 0:
        continue
    typ, data = c.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    check(typ == "OK", "FETCH in %s failed" % name)
    for item in data:
        if isinstance(item, tuple):
            seen.add(item[1].strip().lower())
check(len(seen) >= expected, "expected %d distinct messages, saw %d (%d entries)" % (expected, len(seen), total))

typ, data = c.select("INBOX")
check(typ == "OK" and int(data[0]) > 0, "INBOX is empty")
inbox_count = int(data[0])
c.logout()

# --- IMAP over implicit TLS: read a message as plain text.
c = imaplib.IMAP4_SSL(info["imaps"]["host"], info["imaps"]["port"], ssl_context=ctx)
c.login(user, password)
typ, data = c.select("INBOX")
check(int(data[0]) == inbox_count, "IMAPS sees another INBOX")
typ, data = c.fetch("1", "(BODY.PEEK[] ENVELOPE BODYSTRUCTURE FLAGS)")
check(typ == "OK", "FETCH failed")
raw = data[0][1]
check(b"BEGIN PGP MESSAGE" not in raw, "message served still encrypted")
msg = email.message_from_bytes(raw, policy=email.policy.default)
check(msg["Subject"], "no subject")
check(msg["X-Mailbridge-Signature"] in ("valid", "invalid", "unknown-key", "unsigned"),
      "no signature verdict header: %r" % msg["X-Mailbridge-Signature"])
text = msg.get_body(preferencelist=("plain", "html"))
check(text is not None and len(text.get_content().strip()) > 0, "no readable text part")
typ, data = c.search(None, "ALL")
check(typ == "OK" and len(data[0].split()) == inbox_count, "SEARCH ALL mismatch")
c.logout()

# --- SMTP: send to alice (has a key) over STARTTLS and over implicit TLS.
m = EmailMessage()
m["From"] = user
m["To"] = "alice@example.test"
m["Subject"] = subject
m["Message-ID"] = "<%s@e2e.test>" % re.sub(r"\W", "", subject)
m.set_content("Hello Alice,\n\nthis is the end-to-end test body %s.\n" % subject)

s = smtplib.SMTP(info["smtp"]["host"], info["smtp"]["port"])
s.ehlo()
check(not s.has_extn("auth"), "AUTH offered before STARTTLS")
s.starttls(context=ctx)
s.ehlo()
try:
    s.login(user, password + "x")
    fail("SMTP wrong password accepted")
except smtplib.SMTPAuthenticationError:
    pass
s.login(user, password)
s.send_message(m)
s.quit()

s = smtplib.SMTP_SSL(info["smtps"]["host"], info["smtps"]["port"], context=ctx)
s.login(user, password)
try:
    s.sendmail("mallory@evil.test", ["alice@example.test"], m.as_bytes())
    fail("foreign MAIL FROM accepted")
except smtplib.SMTPSenderRefused:
    pass
s.quit()

# --- The Sent copy shows up over IMAP, in plain text.
c = imaplib.IMAP4_SSL(info["imaps"]["host"], info["imaps"]["port"], ssl_context=ctx)
c.login(user, password)
found = None
for _ in range(100):
    c.select("Sent", readonly=True)
    typ, data = c.search("UTF-8", "HEADER", "Message-ID", m["Message-ID"])
    if typ == "OK" and data[0].split():
        found = data[0].split()[-1]
        break
    time.sleep(0.1)
check(found, "sent message never appeared in Sent")
typ, data = c.fetch(found, "(BODY.PEEK[])")
sent = email.message_from_bytes(data[0][1], policy=email.policy.default)
check(sent["Subject"] == subject, "Sent copy subject %r" % sent["Subject"])
check("end-to-end test body" in sent.get_body(("plain",)).get_content(), "Sent copy body not plain text")
c.logout()
print("ok: %d messages, INBOX %d" % (len(seen), inbox_count))
