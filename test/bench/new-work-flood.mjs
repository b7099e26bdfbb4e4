#!/usr/bin/env node
// A flood of new work for `npm run bench`: MESSAGEs without credentials, each with its own Call-ID
// and branch, at a fixed rate over UDP from one socket, never retransmitted. It measures what the
// server does with the first half of a call (challenge it 407, or refuse it 503 while shedding),
// not whole calls: run.mjs reads the server's CPU over the flood and divides it between the two.
// It runs as its own process, pinned to the load core by run.mjs.
//
//   node test/bench/new-work-flood.mjs <port> <domain> <rate per second> <seconds>
//
// Prints one JSON line: { sent, answers: { <status>: count }, unanswered }, after waiting a second
// past the last send for late answers.
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';

const [port, domain, rate, seconds] = process.argv.slice(2);
const total = Number(rate) * Number(seconds);
const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 << 20, sendBufferSize: 8 << 20 });
await new Promise((r) => sock.bind(0, '127.0.0.1', r));
const local = sock.address().port;
const tag = process.pid.toString(36);

// the first request of the bench's SIPp scenario (bench-message.xml), as SIPp writes it
const message = (n) =>
  Buffer.from(
    [
      `MESSAGE sip:uas@${domain} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK-${tag}-${n};rport`,
      `From: <sip:uac@${domain}>;tag=${tag}SIPpTag00${n}`,
      `To: <sip:uas@${domain}>`,
      `Call-ID: ${n}-${tag}@127.0.0.1`,
      'CSeq: 1 MESSAGE',
      'Max-Forwards: 70',
      'Content-Type: text/plain',
      'Content-Length: 17',
      '',
      'benchmark message',
    ].join('\r\n'),
  );

const answers = {};
let answered = 0;
sock.on('message', (m) => {
  // "SIP/2.0 503 ...": the status is bytes 8–10
  const status = m.toString('latin1', 8, 11);
  answers[status] = (answers[status] ?? 0) + 1;
  answered++;
});

// sent in small batches against the clock, so the offered rate holds whatever the timers' grain
const start = performance.now();
let sent = 0;
await new Promise((resolve) => {
  const tick = () => {
    const due = Math.min(total, Math.floor(((performance.now() - start) * Number(rate)) / 1000));
    while (sent < due) sock.send(message(sent++), Number(port), '127.0.0.1');
    if (sent >= total) resolve();
    else setTimeout(tick, 1);
  };
  tick();
});
await new Promise((r) => setTimeout(r, 1000));
sock.close();
console.log(JSON.stringify({ sent, seconds: (performance.now() - start) / 1000 - 1, answers, unanswered: sent - answered }));
