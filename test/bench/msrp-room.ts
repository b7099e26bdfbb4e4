// The room part of `npm run bench` (run by run.mjs through tsx): a pre-defined room of
// PARTICIPANTS members on loopback, SENDERS of them sending 1 KiB messages. Two phases:
//  1. saturation: every sender sends as fast as the focus takes its SENDs (WINDOW unanswered
//     each; the focus answers a SEND on receipt, so this does not wait for the fan-out):
//     deliveries per second across all legs, and the CPU the appliance spent per 1,000;
//  2. paced: the senders together offer PACED_RATE deliveries/s (each message goes to
//     PARTICIPANTS - 1 legs) for PACED_SECONDS: sender-to-last-receiver latency at that load.
// Latency in phase 1 is the backlog the senders built up (queueing, by Little's law), printed
// for completeness; phase 2's is the one that says how long a message takes to reach a room.
// Then the server's heap per participant. Prints figures on the last line as `RESULT {json}`;
// asserts nothing. The appliance runs on core 0 and this process (the 100 clients) on core 1,
// as the other parts of the bench pin server and load (BENCH_NO_PIN=1: unpinned).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAppliance } from '../support/appliance.js';
import { ChatClient, type Call } from '../support/msrp-client.js';
import { xcapRequest } from '../support/xcap-client.js';
import { cpuSeconds } from './process-cpu.js';
import { startProfiler } from './inspector-profile.js';

const PARTICIPANTS = Number(process.env.BENCH_ROOM_PARTICIPANTS ?? 100);
const SENDERS = Number(process.env.BENCH_ROOM_SENDERS ?? 10);
const PER_SENDER = Number(process.env.BENCH_ROOM_MESSAGES ?? 200);
const PACED_RATE = Number(process.env.BENCH_ROOM_PACED_RATE ?? 10_000);
const PACED_SECONDS = Number(process.env.BENCH_ROOM_PACED_SECONDS ?? 5);
/** unanswered SENDs per sender */
const WINDOW = 4;
const D = 'parley.test';
const PIN = process.env.BENCH_NO_PIN !== '1' && os.cpus().length >= 2;

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function heapMiB(): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${app.httpPort}/health?gc=1`);
  return ((await res.json()) as { memory: { heapUsedMiB: number } }).memory.heapUsedMiB;
}

// BENCH_PROFILE=FILE: a V8 CPU profile of the appliance over the saturation phase, taken through
// its inspector (Node 20 refuses --cpu-prof in NODE_OPTIONS); open it in Chrome DevTools
const profileFile = process.env.BENCH_PROFILE;
process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --expose-gc${profileFile ? ' --inspect=127.0.0.1:0' : ''}`.trim();
const names = Array.from({ length: PARTICIPANTS }, (_, i) => `u${i}`);
// a queue per leg large enough for the burst: the bench measures throughput, not the drop
const app = await startAppliance({ config: { conference: { maxQueuePerLeg: 100_000 } } });
// the users in one `parley user import` while the appliance is stopped: a `user add` each is a
// node start each, minutes on a busy machine
await app.stop();
const csv = path.join(app.dataDir, 'bench-users.csv');
writeFileSync(csv, names.map((n) => `${n},${n}-pw`).join('\n'));
await app.cli('user', 'import', csv);
await app.restart();
if (PIN) {
  // every thread of each process (libuv's pool, V8's helpers too)
  execFileSync('taskset', ['-a', '-pc', '0', String(app.pid)]);
  execFileSync('taskset', ['-a', '-pc', '1', String(process.pid)]);
}
const clients: ChatClient[] = [];
try {
  const group = `<?xml version="1.0" encoding="UTF-8"?>
<group xmlns="urn:oma:xml:poc:list-service"><list-service uri="sip:room@${D}"><list/><cp:ruleset xmlns:cp="urn:ietf:params:xml:ns:common-policy"><cp:rule id="parley-join-room"><cp:conditions><cp:identity><cp:many domain="${D}"/></cp:identity></cp:conditions><cp:actions><join-handling>true</join-handling></cp:actions></cp:rule></cp:ruleset></list-service></group>`;
  const put = await xcapRequest(app, 'PUT', `org.openmobilealliance.groups/users/sip:u0@${D}/index`, { user: 'u0', body: group, headers: { 'Content-Type': 'application/vnd.oma.poc.groups+xml' } });
  if (put.status !== 201) throw new Error(`group PUT: ${put.status}`);
  const before = await heapMiB();
  const calls: Call[] = [];
  for (let i = 0; i < PARTICIPANTS; i += 10) {
    const batch = await Promise.all(
      names.slice(i, i + 10).map(async (n) => {
        const c = await ChatClient.connect(app, n, `${n}-pw`, false);
        clients.push(c);
        const call = await c.invite('room');
        if (!call.final.startsWith('SIP/2.0 200')) throw new Error(`join ${n}: ${call.final.split('\r\n')[0]}`);
        return call;
      }),
    );
    calls.push(...batch);
  }
  const after = await heapMiB();

  // every message goes to PARTICIPANTS - 1 legs; its latency is until the last of them has it.
  // A message's id is the first 20 bytes of its text, after the CPIM headers.
  const sentAt = new Map<string, number>();
  const receipts = new Map<string, number>();
  let latencies: number[] = [];
  let delivered = 0;
  let target = Infinity;
  let allIn: () => void = () => undefined;
  for (const call of calls) {
    call.session.onMessage = (m) => {
      m.report(200);
      const at = m.body.lastIndexOf('\r\n\r\n') + 4;
      const id = m.body.toString('latin1', at, at + 20).trim();
      const n = (receipts.get(id) ?? 0) + 1;
      receipts.set(id, n);
      if (n === PARTICIPANTS - 1) {
        latencies.push(performance.now() - sentAt.get(id)!);
        receipts.delete(id);
      }
      if (++delivered === target) allIn();
    };
  }
  const pad = Buffer.alloc(1024 - 20, 'x');
  const message = (id: string): Buffer => Buffer.concat([Buffer.from(id.padEnd(20)), pad]);
  /** Resets the counters for a phase that ends when `messages` messages reached every other leg. */
  const phase = (messages: number): Promise<void> => {
    latencies = [];
    delivered = 0;
    target = messages * (PARTICIPANTS - 1);
    return new Promise((resolve) => (allIn = resolve));
  };
  const latencyOf = (): { p50: number; p99: number } => {
    latencies.sort((a, b) => a - b);
    return { p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
  };

  // 1. saturation
  const total = SENDERS * PER_SENDER;
  const saturationIn = phase(total);
  const profiler = profileFile ? await startProfiler(app) : null;
  const serverCpu0 = cpuSeconds(app.pid);
  const ownCpu0 = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    calls.slice(0, SENDERS).map(async (call, s) => {
      let next = 0;
      const lane = async (): Promise<void> => {
        while (next < PER_SENDER) {
          const id = `s${s}-${next++}`;
          sentAt.set(id, performance.now());
          await call.session.send('text/plain', message(id));
        }
      };
      await Promise.all(Array.from({ length: WINDOW }, lane));
    }),
  );
  await saturationIn;
  const seconds = (performance.now() - started) / 1000;
  const serverCpu = cpuSeconds(app.pid) - serverCpu0;
  const own = process.cpuUsage(ownCpu0);
  if (profiler) {
    mkdirSync(path.dirname(profileFile!), { recursive: true });
    writeFileSync(profileFile!, JSON.stringify(await profiler.stop()));
  }
  const saturated = latencyOf();
  const deliveries = total * (PARTICIPANTS - 1);

  // 2. paced: each sender sends every `interval` ms, on a schedule (a late send does not shift the next)
  const perSenderRate = PACED_RATE / (PARTICIPANTS - 1) / SENDERS;
  const interval = 1000 / perSenderRate;
  const pacedCount = Math.max(1, Math.round(perSenderRate * PACED_SECONDS));
  const pacedIn = phase(pacedCount * SENDERS);
  const pacedStart = performance.now() + 50;
  await Promise.all(
    calls.slice(0, SENDERS).map(async (call, s) => {
      const offset = (interval * s) / SENDERS; // senders spread over the interval
      for (let i = 0; i < pacedCount; i++) {
        const due = pacedStart + offset + i * interval;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const id = `p${s}-${i}`;
        sentAt.set(id, performance.now());
        void call.session.send('text/plain', message(id));
      }
    }),
  );
  await pacedIn;
  const paced = latencyOf();

  const result = {
    participants: PARTICIPANTS,
    senders: SENDERS,
    messages: total,
    deliveriesPerSecond: deliveries / seconds,
    /** latency at saturation: the senders' backlog, not the switch's speed */
    saturatedP50: saturated.p50,
    saturatedP99: saturated.p99,
    /** the appliance's user+system CPU over the saturation phase, per 1,000 deliveries */
    serverCpuSecondsPer1000: (serverCpu * 1000) / deliveries,
    /** the same for this process (the clients) */
    clientCpuSecondsPer1000: ((own.user + own.system) / 1e6 / deliveries) * 1000,
    pacedRate: PACED_RATE,
    p50: paced.p50,
    p99: paced.p99,
    heapPerParticipantKiB: ((after - before) * 1024) / PARTICIPANTS,
    pinned: PIN,
    loadavg: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
  };
  console.log(`room of ${PARTICIPANTS}: ${result.deliveriesPerSecond.toFixed(0)} deliveries/s across all legs at saturation (${SENDERS} senders, ${total} messages of 1 KiB; latency there is the backlog: p50 ${saturated.p50.toFixed(0)} ms, p99 ${saturated.p99.toFixed(0)} ms)`);
  console.log(`cpu: ${result.serverCpuSecondsPer1000.toFixed(4)} s of the appliance's CPU per 1,000 deliveries (the clients: ${result.clientCpuSecondsPer1000.toFixed(4)} s)${PIN ? ', appliance on core 0, clients on core 1' : ', unpinned'}; load average ${result.loadavg}`);
  console.log(`paced at ${PACED_RATE} deliveries/s for ${PACED_SECONDS} s: sender-to-last-receiver p50 ${paced.p50.toFixed(1)} ms, p99 ${paced.p99.toFixed(1)} ms`);
  console.log(`memory: ${result.heapPerParticipantKiB.toFixed(1)} KiB of V8 heap per room participant (after GC)`);
  console.log(`RESULT ${JSON.stringify(result)}`);
} finally {
  for (const c of clients) c.close();
  await app.cleanup();
}
