#!/usr/bin/env node
// IM clients for the overload steps, as many as a rate asks for, on one core: each call is a
// MESSAGE, its 407, the MESSAGE with digest credentials and the final response, as
// bench-message.xml has SIPp do, and a 503 ends the call as an IM client ends it (`im` in run.mjs).
// Why not SIPp: at 3× the fast state's sustained rate (~47,000 calls/s offered, 34,000 503s a
// second back) SIPp's one core is full before the server's is, and it drops our answers in its
// receive buffer (session 28). This client reads and sends in batches on the appliance's own
// native socket (appliance/native/udp-gate, unconfigured: it passes every datagram on) and does
// what a client must: Timer E's retransmissions (T1 doubling to T2) and Timer F's 64·T1 timeout
// for each request (RFC 3261 §17.1.2.2), digest with qop=auth (RFC 2617 §3.2.2; the first
// challenge, as SIPp answers).
//
//   node test/bench/im-client.mjs SERVER_PORT LOCAL_PORT DOMAIN USER PASSWORD TO RATE SECONDS
//
// prints one JSON line when every call has ended: calls offered, completed (2xx), refused (503),
// failed (another final response, or Timer F), retransmissions, completed per second since the
// start, completed within the offered window, and the p50/p99 of the time from the request with
// credentials to its final response (what SIPp's rtd 1 measures), in ms.
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const [serverPort, localPort, domain, user, password, to, rateArg, secondsArg] = process.argv.slice(2);
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const total = Math.round(rate * seconds);
const T1 = 500;
const T2 = 4000;
const SERVER = '127.0.0.1';

const binary = fileURLToPath(new URL('../../appliance/dist/native/udp_gate.node', import.meta.url));
const gate = createRequire(import.meta.url)(binary);
const opened = gate.open('127.0.0.1', Number(localPort), 8 << 20, 8 << 20);
const md5 = (s) => createHash('md5').update(s).digest('hex');
const uri = `sip:${to}@${domain}`;
const ha2 = md5(`MESSAGE:${uri}`);
const ha1ByRealm = new Map();
const body = 'benchmark message';

/** calls by Call-ID: [phase (1, 2; 0 ended), this phase's request first sent at (ms), its bytes, (unused), retransmission interval (ms), request with credentials sent at (ms)] */
const calls = new Map();
/** retransmission queues, one per interval, each in due order: entries [Call-ID, phase, due] from `head` on */
const timers = [];
const stats = { offered: 0, ok: 0, refused: 0, failed: 0, retransmissions: 0, okInWindow: 0, perSecond: [] };
const rtts = [];
const t0 = performance.now();
let ended = 0;

let outData = [];
function send(data) {
  outData.push(data);
}
function flush() {
  if (outData.length === 0) return;
  const n = outData.length;
  gate.sendMany(opened.socket, outData, new Array(n).fill(SERVER), new Array(n).fill(Number(serverPort)), n);
  outData = [];
}

function request(n, phase, auth) {
  return Buffer.from(
    `MESSAGE ${uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${localPort};branch=z9hG4bK-${process.pid}-${n}-${phase};rport\r\n` +
      `From: <sip:${user}@${domain}>;tag=${process.pid}t${n}\r\nTo: <${uri}>\r\nCall-ID: ${n}-${process.pid}@127.0.0.1\r\nCSeq: ${phase} MESSAGE\r\n${auth}` +
      `Max-Forwards: 70\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    'latin1',
  );
}

/** The next look at a request: its retransmission after `interval`, or Timer F (64·T1 after its first send) if sooner. */
function schedule(callId, phase, now, interval, firstSent = now) {
  const level = Math.min(Math.log2(interval / T1), 3);
  (timers[level] ??= { items: [], head: 0 }).items.push([callId, phase, Math.min(now + interval, firstSent + 64 * T1)]);
}

function end(callId, call, outcome, now) {
  call[0] = 0;
  calls.delete(callId);
  ended++;
  stats[outcome]++;
  if (outcome === 'ok') {
    const second = Math.floor((now - t0) / 1000);
    stats.perSecond[second] = (stats.perSecond[second] ?? 0) + 1;
    if (now - t0 <= seconds * 1000) stats.okInWindow++;
    rtts.push(now - call[5]);
  }
}

/** A header's value (the first line named so, or its compact form), or null. */
function header(text, name, compact) {
  for (const n of [name, compact]) {
    if (n === null) continue;
    const at = text.indexOf(`\r\n${n}:`);
    if (at < 0) continue;
    const start = at + n.length + 3;
    return text.slice(start, text.indexOf('\r\n', start)).trim();
  }
  return null;
}

function param(challenge, name) {
  const m = new RegExp(`[\\s,]${name}\\s*=\\s*(?:"([^"]*)"|([^\\s,]+))`, 'i').exec(` ${challenge.slice(challenge.indexOf(' '))}`);
  return m === null ? null : (m[1] ?? m[2]);
}

function credentials(challenge, n) {
  const realm = param(challenge, 'realm');
  const nonce = param(challenge, 'nonce');
  const opaque = param(challenge, 'opaque');
  let ha1 = ha1ByRealm.get(realm);
  if (ha1 === undefined) ha1ByRealm.set(realm, (ha1 = md5(`${user}:${realm}:${password}`)));
  const cnonce = `${process.pid.toString(16)}${n.toString(16)}`;
  const response = md5(`${ha1}:${nonce}:00000001:${cnonce}:auth:${ha2}`);
  return `Proxy-Authorization: Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=MD5, cnonce="${cnonce}", qop=auth, nc=00000001${opaque === null ? '' : `, opaque="${opaque}"`}\r\n`;
}

const meta = new Int32Array(gate.META * gate.BATCH);
gate.start(opened.socket, meta, (data, count) => {
  const now = performance.now();
  for (let i = 0; i < count; i++) {
    const at = meta[gate.META * i];
    const text = data.toString('latin1', at, at + meta[gate.META * i + 1]);
    if (!text.startsWith('SIP/2.0 ')) continue;
    const status = Number(text.slice(8, 11));
    if (status < 200) continue;
    const callId = header(text, 'Call-ID', 'i');
    const call = callId === null ? undefined : calls.get(callId);
    if (call === undefined) continue; // a retransmitted answer of an ended call
    const cseq = Number.parseInt(header(text, 'CSeq', null) ?? '', 10);
    if (cseq !== call[0]) continue; // the answer of the phase before, retransmitted
    if (status === 407 && cseq === 1) {
      const challenge = header(text, 'Proxy-Authenticate', null);
      if (challenge === null) {
        end(callId, call, 'failed', now);
        continue;
      }
      const n = Number.parseInt(callId, 10);
      call[0] = 2;
      call[1] = now; // a new transaction: Timer F from its first send
      call[2] = request(n, 2, credentials(challenge, n));
      call[4] = T1;
      call[5] = now;
      send(call[2]);
      schedule(callId, 2, now, T1);
    } else if (status >= 200 && status < 300 && cseq === 2) end(callId, call, 'ok', now);
    else if (status === 503) end(callId, call, 'refused', now);
    else end(callId, call, 'failed', now);
  }
  flush();
});

function tick() {
  const now = performance.now();
  // new calls at the rate, from the start
  const due = Math.min(total, Math.floor(((now - t0) * rate) / 1000));
  for (; stats.offered < due; stats.offered++) {
    const n = stats.offered;
    const callId = `${n}-${process.pid}@127.0.0.1`;
    const data = request(n, 1, '');
    calls.set(callId, [1, now, data, 0, T1, 0]);
    send(data);
    schedule(callId, 1, now, T1);
  }
  // Timer E and Timer F (RFC 3261 §17.1.2.2)
  for (let level = 0; level < timers.length; level++) {
    const q = timers[level];
    if (q === undefined) continue;
    const items = q.items;
    let k = q.head;
    for (; k < items.length && items[k][2] <= now; k++) {
      const [callId, phase] = items[k];
      const call = calls.get(callId);
      if (call === undefined || call[0] !== phase) continue;
      if (now - call[1] >= 64 * T1) {
        end(callId, call, 'failed', now);
        continue;
      }
      stats.retransmissions++;
      send(call[2]);
      call[4] = Math.min(2 * call[4], T2);
      schedule(callId, phase, now, call[4], call[1]);
    }
    q.head = k;
    // the entries passed are let go of now and then, not at every tick (a copy of what is left)
    if (q.head > 4096 && q.head > items.length / 2) {
      q.items = items.slice(q.head);
      q.head = 0;
    }
  }
  flush();
  if (stats.offered === total && ended === total) {
    rtts.sort((a, b) => a - b);
    const pct = (p) => (rtts.length === 0 ? NaN : Math.round(rtts[Math.min(rtts.length - 1, Math.floor((p / 100) * rtts.length))]));
    const perSecond = Array.from({ length: stats.perSecond.length }, (_, i) => stats.perSecond[i] ?? 0);
    console.log(JSON.stringify({ ...stats, total, perSecond, p50: pct(50), p99: pct(99), seconds: (performance.now() - t0) / 1000 }));
    gate.close(opened.socket);
    clearInterval(timer);
  }
}
const timer = setInterval(tick, 1);
