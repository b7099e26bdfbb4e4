#!/usr/bin/env node
// What a refusal costs on the native UDP socket alone (appliance/native/udp-gate): the appliance's
// own binary, holding new work for a nanosecond, so that every MESSAGE of new-work-flood.mjs is
// held and answered 503 in the turn that read it (the path of a refusal under a flood: read, held,
// refused past its wait), with nothing else in the process. The refusal part of `npm run bench` runs
// it beside its floods of the whole appliance, whose two costs (407 and 503) cannot be told apart
// reliably there on this socket: a 407 costs less under a flood than at 10,000/s (64 datagrams a
// read), so the split moves with the mix. It runs as its own process, pinned to the server core.
//
//   node test/bench/native-refusal.mjs      prints its port, then on SIGUSR2 one JSON line:
//                                           { refused, cpuUs, passed } since its first refusal
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const binary = fileURLToPath(new URL('../../appliance/dist/native/udp_gate.node', import.meta.url));
const gate = createRequire(import.meta.url)(binary);
const opened = gate.open('127.0.0.1', 0, 8 << 20, 8 << 20);
gate.configure(opened.socket, { tagPrefix: 'r.bench', refusalLines: 'Retry-After: 5\r\nServer: Parley-bench\r\n', dialogLines: 'Server: Parley-bench\r\n', dialogAfterMs: 32_000, rememberMs: 32_000 });
const meta = new Int32Array(gate.META * gate.BATCH);
let passed = 0;
gate.start(opened.socket, meta, (data, count) => (passed += count));
// what it read has always waited longer than this by the time held work may start (judging the batch takes that)
gate.defer(opened.socket, 1e-6, 4);
const counts = new Float64Array(6);
let since = null;
let refused = 0;
// counted from the first refusal, so that the wait before the flood costs nothing
setInterval(() => {
  gate.drain(opened.socket, counts);
  if (since !== null) refused += counts[2];
  else if (counts[2] > 0) since = process.cpuUsage();
}, 50);
process.on('SIGUSR2', () => {
  gate.drain(opened.socket, counts);
  refused += counts[2];
  const cpu = since === null ? { user: 0, system: 0 } : process.cpuUsage(since);
  console.log(JSON.stringify({ refused, cpuUs: cpu.user + cpu.system, passed }));
  process.exit(0);
});
console.log(opened.port);
