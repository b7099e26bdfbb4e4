#!/usr/bin/env node
// A small SIP client for `npm run bench`: REGISTERs with digest auth (MD5) at a fixed rate over UDP,
// timing every request/response round trip: the REGISTER answered 401 (the SIP stack and its event
// loop only) and the one answered 200 (which also commits the binding to the store). Users
// <user>0..<user>N-1 take turns, so that REGISTERs of one address-of-record (serialised, each
// waiting for the previous one's commit) do not queue behind each other.
// It runs as its own process (pinned to the load core by run.mjs), so that the HTTP load the bench
// puts on the server meanwhile does not delay the reading of its answers.
//
//   node test/bench/sip-probe.mjs <port> <domain> <user prefix> <password> <users> <registrations per second> <seconds>
//
// Prints one JSON line: { challenge: Stats, register: Stats }, Stats = { sent, answered, lost, statuses,
// p50, p99, max } (milliseconds, of the answered round trips).
import dgram from 'node:dgram';
import { createHash } from 'node:crypto';

const [port, domain, prefix, password, users, rate, seconds] = process.argv.slice(2);
const md5 = (s) => createHash('md5').update(s).digest('hex');
const sock = dgram.createSocket('udp4');
await new Promise((r) => sock.bind(0, '127.0.0.1', r));
const local = sock.address().port;
const waiting = new Map();
sock.on('message', (m) => {
  const text = m.toString();
  const branch = /branch=([^;\s]+)/i.exec(text)?.[1];
  waiting.get(branch)?.(text);
});

let seq = 0;
const request = (user, callId, cseq, branch, extra) =>
  [
    `REGISTER sip:${domain} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=${branch};rport`,
    `From: <sip:${user}@${domain}>;tag=${callId}`,
    `To: <sip:${user}@${domain}>`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} REGISTER`,
    `Contact: <sip:${user}@127.0.0.1:${local}>`,
    'Expires: 600',
    'Max-Forwards: 70',
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');

const stats = () => ({ rtts: [], sent: 0, lost: 0, statuses: {} });
const kinds = { challenge: stats(), register: stats() };
/** One request and its final answer; no retransmission: an answer later than 2 s counts as lost. */
const exchange = (kind, text, branch) =>
  new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const k = kinds[kind];
    k.sent++;
    const timer = setTimeout(() => {
      waiting.delete(branch);
      k.lost++;
      resolve(null);
    }, 2000);
    waiting.set(branch, (res) => {
      if (/^SIP\/2\.0 1\d\d/.test(res)) return; // provisional: wait for the final answer
      clearTimeout(timer);
      waiting.delete(branch);
      const status = res.slice(8, 11);
      k.statuses[status] = (k.statuses[status] ?? 0) + 1;
      k.rtts.push(Number(process.hrtime.bigint() - t0) / 1e6);
      resolve(res);
    });
    sock.send(text, Number(port), '127.0.0.1');
  });

async function register() {
  const n = seq++;
  const user = `${prefix}${n % Number(users)}`;
  const callId = `probe-${process.pid}-${n}`;
  const challenge = await exchange('challenge', request(user, callId, 1, `z9hG4bKp${n}a`, []), `z9hG4bKp${n}a`);
  const nonce = challenge && /nonce="([^"]+)"/.exec(challenge)?.[1];
  if (!nonce) return;
  const ha1 = md5(`${user}:${domain}:${password}`);
  const response = md5(`${ha1}:${nonce}:00000001:probe:auth:${md5(`REGISTER:sip:${domain}`)}`);
  const authz = `Authorization: Digest username="${user}", realm="${domain}", nonce="${nonce}", uri="sip:${domain}", response="${response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="probe"`;
  await exchange('register', request(user, callId, 2, `z9hG4bKp${n}b`, [authz]), `z9hG4bKp${n}b`);
}

// paced by the clock, not by the answers: a slow server does not slow the offered load down
const interval = 1000 / Number(rate);
const end = Date.now() + Number(seconds) * 1000;
const started = [];
for (let next = Date.now(); next < end; next += interval) {
  const wait = next - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  started.push(register());
}
await Promise.all(started);
sock.close();
const summary = ({ rtts, sent, lost, statuses }) => {
  rtts.sort((a, b) => a - b);
  const at = (p) => (rtts.length === 0 ? NaN : rtts[Math.min(rtts.length - 1, Math.floor((p / 100) * rtts.length))]);
  return { sent, answered: rtts.length, lost, statuses, p50: at(50), p99: at(99), max: rtts[rtts.length - 1] ?? NaN };
};
console.log(JSON.stringify({ challenge: summary(kinds.challenge), register: summary(kinds.register) }));
