#!/usr/bin/env python3
"""Prints what the bridge's IMAP side holds, as seen by Python's imaplib.

Usage: imapstate.py INFO_JSON [MAILBOX...]
Reads the settings `mailbridge info --json` printed, logs in over implicit
TLS and prints one JSON object: for each mailbox (all selectable ones if
none are named) a map from Message-ID to its sorted flags. The client tests
compare what another client did against this second, independent view.
It also checks that RFC822.SIZE matches the bytes of BODY[], which
clients such as fetchmail and getmail rely on.
"""
import email.parser
import imaplib
import json
import re
import ssl
import sys


def fail(msg):
    print("FAIL:", msg, file=sys.stderr)
    sys.exit(1)


info = json.load(open(sys.argv[1]))
acct = info["accounts"][0]
ctx = ssl.create_default_context(cafile=info["certificate"])
c = imaplib.IMAP4_SSL(info["imaps"]["host"], info["imaps"]["port"], ssl_context=ctx)
c.login(acct["username"], acct["password"])

names = sys.argv[2:]
if not names:
    typ, data = c.list()
    for line in data:
        m = re.match(rb'\((.*?)\) "(.*?)" "?(.*?)"?$', line)
        if not m:
            fail("bad LIST line %r" % line)
        if b"\\Noselect" not in m.group(1):
            names.append(m.group(3).decode())

headers = email.parser.BytesHeaderParser()
out = {}
for name in names:
    typ, data = c.select('"%s"' % name, readonly=True)
    if typ != "OK":
        fail("EXAMINE %s: %r" % (name, data))
    box = {}
    if int(data[0]) > 0:
        typ, data = c.fetch("1:*", "(FLAGS RFC822.SIZE BODY.PEEK[])")
        if typ != "OK":
            fail("FETCH in %s: %r" % (name, data))
        for item in data:
            if not isinstance(item, tuple):
                continue
            meta, raw = item
            size = int(re.search(rb"RFC822\.SIZE (\d+)", meta).group(1))
            if size != len(raw):
                fail("%s: RFC822.SIZE %d but BODY[] has %d bytes" % (name, size, len(raw)))
            flags = re.search(rb"FLAGS \((.*?)\)", meta).group(1).decode().split()
            mid = headers.parsebytes(raw)["Message-ID"]
            if not mid:
                fail("%s: a message without Message-ID" % name)
            if mid in box:
                fail("%s: Message-ID %s twice" % (name, mid))
            box[mid.strip()] = sorted(flags)
    out[name] = box
c.logout()
json.dump(out, sys.stdout, indent=1, sort_keys=True)
