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
import { udpClient, branchOf, credentials, request } from './udp-digest-client.mjs';

const [port, domain, prefix, password, users, rate, seconds] = process.argv.slice(2);
// answers matched by branch: each request of a registration has its own
const client = await udpClient(Number(port), { keyOf: branchOf });

const register = (user, callId, cseq, branch, extra) =>
  request(`REGISTER`, `sip:${domain}`, [
    client.via(branch),
    `From: <sip:${user}@${domain}>;tag=${callId}`,
    `To: <sip:${user}@${domain}>`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} REGISTER`,
    `Contact: <sip:${user}@127.0.0.1:${client.local}>`,
    'Expires: 600',
    'Max-Forwards: 70',
    ...extra,
  ]);

const stats = () => ({ rtts: [], sent: 0, lost: 0, statuses: {} });
const kinds = { challenge: stats(), register: stats() };
/** One request and its final answer; no retransmission: an answer later than 2 s counts as lost. */
async function exchange(kind, text, branch) {
  const t0 = process.hrtime.bigint();
  const k = kinds[kind];
  k.sent++;
  const res = await client.exchange(branch, text, { retransmit: false, timeoutMs: 2000 });
  if (res === null) {
    k.lost++;
    return null;
  }
  const status = res.slice(8, 11);
  k.statuses[status] = (k.statuses[status] ?? 0) + 1;
  k.rtts.push(Number(process.hrtime.bigint() - t0) / 1e6);
  return res;
}

let seq = 0;
async function registration() {
  const n = seq++;
  const user = `${prefix}${n % Number(users)}`;
  const callId = `probe-${process.pid}-${n}`;
  const challenge = await exchange('challenge', register(user, callId, 1, `z9hG4bKp${n}a`, []), `z9hG4bKp${n}a`);
  if (!challenge || !/nonce="/.test(challenge)) return;
  const authz = credentials({ user, password, realm: domain, method: 'REGISTER', uri: `sip:${domain}`, challenge, cnonce: 'probe' });
  await exchange('register', register(user, callId, 2, `z9hG4bKp${n}b`, [authz]), `z9hG4bKp${n}b`);
}

// paced by the clock, not by the answers: a slow server does not slow the offered load down
const interval = 1000 / Number(rate);
const end = Date.now() + Number(seconds) * 1000;
const started = [];
for (let next = Date.now(); next < end; next += interval) {
  const wait = next - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  started.push(registration());
}
await Promise.all(started);
client.close();
const summary = ({ rtts, sent, lost, statuses }) => {
  rtts.sort((a, b) => a - b);
  const at = (p) => (rtts.length === 0 ? NaN : rtts[Math.min(rtts.length - 1, Math.floor((p / 100) * rtts.length))]);
  return { sent, answered: rtts.length, lost, statuses, p50: at(50), p99: at(99), max: rtts[rtts.length - 1] ?? NaN };
};
console.log(JSON.stringify({ challenge: summary(kinds.challenge), register: summary(kinds.register) }));
