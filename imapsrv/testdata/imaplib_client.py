"""Drives mailbridge's IMAP server with Python's imaplib, an independent client.

Run by TestPythonImaplib; configuration comes from the environment.
Exits non-zero with a message on the first mismatch.
"""
import imaplib
import os
import ssl
import sys

HOST = "127.0.0.1"
PLAIN_PORT = int(os.environ["IMAP_PORT"])
TLS_PORT = int(os.environ["IMAPS_PORT"])
USER = os.environ["IMAP_USER"]
PASSWORD = os.environ["IMAP_PASS"]
ctx = ssl.create_default_context(cafile=os.environ["IMAP_CA"])


def check(cond, what):
    if not cond:
        print("FAIL:", what, file=sys.stderr)
        sys.exit(1)


def ok(result, what):
    typ, data = result
    check(typ == "OK", "%s: %s %r" % (what, typ, data))
    return data


# STARTTLS on the plain port; LOGIN is refused before it.
m = imaplib.IMAP4(HOST, PLAIN_PORT)
check("LOGINDISABLED" in m.capabilities, "LOGINDISABLED before STARTTLS: %r" % (m.capabilities,))
try:
    m.login(USER, PASSWORD)
    check(False, "LOGIN accepted before STARTTLS")
except imaplib.IMAP4.error:
    pass
ok(m.starttls(ssl_context=ctx), "STARTTLS")
try:
    m.login(USER, "wrong")
    check(False, "wrong password accepted")
except imaplib.IMAP4.error as e:
    check("AUTHENTICATIONFAILED" in str(e), "wrong password error: %s" % e)
ok(m.login(USER, PASSWORD), "LOGIN after STARTTLS")
check(m.logout()[0] == "BYE", "LOGOUT")

# Implicit TLS.
m = imaplib.IMAP4_SSL(HOST, TLS_PORT, ssl_context=ctx)
ok(m.login(USER, PASSWORD), "LOGIN")
caps = ok(m.capability(), "CAPABILITY")[0].decode().split()
for cap in ("IDLE", "UIDPLUS", "MOVE", "SPECIAL-USE", "CREATE-SPECIAL-USE", "LITERAL+"):
    check(cap in caps, "capability %s: %r" % (cap, caps))

boxes = ok(m.list(), "LIST")
names = [b.decode() for b in boxes]
check(any(n.endswith(' "/" INBOX') for n in names), "INBOX in LIST: %r" % names)
check(any("\\Trash" in n and '"Trash"' in n for n in names), "\\Trash in LIST: %r" % names)
check(any("\\All" in n and '"All Mail"' in n for n in names), "All Mail in LIST: %r" % names)

data = ok(m.status("INBOX", "(MESSAGES UNSEEN)"), "STATUS")
check(b"MESSAGES 3" in data[0] and b"UNSEEN 2" in data[0], "STATUS: %r" % data)

data = ok(m.select("INBOX"), "SELECT")
check(data == [b"3"], "SELECT count: %r" % data)

data = ok(m.fetch("1", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])"), "FETCH header")
check(b"Subject: Lunch tomorrow" in data[0][1], "FETCH header: %r" % data)
data = ok(m.uid("FETCH", "2", "(BODY.PEEK[])"), "UID FETCH body")
check(data[0][1].startswith(b"From: =?utf-8?q?J=C3=BCrgen"), "UID FETCH body: %r" % data)

data = ok(m.search(None, "UNSEEN"), "SEARCH UNSEEN")
check(data == [b"2 3"], "SEARCH UNSEEN: %r" % data)
data = ok(m.search(None, "FROM", '"bob"'), "SEARCH FROM")
check(data == [b"1"], "SEARCH FROM: %r" % data)
m.literal = "Grüße".encode()
data = ok(m.search("UTF-8", "SUBJECT"), "SEARCH SUBJECT utf-8")
check(data == [b"2"], "SEARCH SUBJECT utf-8: %r" % data)

data = ok(m.store("2", "+FLAGS", "(\\Flagged)"), "STORE")
check(any(b"\\Flagged" in d for d in data if d), "STORE reply: %r" % data)
data = ok(m.search(None, "FLAGGED"), "SEARCH FLAGGED")
check(data == [b"2 3"], "SEARCH FLAGGED: %r" % data)

typ, data = m.uid("COPY", "1", "Archive")
check(typ == "OK", "UID COPY: %s %r" % (typ, data))
typ, data = m.append("INBOX", "(\\Seen)", None, b"From: py@example.com\r\nSubject: from python\r\n\r\nhi\r\n")
check(typ == "OK" and b"APPENDUID" in data[0], "APPEND: %s %r" % (typ, data))

ok(m.store("1", "+FLAGS", "(\\Deleted)"), "STORE \\Deleted")
ok(m.expunge(), "EXPUNGE")
data = ok(m.search(None, "ALL"), "SEARCH ALL")
check(data == [b"1 2 3"], "SEARCH ALL after EXPUNGE: %r" % data)

# MOVE and COPY onto the selected mailbox: a new UID, reported as COPYUID.
m.response("COPYUID")  # drop the earlier COPY's
typ, data = m.uid("MOVE", "3", "INBOX")
check(typ == "OK", "UID MOVE to the same mailbox: %s %r" % (typ, data))
copyuid = m.response("COPYUID")[1]
check(copyuid[-1].split()[1:] == [b"3", b"5"], "COPYUID of MOVE: %r" % (copyuid,))
typ, data = m.uid("COPY", "5", "INBOX")
copyuid = m.response("COPYUID")[1]
check(typ == "OK" and copyuid[-1].split()[1:] == [b"5", b"6"], "UID COPY to the same mailbox: %s %r" % (typ, copyuid))
data = ok(m.uid("SEARCH", None, "ALL"), "UID SEARCH ALL")
check(data == [b"2 4 6"], "UIDs after MOVE/COPY onto INBOX: %r" % data)

# Mailbox names in modified UTF-7 both ways; a bad encoding is refused.
ok(m.create('"Projekte/K&APY-ln"'), "CREATE mUTF-7")
data = ok(m.list('""', '"Projekte/*"'), "LIST mUTF-7")
check(any(b'"Projekte/K&APY-ln"' in d for d in data), "LIST mUTF-7: %r" % data)
try:
    typ, data = m.create('"Bad&Jjo"')
    check(False, "CREATE with bad mUTF-7: %s %r" % (typ, data))
except imaplib.IMAP4.error as e:  # imaplib raises on BAD
    check("[CLIENTBUG]" in str(e), "CREATE with bad mUTF-7: %s" % e)
typ, data = m.rename("INBOX", "Elsewhere")
check(typ == "NO", "RENAME INBOX: %s %r" % (typ, data))
typ, data = m.delete("INBOX")
check(typ == "NO", "DELETE INBOX: %s %r" % (typ, data))
typ, data = m.append('"All Mail"', None, None, b"Subject: x\r\n\r\ny\r\n")
check(typ == "NO", "APPEND to All Mail: %s %r" % (typ, data))

# LIST-EXTENDED with LIST-STATUS and SPECIAL-USE.
typ, data = m._simple_command("LIST", '(SPECIAL-USE)', '""', '"*"', "RETURN", "(STATUS (MESSAGES UIDNEXT))")
check(typ == "OK", "LIST (SPECIAL-USE) RETURN (STATUS): %s" % typ)
lines = m.response("LIST")[1]
check(any(b"\\Sent" in l for l in lines) and not any(b'"Work"' in l for l in lines), "LIST (SPECIAL-USE): %r" % lines)
statuses = m.response("STATUS")[1]
check(any(b"MESSAGES" in l and b"UIDNEXT" in l for l in statuses), "LIST-STATUS: %r" % statuses)

# CREATE-SPECIAL-USE: the uses are taken; the answer names the mailbox.
typ, data = m._simple_command("CREATE", "MyJunk", "(USE (\\Junk))")
check(typ == "NO" and b"[USEATTR]" in data[0] and b'"Spam"' in data[0], "CREATE (USE (\\Junk)): %s %r" % (typ, data))

# EXAMINE is read-only.
ok(m.select("INBOX", readonly=True), "EXAMINE")
typ, data = m.store("1", "+FLAGS", "(\\Deleted)")
check(typ == "NO", "STORE in EXAMINE: %s %r" % (typ, data))
ok(m.close(), "CLOSE")

# A message body streams back byte for byte.
big = b"From: py@example.com\r\nSubject: big\r\n\r\n" + b"0123456789abcdef\r\n" * 8192
typ, data = m.append("Archive", None, None, big)
check(typ == "OK", "APPEND big: %s" % typ)
uid = data[0].split()[2].rstrip(b"]")
ok(m.select("Archive"), "SELECT Archive")
data = ok(m.uid("FETCH", uid, "(BODY.PEEK[])"), "FETCH big")
check(data[0][1] == big, "big body differs (%d vs %d bytes)" % (len(data[0][1]), len(big)))
data = ok(m.uid("FETCH", uid, "(BODY.PEEK[]<100.50>)"), "FETCH partial")
check(data[0][1] == big[100:150], "partial body: %r" % (data[0][1],))
ok(m.unselect(), "UNSELECT")
check(m.logout()[0] == "BYE", "LOGOUT")

# IDLE: another session's change arrives while idling.
idler = imaplib.IMAP4_SSL(HOST, TLS_PORT, ssl_context=ctx)
ok(idler.login(USER, PASSWORD), "LOGIN idler")
ok(idler.select("INBOX"), "SELECT idler")
tag = idler._new_tag().decode()
idler.send(("%s IDLE\r\n" % tag).encode())
check(idler.readline().startswith(b"+"), "IDLE continuation")
writer = imaplib.IMAP4_SSL(HOST, TLS_PORT, ssl_context=ctx)
ok(writer.login(USER, PASSWORD), "LOGIN writer")
ok(writer.append("INBOX", None, None, b"Subject: while idle\r\n\r\nhi\r\n"), "APPEND while idle")
line = idler.readline()
check(line.endswith(b"EXISTS\r\n"), "IDLE update: %r" % line)
idler.send(b"DONE\r\n")
while True:
    line = idler.readline()
    if line.startswith(tag.encode()):
        check(b" OK " in line, "IDLE end: %r" % line)
        break
idler.logout()
writer.logout()
print("ok")
