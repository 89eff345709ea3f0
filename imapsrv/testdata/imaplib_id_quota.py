"""Drives ID (RFC 2971) and QUOTA (RFC 9208) with Python's imaplib.

Run by TestPythonIDQuota; configuration comes from the environment.
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
QUOTA = os.environ["IMAP_QUOTA"].encode()  # "used limit" in KiB
ctx = ssl.create_default_context(cafile=os.environ["IMAP_CA"])


def check(cond, what):
    if not cond:
        print("FAIL:", what, file=sys.stderr)
        sys.exit(1)


def server_id(m, what):
    typ, _ = m.xatom("ID", '("name" "imaplib" "version" "%s")' % sys.version.split()[0])
    check(typ == "OK", "%s: ID %s" % (what, typ))
    typ, data = m.response("ID")
    check(data == [b'("name" "mailbridge")'], "%s: ID reply %r" % (what, data))


# Plain port: ID before and after STARTTLS, QUOTA after LOGIN.
m = imaplib.IMAP4(HOST, PLAIN_PORT)
check("ID" in m.capabilities and "STARTTLS" in m.capabilities, "capabilities before STARTTLS: %r" % (m.capabilities,))
server_id(m, "before STARTTLS")
check(m.noop()[0] == "OK", "NOOP after ID before login")
check(m.starttls(ssl_context=ctx)[0] == "OK", "STARTTLS")
check("ID" in m.capabilities and "AUTH=PLAIN" in m.capabilities, "capabilities after STARTTLS: %r" % (m.capabilities,))
server_id(m, "after STARTTLS")
check(m.login(USER, PASSWORD)[0] == "OK", "LOGIN after STARTTLS")
typ, data = m.capability()
caps = data[0].decode().split()
check("QUOTA" in caps and "QUOTA=RES-STORAGE" in caps, "capabilities after LOGIN: %r" % caps)
typ, data = m.getquotaroot("INBOX")
check(typ == "OK", "GETQUOTAROOT: %s %r" % (typ, data))
check(data[0] == [b'"INBOX" ""'], "QUOTAROOT: %r" % (data,))
check(data[1] == [b'"" (STORAGE ' + QUOTA + b')'], "QUOTA in GETQUOTAROOT: %r" % (data,))
m.logout()

# Implicit TLS.
m = imaplib.IMAP4_SSL(HOST, TLS_PORT, ssl_context=ctx)
server_id(m, "implicit TLS")
check(m.login(USER, PASSWORD)[0] == "OK", "LOGIN")
typ, data = m.getquota('""')
check(typ == "OK" and data == [b'"" (STORAGE ' + QUOTA + b')'], "GETQUOTA: %s %r" % (typ, data))
typ, data = m.setquota('""', "(STORAGE 1)")
check(typ == "NO", "SETQUOTA: %s %r" % (typ, data))
typ, data = m.getquotaroot("Nope")
check(typ == "NO", "GETQUOTAROOT of a missing mailbox: %s %r" % (typ, data))
check(m.select("INBOX")[0] == "OK", "SELECT after QUOTA")
check(m.logout()[0] == "BYE", "LOGOUT")
print("ok")
