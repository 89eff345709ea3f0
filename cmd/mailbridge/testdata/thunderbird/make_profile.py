#!/usr/bin/env python3
"""Create a fresh Thunderbird profile with one IMAP account pointing at mailbridge.

usage: make_profile.py PROFILE_DIR --user U --port P --socket-type 3|2 --cert CERT.pem [--marionette-port N]

- user.js configures the account (server1 = IMAP, server2 = Local Folders), turns off
  first-run / telemetry / update noise and automatic mail checks (the driver triggers
  the checks itself once the password is known).
- The bridge's self-signed certificate is imported into the profile's NSS db (cert9.db)
  with certutil, trust "C,," (trusted CA) so no certificate-exception dialog appears.
  ("P,," -- trusted peer -- is NOT enough: Thunderbird 153 still showed "The certificate for
  127.0.0.1 does not come from a trusted source.")
- The password is NOT written here; the Marionette driver hands it to Thunderbird.
"""
import argparse, os, shutil, subprocess, sys


def prefs(a):
    p = {
        # --- accounts -------------------------------------------------------
        "mail.accountmanager.accounts": "account1,account2",
        "mail.accountmanager.defaultaccount": "account1",
        "mail.accountmanager.localfoldersserver": "server2",
        "mail.account.account1.identities": "id1",
        "mail.account.account1.server": "server1",
        "mail.account.account2.server": "server2",
        "mail.identity.id1.fullName": "Demo User",
        "mail.identity.id1.useremail": a.user,
        "mail.identity.id1.valid": True,
        "mail.identity.id1.smtpServer": "smtp1",
        "mail.identity.id1.fcc_folder": "imap://%s@127.0.0.1/Sent" % a.user.replace("@", "%40"),
        "mail.identity.id1.draft_folder": "imap://%s@127.0.0.1/Drafts" % a.user.replace("@", "%40"),
        "mail.server.server1.type": "imap",
        "mail.server.server1.hostname": "127.0.0.1",
        "mail.server.server1.port": a.port,
        "mail.server.server1.socketType": a.socket_type,   # 3 = SSL/TLS, 2 = STARTTLS
        "mail.server.server1.authMethod": 3,               # normal password (LOGIN / AUTH PLAIN)
        "mail.server.server1.userName": a.user,
        "mail.server.server1.name": "mailbridge " + a.user,
        "mail.server.server1.directory-rel": "[ProfD]ImapMail/127.0.0.1",
        "mail.server.server1.login_at_startup": False,
        "mail.server.server1.check_new_mail": False,
        "mail.server.server1.offline_download": True,      # new folders get the Offline flag
        "mail.server.server1.autosync_offline_stores": True,
        "mail.server.server1.delete_model": 1,             # move to Trash
        "mail.server.server1.trash_folder_name": "Trash",
        "mail.server.server1.cleanup_inbox_on_exit": False,
        "mail.server.server1.empty_trash_on_exit": False,
        "mail.server.server2.type": "none",
        "mail.server.server2.hostname": "Local Folders",
        "mail.server.server2.userName": "nobody",
        "mail.server.server2.name": "Local Folders",
        "mail.server.server2.directory-rel": "[ProfD]Mail/Local Folders",
        "mail.smtpservers": "smtp1",
        "mail.smtp.defaultserver": "smtp1",
        "mail.smtpserver.smtp1.hostname": "127.0.0.1",
        "mail.smtpserver.smtp1.port": a.smtp_port,
        "mail.smtpserver.smtp1.try_ssl": 3,
        "mail.smtpserver.smtp1.authMethod": 3,
        "mail.smtpserver.smtp1.username": a.user,
        # --- quiet startup --------------------------------------------------
        "mail.shell.checkDefaultClient": False,
        "mail.winsearch.firstRunDone": True,
        "mail.spotlight.firstRunDone": True,
        "mailnews.start_page.enabled": False,
        "mail.provider.enabled": False,
        "mail.rights.override": True,
        "mail.biff.play_sound": False,
        "mail.biff.show_alert": False,
        "mail.startup.enabledMailCheckOnce": True,
        "mail.tabs.loadInBackground": True,
        "mail.inappnotifications.enabled": False,
        "mailnews.auto_config.fetchFromISP.enabled": False,
        "mailnews.auto_config.guess.enabled": False,
        "app.update.enabled": False,
        "app.update.auto": False,
        "app.update.disabledForTesting": True,
        "browser.shell.checkDefaultBrowser": False,
        "datareporting.policy.dataSubmissionEnabled": False,
        "datareporting.healthreport.uploadEnabled": False,
        "toolkit.telemetry.enabled": False,
        "toolkit.telemetry.reportingpolicy.firstRun": False,
        "extensions.update.enabled": False,
        "extensions.getAddons.cache.enabled": False,
        "calendar.integration.notify": False,
        "calendar.timezone.useSystemTimezone": True,
        "mail.cloud_files.enabled": False,
        "network.dns.disableIPv6": True,
        "signon.rememberSignons": True,
        "security.enterprise_roots.enabled": False,
        "marionette.port": a.marionette_port,
        # offline-body sync: let autosync start immediately
        "mail.autosync.max_age_days": -1,
        "mailnews.database.global.indexer.enabled": False,
    }
    out = []
    for k, v in p.items():
        if isinstance(v, bool):
            s = "true" if v else "false"
        elif isinstance(v, int):
            s = str(v)
        else:
            s = '"%s"' % v.replace("\\", "\\\\").replace('"', '\\"')
        out.append('user_pref("%s", %s);' % (k, s))
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("profile")
    ap.add_argument("--user", required=True)
    ap.add_argument("--port", type=int, default=22993)
    ap.add_argument("--socket-type", type=int, default=3)
    ap.add_argument("--smtp-port", type=int, default=22465)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--marionette-port", type=int, default=2828)
    ap.add_argument("--trust", default="C,,")
    a = ap.parse_args()
    if os.path.exists(a.profile):
        shutil.rmtree(a.profile)
    os.makedirs(a.profile)
    with open(os.path.join(a.profile, "user.js"), "w") as f:
        f.write(prefs(a))
    with open(os.path.join(a.profile, "prefs.js"), "w") as f:
        f.write("// written by make_profile.py\n" + prefs(a))
    db = "sql:" + a.profile
    subprocess.run(["certutil", "-N", "-d", db, "--empty-password"], check=True)
    subprocess.run(["certutil", "-A", "-d", db, "-n", "mailbridge", "-t", a.trust, "-i", a.cert], check=True)
    r = subprocess.run(["certutil", "-L", "-d", db], check=True, capture_output=True, text=True)
    sys.stderr.write(r.stdout)


if __name__ == "__main__":
    main()
