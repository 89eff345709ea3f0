#!/usr/bin/env python3
"""Summarise a Thunderbird MOZ_LOG=IMAP:5 log.

Prints: connections, every command sent (per connection, in order, with its tagged
result), a de-duplicated command summary, and every NO / BAD / BYE the server sent
together with the command it answered.  Exit status 1 if any tagged NO/BAD was seen
(or if the log holds no IMAP traffic at all)."""
import re, sys, collections

LINE = re.compile(r"^(?P<ts>\S+ \S+) UTC - \[[^\]]*\]: \w/IMAP (?P<conn>[0-9a-f]+):(?P<host>[^:]+):(?P<state>.*?):(?P<kind>SendData|CreateNewLineFromSocket): ?(?P<text>.*)$")


def norm(cmd):
    """command -> shape, for the summary (numbers / sets / mailbox names generalised)."""
    c = re.sub(r"^\S+ ", "", cmd)                    # drop tag
    c = re.sub(r'"[^"]*"', '"…"', c)
    c = re.sub(r"\b\d+(:\d+|:\*)?(,\d+(:\d+|:\*)?)*\b", "N", c)
    return c


def main(path, verbose=True):
    conns = collections.OrderedDict()
    pending = {}            # (conn, tag) -> command
    out_cmds = []           # (ts, conn, state, cmd, result)
    problems = []
    untagged_bad = []
    last_cmd = {}
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line.rstrip("\n"))
            if not m:
                continue
            conn, text, kind = m["conn"], m["text"], m["kind"]
            conns.setdefault(conn, len(conns) + 1)
            if kind == "SendData":
                if text.startswith("Logging suppressed"):
                    continue
                text = text.strip()
                tm = re.match(r"^(\S+) ", text)
                if tm and tm.group(1)[0].isdigit():
                    ent = [m["ts"], conn, m["state"], text, None]
                    out_cmds.append(ent)
                    pending[(conn, tm.group(1))] = ent
                    last_cmd[conn] = ent
                else:   # continuation (literal data, DONE, SASL response...)
                    pass
            else:
                tm = re.match(r"^(\S+) (OK|NO|BAD)\b(.*)$", text)
                if tm and tm.group(1) != "*" and (conn, tm.group(1)) in pending:
                    ent = pending.pop((conn, tm.group(1)))
                    ent[4] = tm.group(2) + tm.group(3)
                    if tm.group(2) in ("NO", "BAD"):
                        problems.append((ent, text))
                elif re.match(r"^\* (NO|BAD|BYE)\b", text):
                    untagged_bad.append((m["ts"], conn, text, last_cmd.get(conn)))
    if not out_cmds:
        print("no IMAP commands found in", path)
        return 1
    print("connections opened: %d" % len(conns))
    print("commands sent: %d" % len(out_cmds))
    if verbose:
        print("--- every command, in order (conn#, state, command -> tagged result) ---")
        for ts, conn, state, cmd, res in out_cmds:
            print("  [%d] %-18.18s %-90.90s -> %s" % (conns[conn], state, cmd, (res or "<no tagged reply>")[:70]))
    print("--- command shapes (count) ---")
    shapes = collections.Counter(norm(c[3]) for c in out_cmds)
    for s, n in shapes.most_common():
        print("  %4d  %s" % (n, s[:150]))
    print("--- tagged NO/BAD answers: %d ---" % len(problems))
    for ent, resp in problems:
        print("  [%d] %s\n      C: %s\n      S: %s" % (conns[ent[1]], ent[2], ent[3], resp))
    print("--- untagged NO/BAD/BYE: %d ---" % len(untagged_bad))
    for ts, conn, text, last in untagged_bad:
        print("  [%d] S: %s   (last command on conn: %s)" % (conns[conn], text, last[3] if last else "-"))
    unanswered = [e for e in out_cmds if e[4] is None and not re.match(r"^\S+ (idle|logout)", e[3], re.I)]
    if unanswered:
        print("--- commands without tagged reply (connection closed / still running): %d ---" % len(unanswered))
        for e in unanswered:
            print("  [%d] %s" % (conns[e[1]], e[3]))
    return 1 if problems else 0


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    sys.exit(main(args[0], verbose="-q" not in sys.argv))
