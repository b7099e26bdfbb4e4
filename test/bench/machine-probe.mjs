#!/usr/bin/env node
// The machine's state for `npm run bench`: how long the kernel takes to carry a datagram over
// loopback (one send and one receive, 400 bytes, in batches of 100 to ourselves), timed on the
// core it is pinned to. On the VMs this bench runs on, that cost moves by half over tens of
// seconds with nothing of ours running (10 and 15 µs, 2026-12-02; a compute loop beside it did
// not move): everything a SIP server does per datagram moves with it, so each step is printed with
// the state it ran in.
//
//   node test/bench/machine-probe.mjs [datagrams]
//
// Prints one JSON line: { usPerDatagram }.
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';

const total = Number(process.argv[2] ?? 20_000);
const BATCH = 100;
const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
await new Promise((r) => sock.bind(0, '127.0.0.1', r));
const port = sock.address().port;
const payload = Buffer.alloc(400, 0x41);
let pending = 0;
let drained = null;
sock.on('message', () => {
  if (--pending === 0) drained();
});
async function carry(n) {
  for (let sent = 0; sent < n; sent += BATCH) {
    pending = BATCH;
    const done = new Promise((r) => (drained = r));
    for (let i = 0; i < BATCH; i++) sock.send(payload, port, '127.0.0.1');
    await done;
  }
}
// the first rounds run unoptimised code: not counted
await carry(5_000);
const t0 = performance.now();
await carry(total);
const usPerDatagram = (1000 * (performance.now() - t0)) / total;
sock.close();
console.log(JSON.stringify({ usPerDatagram }));
