// The room part of `npm run bench` (run by run.mjs through tsx): a pre-defined room of
// PARTICIPANTS members on loopback, SENDERS of them sending 1 KiB messages; deliveries per second
// across all legs, sender-to-last-receiver latency, and the server's heap per participant.
// Prints figures on the last line as `RESULT {json}`; asserts nothing.
import { readFileSync, writeFileSync } from 'node:fs';
import { startProfiler } from './inspector-profile.js';
import { startAppliance } from '../support/appliance.js';
import { ChatClient, type Call } from '../support/msrp-client.js';
import { xcapRequest } from '../support/xcap-client.js';
import { cpuSeconds } from './process-cpu.js';

const PARTICIPANTS = Number(process.env.BENCH_ROOM_PARTICIPANTS ?? 100);
const SENDERS = Number(process.env.BENCH_ROOM_SENDERS ?? 10);
const PER_SENDER = Number(process.env.BENCH_ROOM_MESSAGES ?? 100);
/** unanswered SENDs per sender */
const WINDOW = 4;
const D = 'parley.test';

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function heapMiB(): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${app.httpPort}/health?gc=1`);
  return ((await res.json()) as { memory: { heapUsedMiB: number } }).memory.heapUsedMiB;
}

// BENCH_PROFILE=FILE: a V8 CPU profile of the appliance over the sending phase, taken through its
// inspector (Node 20 refuses --cpu-prof in NODE_OPTIONS); open it in Chrome DevTools
const profileFile = process.env.BENCH_PROFILE;
process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --expose-gc${profileFile ? ' --inspect=127.0.0.1:0' : ''}`.trim();
const names = Array.from({ length: PARTICIPANTS }, (_, i) => `u${i}`);
// a queue per leg large enough for the burst: the bench measures throughput, not the drop
const app = await startAppliance({ users: Object.fromEntries(names.map((n) => [n, `${n}-pw`])), config: { conference: { maxQueuePerLeg: 100_000 } } });
const clients: ChatClient[] = [];
try {
  const group = `<?xml version="1.0" encoding="UTF-8"?>
<group xmlns="urn:oma:xml:poc:list-service"><list-service uri="sip:room@${D}"><list/><cp:ruleset xmlns:cp="urn:ietf:params:xml:ns:common-policy"><cp:rule id="parley-join-room"><cp:conditions><cp:identity><cp:many domain="${D}"/></cp:identity></cp:conditions><cp:actions><join-handling>true</join-handling></cp:actions></cp:rule></cp:ruleset></list-service></group>`;
  const put = await xcapRequest(app, 'PUT', `org.openmobilealliance.groups/users/sip:u0@${D}/index`, { user: 'u0', body: group, headers: { 'Content-Type': 'application/vnd.oma.poc.groups+xml' } });
  if (put.status !== 201) throw new Error(`group PUT: ${put.status}`);
  const before = await heapMiB();
  const joinStarted = performance.now();
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
  const joinSeconds = (performance.now() - joinStarted) / 1000;
  const after = await heapMiB();

  // every message goes to PARTICIPANTS - 1 legs; its latency is until the last of them has it
  const total = SENDERS * PER_SENDER;
  const expected = total * (PARTICIPANTS - 1);
  const sentAt = new Map<string, number>();
  const receipts = new Map<string, number>();
  const latencies: number[] = [];
  let delivered = 0;
  const allIn = new Promise<void>((resolve) => {
    for (const call of calls) {
      call.session.onMessage = (m) => {
        m.report(200);
        const text = m.body.toString('latin1');
        const id = text.slice(text.lastIndexOf('\r\n\r\n') + 4, text.lastIndexOf('\r\n\r\n') + 24).trim();
        const n = (receipts.get(id) ?? 0) + 1;
        receipts.set(id, n);
        if (n === PARTICIPANTS - 1) latencies.push(performance.now() - sentAt.get(id)!);
        if (++delivered === expected) resolve();
      };
    }
  });
  const pad = Buffer.alloc(1024 - 20, 'x');
  const profiler = profileFile ? await startProfiler(app) : null;
  const serverCpu0 = cpuSeconds(app.pid);
  const ownCpu0 = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    calls.slice(0, SENDERS).map(async (call, s) => {
      let next = 0;
      const lane = async (): Promise<void> => {
        while (next < PER_SENDER) {
          const id = `${s}-${next++}`;
          sentAt.set(id, performance.now());
          await call.session.send('text/plain', Buffer.concat([Buffer.from(id.padEnd(20)), pad]));
        }
      };
      await Promise.all(Array.from({ length: WINDOW }, lane));
    }),
  );
  await allIn;
  const seconds = (performance.now() - started) / 1000;
  const serverCpu = cpuSeconds(app.pid) - serverCpu0;
  if (profiler) writeFileSync(profileFile!, JSON.stringify(await profiler.stop()));
  const own = process.cpuUsage(ownCpu0);
  latencies.sort((a, b) => a - b);
  const result = {
    participants: PARTICIPANTS,
    senders: SENDERS,
    messages: total,
    deliveriesPerSecond: expected / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    heapPerParticipantKiB: ((after - before) * 1024) / PARTICIPANTS,
    /** the appliance's user+system CPU over the sending phase, per 1,000 deliveries */
    serverCpuSecondsPer1000: (serverCpu * 1000) / expected,
    /** the same for this process (the 100 clients), which shares the machine's cores */
    clientCpuSecondsPer1000: ((own.user + own.system) / 1e6 / expected) * 1000,
    joinSeconds,
    loadavg: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
  };
  console.log(`room of ${PARTICIPANTS}: ${result.deliveriesPerSecond.toFixed(0)} deliveries/s across all legs (${SENDERS} senders, ${total} messages of 1 KiB), sender-to-last-receiver p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms`);
  console.log(`cpu: ${result.serverCpuSecondsPer1000.toFixed(3)} s of the appliance's CPU per 1,000 deliveries (the clients: ${result.clientCpuSecondsPer1000.toFixed(3)} s); load average ${result.loadavg}`);
  console.log(`memory: ${result.heapPerParticipantKiB.toFixed(1)} KiB of V8 heap per room participant (after GC)`);
  console.log(`RESULT ${JSON.stringify(result)}`);
} finally {
  for (const c of clients) c.close();
  await app.cleanup();
}
