"""Send one message through mailbridge's SMTP server with Python's smtplib.

Used by the Go tests as an independent client. Exits non-zero, printing the
server's reply, when anything fails.
"""
import argparse
import smtplib
import ssl
import sys


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mode", choices=["starttls", "ssl"], required=True)
    p.add_argument("--mech", choices=["auto", "PLAIN", "LOGIN"], required=True)
    p.add_argument("--no-initial-response", action="store_true")
    p.add_argument("--cafile", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--sender", required=True)
    p.add_argument("--rcpt", action="append", required=True)
    p.add_argument("--message", required=True)
    a = p.parse_args()

    ctx = ssl.create_default_context(cafile=a.cafile)
    with open(a.message, "rb") as f:
        msg = f.read()

    if a.mode == "ssl":
        server = smtplib.SMTP_SSL(a.host, a.port, context=ctx, timeout=60)
    else:
        server = smtplib.SMTP(a.host, a.port, timeout=60)
    with server:
        server.ehlo()
        if a.mode == "starttls":
            if server.has_extn("auth"):
                sys.exit("AUTH advertised before STARTTLS")
            server.starttls(context=ctx)
            server.ehlo()
        if a.mech == "auto":
            server.login(a.user, a.password)
        else:
            server.user, server.password = a.user, a.password
            obj = server.auth_plain if a.mech == "PLAIN" else server.auth_login
            server.auth(a.mech, obj, initial_response_ok=not a.no_initial_response)
        refused = server.sendmail(a.sender, a.rcpt, msg)
        if refused:
            sys.exit("refused: %r" % refused)
    print("OK")


if __name__ == "__main__":
    main()
