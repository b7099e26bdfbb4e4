#!/usr/bin/env node
// IM clients for the overload steps, as many as a rate asks for, on one core: each call is a
// MESSAGE, its 407, the MESSAGE with digest credentials and the final response, as
// bench-message.xml has SIPp do, and a 503 ends the call as an IM client ends it (`im` in run.mjs).
// Why not SIPp: at 3× the fast state's sustained rate (~47,000 calls/s offered, 34,000 503s a
// second back) SIPp's one core is full before the server's is, and it drops our answers in its
// receive buffer (session 28). This client reads and sends in batches on the appliance's own
// native socket (appliance/native/udp-gate, unconfigured: it passes every datagram on) and does
// what a client must: Timer E's retransmissions (T1 doubling to T2; within an allowance, see
// RETRANSMIT_SHARE) and Timer F's 64·T1 timeout for each request (RFC 3261 §17.1.2.2), digest
// with qop=auth (RFC 2617 §3.2.2; the first challenge, as SIPp answers).
//
// With UAS_PORT it is the called device too: a second native socket there answers each MESSAGE
// relayed to it 200 OK, as test/scenarios/message-uas.xml has SIPp do, so that the one load core
// runs one process (session 29: the UAC alone was 55–67% busy at 47,000/s, and the SIPp UAS beside
// it took the core to 73–92%; a step whose generator is at its core's edge loses our answers in
// its buffer and measures the generator).
//
// What keeps it light: answers are read as bytes (the status, the Call-ID's call number and the
// CSeq number), a string made only of a 407 (its challenge); calls live in arrays indexed by
// their number, not in a Map of Call-ID strings; the timer queues hold numbers.
//
//   node test/bench/im-client.mjs SERVER_PORT LOCAL_PORT DOMAIN USER PASSWORD TO RATE SECONDS [UAS_PORT]
//
// prints one JSON line when every call has ended: calls offered, completed (2xx), refused (503;
// `refusedWithCredentials`: of those, the ones refused after their challenge, a 407 wasted),
// failed (another final response, or Timer F), retransmissions (`retransmissionsHeld`: of those,
// the ones held past a tick by the allowance), completed per second since the start, completed within the
// offered window, the p50/p99 of the time from the request with credentials to its final response
// (what SIPp's rtd 1 measures) in ms, the MESSAGEs the UAS answered, this process's CPU per
// second (% of a core), and per 100 ms over the first 6 s: calls completed and refused,
// retransmissions, and the longest gap between two ticks (ms). Before the first call it plays
// calls through without sending them (see warm), then prints `offering`.
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const [serverPort, localPort, domain, user, password, to, rateArg, secondsArg, uasPortArg] = process.argv.slice(2);
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const total = Math.round(rate * seconds);
const T1 = 500;
const T2 = 4000;
/** calls played through before the step (see warm) */
const WARM_CALLS = 20000;
const SERVER = '127.0.0.1';

const binary = fileURLToPath(new URL('../../appliance/dist/native/udp_gate.node', import.meta.url));
const gate = createRequire(import.meta.url)(binary);
const opened = gate.open('127.0.0.1', Number(localPort), 8 << 20, 8 << 20);
const md5 = (s) => createHash('md5').update(s).digest('hex');
const uri = `sip:${to}@${domain}`;
const ha2 = md5(`MESSAGE:${uri}`);
const ha1ByRealm = new Map();
const body = 'benchmark message';
const callIdTail = `-${process.pid}@127.0.0.1`;

// calls by number: phase (1, 2; 0 ended), this phase's request first sent at (ms), its bytes, its
// retransmission interval (ms), the request with credentials sent at (ms)
const phase = new Uint8Array(total);
const firstSent = new Float64Array(total);
const bytes = new Array(total);
const interval = new Float64Array(total);
const credentialsSentAt = new Float64Array(total);
/** retransmission queues, one per interval, each in due order from `head` on: call numbers, phases, due times */
const timers = [];
const stats = { offered: 0, ok: 0, refused: 0, refusedWithCredentials: 0, failed: 0, retransmissions: 0, retransmissionsHeld: 0, okInWindow: 0, uasAnswered: 0, perSecond: [] };
const rtts = [];
/** calls completed and refused per 100 ms from the start, over the first 6 s (how a flood's onset goes) */
const okPerTenth = new Array(60).fill(0);
const refusedPerTenth = new Array(60).fill(0);
/** retransmissions sent, and the longest gap between two ticks (ms), per 100 ms over the first 6 s */
const retransmittedPerTenth = new Array(60).fill(0);
const tickGapPerTenth = new Array(60).fill(0);
let ended = 0;

/** Datagrams sent in batches: each socket's queue goes out at the end of the batch or tick that filled it. */
function outbox(socket) {
  let data = [];
  let addresses = [];
  let ports = [];
  return {
    send(buf, address, port) {
      data.push(buf);
      addresses.push(address);
      ports.push(port);
    },
    flush() {
      if (data.length === 0) return;
      gate.sendMany(socket, data, addresses, ports, data.length);
      data = [];
      addresses = [];
      ports = [];
    },
  };
}
const uacOut = outbox(opened.socket);

function request(n, ph, auth) {
  return Buffer.from(
    `MESSAGE ${uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${localPort};branch=z9hG4bK-${process.pid}-${n}-${ph};rport\r\n` +
      `From: <sip:${user}@${domain}>;tag=${process.pid}t${n}\r\nTo: <${uri}>\r\nCall-ID: ${n}${callIdTail}\r\nCSeq: ${ph} MESSAGE\r\n${auth}` +
      `Max-Forwards: 70\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    'latin1',
  );
}

/** The next look at call n's request: its retransmission after `after` ms, or Timer F (64·T1 after its first send) if sooner. */
function schedule(n, ph, now, after) {
  const level = Math.min(Math.log2(after / T1), 3);
  const q = (timers[level] ??= { ns: [], phases: [], dues: [], head: 0 });
  q.ns.push(n);
  q.phases.push(ph);
  q.dues.push(Math.min(now + after, firstSent[n] + 64 * T1));
}

function end(n, outcome, now) {
  phase[n] = 0;
  bytes[n] = undefined;
  ended++;
  stats[outcome]++;
  if (outcome === 'ok' || outcome === 'refused') {
    const tenth = Math.floor((now - t0) / 100);
    const counts = outcome === 'ok' ? okPerTenth : refusedPerTenth;
    if (tenth < counts.length) counts[tenth]++;
  }
  if (outcome === 'ok') {
    const second = Math.floor((now - t0) / 1000);
    stats.perSecond[second] = (stats.perSecond[second] ?? 0) + 1;
    if (now - t0 <= seconds * 1000) stats.okInWindow++;
    rtts.push(now - credentialsSentAt[n]);
  }
}

const CALL_ID = Buffer.from('\r\nCall-ID: ');
const CALL_ID_COMPACT = Buffer.from('\r\ni: ');
const CSEQ = Buffer.from('\r\nCSeq: ');

/** The unsigned decimal at data[i..] before `end`, or -1 (no digit). */
function numberAt(data, i, end) {
  let n = 0;
  const from = i;
  for (; i < end; i++) {
    const c = data[i];
    if (c < 48 || c > 57) break;
    n = n * 10 + (c - 48);
  }
  return i === from ? -1 : n;
}

/** The value of line `name` (with its leading CRLF) in data[at, end), or -1: the digits it starts with. */
function numberOf(data, at, end, name) {
  const i = data.indexOf(name, at);
  return i < 0 || i >= end ? -1 : numberAt(data, i + name.length, end);
}

/** A header's value in a response's text (the first line named so), or null. */
function header(text, name) {
  const at = text.indexOf(`\r\n${name}:`);
  if (at < 0) return null;
  const start = at + name.length + 3;
  return text.slice(start, text.indexOf('\r\n', start)).trim();
}

/** a challenge's parameters by name, each pattern made once (one 407 a call reads three) */
const PARAMS = new Map(['realm', 'nonce', 'opaque'].map((name) => [name, new RegExp(`[\\s,]${name}\\s*=\\s*(?:"([^"]*)"|([^\\s,]+))`, 'i')]));

function param(challenge, name) {
  const m = PARAMS.get(name).exec(` ${challenge.slice(challenge.indexOf(' '))}`);
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

/** The 200 OK to a MESSAGE's text, or null (not a MESSAGE, or no To line). */
function okFor(text) {
  if (!text.startsWith('MESSAGE ')) return null;
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd < 0) return null;
  let out = 'SIP/2.0 200 OK\r\n';
  let to = null;
  let callId = '';
  for (let s = text.indexOf('\r\n') + 2; s < headEnd; ) {
    const e = text.indexOf('\r\n', s);
    const line = text.slice(s, e);
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    if (name === 'via' || name === 'v' || name === 'from' || name === 'f' || name === 'cseq') out += `${line}\r\n`;
    else if (name === 'call-id' || name === 'i') {
      out += `${line}\r\n`;
      callId = line.slice(colon + 1).trim();
    } else if (name === 'to' || name === 't') {
      // where the To line stood; its tag, if it has none, comes from the Call-ID: a
      // retransmitted MESSAGE gets the same answer (RFC 3261 §17.2.2)
      to = line;
      out += '\0';
    }
    s = e + 2;
  }
  if (to === null) return null;
  const toLine = to.includes(';tag=') ? to : `${to};tag=u${callId.replace(/[^A-Za-z0-9]/g, '').slice(0, 32)}`;
  return `${out.replace('\0', `${toLine}\r\n`)}Content-Length: 0\r\n\r\n`;
}

/**
 * The calls' code run before the first call, so that a step measures the server and not this
 * process's code being compiled: in a micro-benchmark a call's request, digest and parsing cost
 * ~17 µs each over the first 1,000 played cold and ~2 µs once optimised (session 36), and a flood's first 100 ms are
 * when its clients are busiest (every call challenged until the server starts refusing). Made of
 * what a call does (its requests, a 407 read and answered, the UAS's 200), on numbers past the
 * step's calls and a realm no server gives, so nothing of it is left in the step's state.
 */
function warm(iterations) {
  const challenge = 'Digest realm="warm.invalid", nonce="MTc2NDg1NjAwMDAwMDozOmFiY2RlZjAxMjM0NTY3ODk", opaque="b2f1", qop="auth", algorithm=MD5';
  let sink = 0;
  for (let i = 0; i < iterations; i++) {
    const n = total + i;
    const first = request(n, 1, '');
    const answer = Buffer.from(
      `SIP/2.0 407 Proxy Authentication Required\r\nVia: SIP/2.0/UDP 127.0.0.1:${localPort};branch=z9hG4bK-${process.pid}-${n}-1;rport=${localPort}\r\n` +
        `From: <sip:${user}@${domain}>;tag=${process.pid}t${n}\r\nTo: <${uri}>;tag=w${i}\r\nCall-ID: ${n}${callIdTail}\r\nCSeq: 1 MESSAGE\r\nProxy-Authenticate: ${challenge}\r\nContent-Length: 0\r\n\r\n`,
      'latin1',
    );
    sink += numberOf(answer, 0, answer.length, CALL_ID) + numberOf(answer, 0, answer.length, CSEQ);
    const second = request(n, 2, credentials(header(answer.toString('latin1', 0, answer.length), 'Proxy-Authenticate'), n));
    sink += second.length + (okFor(first.toString('latin1'))?.length ?? 0);
  }
  ha1ByRealm.delete('warm.invalid');
  return sink;
}

warm(WARM_CALLS);
// the step starts now: run.mjs reads its window from this line
process.stdout.write('offering\n');
const t0 = performance.now();

const meta = new Int32Array(gate.META * gate.BATCH);
gate.start(opened.socket, meta, (data, count) => {
  const now = performance.now();
  for (let i = 0; i < count; i++) {
    const at = meta[gate.META * i];
    const stop = at + meta[gate.META * i + 1];
    // 'SIP/2.0 ' and a status
    if (stop - at < 12 || data[at] !== 83 || data[at + 3] !== 47 || data[at + 7] !== 32) continue;
    const status = (data[at + 8] - 48) * 100 + (data[at + 9] - 48) * 10 + (data[at + 10] - 48);
    if (status < 200) continue;
    // the Call-ID as we wrote it, or in its compact form (a server may write either)
    let n = numberOf(data, at, stop, CALL_ID);
    if (n < 0) n = numberOf(data, at, stop, CALL_ID_COMPACT);
    // a retransmitted answer of an ended call, or one not ours
    if (n < 0 || n >= stats.offered || phase[n] === 0) continue;
    const cseq = numberOf(data, at, stop, CSEQ);
    if (cseq !== phase[n]) continue; // the answer of the phase before, retransmitted
    if (status === 407 && cseq === 1) {
      const challenge = header(data.toString('latin1', at, stop), 'Proxy-Authenticate');
      if (challenge === null) {
        end(n, 'failed', now);
        continue;
      }
      phase[n] = 2;
      firstSent[n] = now; // a new transaction: Timer F from its first send
      bytes[n] = request(n, 2, credentials(challenge, n));
      interval[n] = T1;
      credentialsSentAt[n] = now;
      uacOut.send(bytes[n], SERVER, Number(serverPort));
      schedule(n, 2, now, T1);
    } else if (status >= 200 && status < 300 && cseq === 2) end(n, 'ok', now);
    else if (status === 503) {
      // a 503 to the credentials wastes the challenge the server sent before it
      if (cseq === 2) stats.refusedWithCredentials++;
      end(n, 'refused', now);
    } else end(n, 'failed', now);
  }
  uacOut.flush();
});

// the called device: 200 OK to each MESSAGE, its Via, From, To (with our tag), Call-ID and CSeq
// lines copied (RFC 3261 §8.2.6.2), back where it came from (§18.2.2: the server's sent-by, with rport)
let uas = null;
if (uasPortArg !== undefined) {
  const uasOpened = gate.open('127.0.0.1', Number(uasPortArg), 8 << 20, 8 << 20);
  const uasOut = outbox(uasOpened.socket);
  const uasMeta = new Int32Array(gate.META * gate.BATCH);
  gate.start(uasOpened.socket, uasMeta, (data, count, addresses) => {
    for (let i = 0; i < count; i++) {
      const at = uasMeta[gate.META * i];
      const ok = okFor(data.toString('latin1', at, at + uasMeta[gate.META * i + 1]));
      if (ok === null) continue;
      uasOut.send(Buffer.from(ok, 'latin1'), addresses[uasMeta[gate.META * i + 3]], uasMeta[gate.META * i + 2]);
      stats.uasAnswered++;
    }
    uasOut.flush();
  });
  uas = uasOpened;
}

const cpuSeconds = [];
let cpuMark = process.cpuUsage();
let cpuSecond = 0;

/**
 * Retransmissions sent at most per second, as a share of the rate (1,000 a second at least), from
 * an allowance RETRANSMIT_BURST_MS of that deep; those past it wait for a later tick. Why: this one
 * core plays every client's timers, and past its capacity the timers ate the reading. Once a flood's
 * onset had lost answers, each retransmission (~5 µs a send, the loopback's delivery included) and
 * its answer left less time to read, so more answers were lost in the buffer and retransmitted:
 * session 36's collapsed 3× flood sent 807,887 retransmissions (3.3 a call), its ticks up to
 * 464 ms apart, 779,361 answers lost, the server only 0.65 cores busy. Clients on their own cores
 * would each have retransmitted on time; held here is a load generator's limit, and counted
 * (`retransmissionsHeld`: due at an earlier tick, so held by the allowance, since a tick sends
 * everything due that it can; run.mjs flags a step where they pass 1% of its calls). A quarter of
 * the rate still held one run's three floods at 5,800–6,700/s, the generator 98% busy and
 * retransmitting at its allowance throughout; a tenth: 12 floods at 48,300/s over four runs, none
 * collapsed, the two with a bad first second (1,897 and 3,435 completed) at 7,084 and 8,856 in the
 * next (those runs with this process under --cpu-prof, a few percent of its core).
 */
const RETRANSMIT_SHARE = 0.1;
const RETRANSMIT_BURST_MS = 20;
const retransmitRate = Math.max(1000, rate * RETRANSMIT_SHARE);
let retransmitAllowance = 0;
/** the last tick's time (t0 before the first): the allowance was filled up to it, and an entry due by then and still queued was held */
let lastTickAt = t0;

function tick() {
  const now = performance.now();
  const tenth = Math.floor((now - t0) / 100);
  if (tenth < 60) tickGapPerTenth[tenth] = Math.max(tickGapPerTenth[tenth], Math.round(now - lastTickAt));
  if (now - t0 >= (cpuSecond + 1) * 1000) {
    const used = process.cpuUsage(cpuMark);
    cpuSeconds.push(Math.round((used.user + used.system) / 1e4));
    cpuMark = process.cpuUsage();
    cpuSecond++;
  }
  // new calls at the rate, from the start
  const due = Math.min(total, Math.floor(((now - t0) * rate) / 1000));
  for (; stats.offered < due; stats.offered++) {
    const n = stats.offered;
    phase[n] = 1;
    firstSent[n] = now;
    bytes[n] = request(n, 1, '');
    interval[n] = T1;
    uacOut.send(bytes[n], SERVER, Number(serverPort));
    schedule(n, 1, now, T1);
  }
  // Timer E and Timer F (RFC 3261 §17.1.2.2), retransmissions within their allowance (see RETRANSMIT_SHARE)
  retransmitAllowance = Math.min(retransmitAllowance + ((now - lastTickAt) * retransmitRate) / 1000, (RETRANSMIT_BURST_MS * retransmitRate) / 1000);
  for (let level = 0; level < timers.length; level++) {
    const q = timers[level];
    if (q === undefined) continue;
    let k = q.head;
    for (; k < q.dues.length && q.dues[k] <= now; k++) {
      const n = q.ns[k];
      if (phase[n] !== q.phases[k]) continue;
      if (now - firstSent[n] >= 64 * T1) {
        end(n, 'failed', now);
        continue;
      }
      if (retransmitAllowance < 1) break;
      retransmitAllowance--;
      if (q.dues[k] <= lastTickAt) stats.retransmissionsHeld++;
      stats.retransmissions++;
      if (tenth < 60) retransmittedPerTenth[tenth]++;
      uacOut.send(bytes[n], SERVER, Number(serverPort));
      interval[n] = Math.min(2 * interval[n], T2);
      schedule(n, phase[n], now, interval[n]);
    }
    q.head = k;
    // the entries passed are let go of now and then, not at every tick (a copy of what is left)
    if (q.head > 4096 && q.head > q.dues.length / 2) {
      q.ns = q.ns.slice(q.head);
      q.phases = q.phases.slice(q.head);
      q.dues = q.dues.slice(q.head);
      q.head = 0;
    }
  }
  lastTickAt = now;
  uacOut.flush();
  if (stats.offered === total && ended === total) {
    rtts.sort((a, b) => a - b);
    const pct = (p) => (rtts.length === 0 ? NaN : Math.round(rtts[Math.min(rtts.length - 1, Math.floor((p / 100) * rtts.length))]));
    const perSecond = Array.from({ length: stats.perSecond.length }, (_, i) => stats.perSecond[i] ?? 0);
    console.log(JSON.stringify({ ...stats, total, perSecond, okPerTenth, refusedPerTenth, retransmittedPerTenth, tickGapPerTenth, p50: pct(50), p99: pct(99), cpuSeconds, seconds: (performance.now() - t0) / 1000 }));
    gate.close(opened.socket);
    if (uas !== null) gate.close(uas.socket);
    clearInterval(timer);
  }
}
const timer = setInterval(tick, 1);
