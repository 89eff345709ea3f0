#!/usr/bin/env python3
"""Checks for the user journey test, with Python's own imaplib and smtplib.

  journey.py login INFO_JSON USER [PASSWORD]   IMAP (STARTTLS port) login; exit 2 if refused
  journey.py mail INFO_JSON FROM TO SUBJECT    send FROM -> TO over SMTPS, wait for it in TO's INBOX
  journey.py plain INFO_JSON FROM TO           send FROM -> TO (no key); exit 3 if refused

Passwords default to the ones in INFO_JSON (`mailbridge info --json`).
"""
import imaplib
import json
import smtplib
import ssl
import sys
import time
from email.message import EmailMessage


def fail(msg, code=1):
    print("FAIL:", msg, file=sys.stderr)
    sys.exit(code)


info = json.load(open(sys.argv[2]))
ctx = ssl.create_default_context(cafile=info["certificate"])


def password(user):
    for a in info["accounts"]:
        if a["username"] == user:
            return a["password"]
    fail("no account %s in info" % user)


def imap_login(user, pw):
    c = imaplib.IMAP4(info["imap"]["host"], info["imap"]["port"])
    c.starttls(ssl_context=ctx)
    c.login(user, pw)
    return c


if sys.argv[1] == "login":
    user = sys.argv[3]
    pw = sys.argv[4] if len(sys.argv) > 4 else password(user)
    try:
        c = imap_login(user, pw)
    except imaplib.IMAP4.error as e:
        fail("login refused: %s" % e, 2)
    typ, data = c.select("INBOX", readonly=True)
    if typ != "OK":
        fail("SELECT INBOX: %r" % data)
    print("ok: INBOX has %s messages" % int(data[0]))
    c.logout()
elif sys.argv[1] == "mail":
    frm, to, subject = sys.argv[3], sys.argv[4], sys.argv[5]
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = frm, to, subject
    m.set_content("Hello from %s to %s.\n" % (frm, to))
    s = smtplib.SMTP_SSL(info["smtps"]["host"], info["smtps"]["port"], context=ctx)
    s.login(frm, password(frm))
    s.send_message(m)
    s.quit()
    c = imaplib.IMAP4_SSL(info["imaps"]["host"], info["imaps"]["port"], ssl_context=ctx)
    c.login(to, password(to))
    for _ in range(300):
        c.select("INBOX", readonly=True)
        typ, data = c.search("UTF-8", "SUBJECT", subject.encode())
        if typ == "OK" and data[0].split():
            typ, data = c.fetch(data[0].split()[-1], "(BODY.PEEK[])")
            body = data[0][1]
            if b"BEGIN PGP MESSAGE" in body:
                fail("the recipient sees the message still encrypted")
            if ("Hello from %s" % frm).encode() not in body:
                fail("unexpected body: %r" % body[:300])
            print("ok: %s received the message" % to)
            sys.exit(0)
        time.sleep(0.1)
    fail("%s never received %r" % (to, subject))
elif sys.argv[1] == "plain":
    # Mail to an address without a key: exit 3 if the bridge refuses it.
    frm, to = sys.argv[3], sys.argv[4]
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = frm, to, "no key here"
    m.set_content("This recipient publishes no key.\n")
    s = smtplib.SMTP_SSL(info["smtps"]["host"], info["smtps"]["port"], context=ctx)
    s.login(frm, password(frm))
    try:
        s.send_message(m)
    except smtplib.SMTPRecipientsRefused as e:
        fail("refused: %s" % e, 3)
    except smtplib.SMTPDataError as e:
        fail("refused: %s" % e, 3)
    s.quit()
    print("ok: sent")
else:
    fail("unknown check %s" % sys.argv[1])
