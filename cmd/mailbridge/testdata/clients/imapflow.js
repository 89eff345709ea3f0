// Drives a running mailbridge with the Node IMAP client imapflow.
//
// Usage: node imapflow.js INFO_JSON [SUBJECT_TERM...]
// Reads the settings `mailbridge info --json` printed, trusts only the
// exported certificate, and works the way a Node mail app would: list
// with STATUS, fetch envelopes and body structures, search, append and
// move, then IDLE. It prints "idling" when IDLE runs, waits for a new
// message (the test sends one), and prints one JSON line with what it saw.
// Every warning or error imapflow logs is reported in "problems".
'use strict';

const fs = require('fs');
const { ImapFlow } = require('imapflow');

const info = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const acct = info.accounts[0];
const problems = [];
const keep = level => (obj, msg) => problems.push({ level, msg: msg || obj.msg, err: obj && obj.err ? String(obj.err) : undefined });
// The last protocol lines, printed if the script fails.
const trace = [];
const record = obj => {
    if (obj && obj.src && obj.msg) {
        trace.push(obj.src + ' ' + obj.msg + (obj.data ? ' ' + JSON.stringify(obj.data).slice(0, 200) : ''));
        trace.splice(0, trace.length - 80);
    }
};
const logger = { debug: record, info: record, warn: keep('warn'), error: keep('error') };

const guard = setTimeout(() => {
    console.error('imapflow.js: timed out; problems: ' + JSON.stringify(problems));
    process.exit(2);
}, 20000);

function flat(node, out = []) {
    out.push(node.type);
    for (const child of node.childNodes || []) {
        flat(child, out);
    }
    return out;
}

async function main() {
    const client = new ImapFlow({
        host: 'localhost',
        port: info.imaps.port,
        secure: true,
        auth: { user: acct.username, pass: acct.password },
        tls: { ca: [fs.readFileSync(info.certificate)], servername: 'localhost' },
        logger
    });
    client.on('error', err => problems.push({ level: 'error', msg: 'client error event', err: String(err) }));
    await client.connect();
    const out = { capabilities: [...client.capabilities.keys()].sort() };

    const list = await client.list({ statusQuery: { messages: true, unseen: true, uidNext: true, uidValidity: true } });
    out.mailboxes = list.map(m => ({
        path: m.path,
        specialUse: m.specialUse || '',
        messages: m.status ? m.status.messages : -1,
        unseen: m.status ? m.status.unseen : -1
    }));

    const lock = await client.getMailboxLock('INBOX');
    try {
        out.inbox = [];
        for await (const msg of client.fetch('1:*', { uid: true, envelope: true, bodyStructure: true, flags: true, size: true })) {
            out.inbox.push({
                uid: msg.uid,
                messageId: msg.envelope.messageId,
                subject: msg.envelope.subject,
                from: msg.envelope.from && msg.envelope.from[0] ? msg.envelope.from[0].address : '',
                flags: [...msg.flags].sort(),
                size: msg.size,
                parts: flat(msg.bodyStructure)
            });
        }
        out.unseen = await client.search({ seen: false }, { uid: true });
        out.flagged = await client.search({ flagged: true }, { uid: true });
        const first = out.inbox[0];
        out.byMessageId = await client.search({ header: { 'message-id': first.messageId } }, { uid: true });
        // Encoded-word subjects must be searchable by their text; imapflow
        // sends CHARSET UTF-8 for the non-ASCII terms.
        out.subjectSearch = {};
        for (const term of process.argv.slice(3)) {
            out.subjectSearch[term] = await client.search({ subject: term }, { uid: true });
        }

        // The attachment of the first message that has one, by part number.
        const withFile = out.inbox.find(m => m.parts[0] === 'multipart/mixed');
        if (withFile) {
            const { meta, content } = await client.download(String(withFile.uid), '2', { uid: true });
            const chunks = [];
            for await (const chunk of content) {
                chunks.push(chunk);
            }
            const data = Buffer.concat(chunks);
            out.download = { uid: withFile.uid, contentType: meta.contentType, size: data.length, head: data.subarray(0, 4).toString('hex') };
        }

        const raw = [
            'From: Demo User <' + acct.username + '>',
            'To: Demo User <' + acct.username + '>',
            'Subject: appended by imapflow',
            'Message-ID: <imapflow-append@clients.test>',
            'Date: Sun, 1 Nov 2026 10:00:00 +0000',
            'Content-Type: text/plain; charset=utf-8',
            '',
            'Appended, then moved to Archive.',
            ''
        ].join('\r\n');
        const appended = await client.append('INBOX', raw, ['\\Seen']);
        out.append = { path: appended.destination, uid: appended.uid, uidValidity: String(appended.uidValidity) };
        const moved = await client.messageMove(String(appended.uid), 'Archive', { uid: true });
        out.move = { path: moved.destination, uids: moved.uidMap ? [...moved.uidMap.values()] : [] };
        out.inboxAfterMove = client.mailbox.exists;
    } finally {
        lock.release();
    }

    // IDLE on INBOX until the message the test sends arrives.
    const arrived = new Promise(resolve => client.on('exists', resolve));
    const idle = client.idle();
    while (!client.idling) {
        await new Promise(r => setTimeout(r, 10));
    }
    console.log('idling');
    const ev = await arrived;
    // The next command ends IDLE, and with it idle().
    const last = await client.fetchOne('*', { uid: true, envelope: true });
    await idle;
    out.arrived = { path: ev.path, count: ev.count, prevCount: ev.prevCount, messageId: last && last.envelope ? last.envelope.messageId : '' };
    if (!last || !last.envelope) {
        // Reported, not thrown, so the test can check everything else.
        out.arrived.error = 'FETCH * (UID ENVELOPE) after EXISTS gave ' + JSON.stringify(last) + '\n' + trace.slice(-14).join('\n');
    }

    await client.logout();
    out.problems = problems;
    console.log(JSON.stringify(out));
}

main().then(
    () => clearTimeout(guard),
    err => {
        console.error('imapflow.js: ' + (err.stack || err) + (err.response ? '\nserver said: ' + err.response : ''));
        console.error('problems: ' + JSON.stringify(problems));
        console.error('last protocol lines:\n' + trace.join('\n'));
        process.exit(1);
    }
);
