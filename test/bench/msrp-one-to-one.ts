// The one-to-one part of `npm run bench` (run by run.mjs through tsx): messages/s through the
// IM server's MSRP switch between two legs, with sender-to-receiver latency, and the server's
// heap per live session. Prints figures on the last line as `RESULT {json}`; asserts nothing.
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { startAppliance } from '../support/appliance.js';
import { ChatClient, type Call } from '../support/msrp-client.js';
import { cpuSeconds } from './process-cpu.js';

const MESSAGES = Number(process.env.BENCH_MSRP_MESSAGES ?? 20_000);
const WINDOW = 64;
const SESSIONS = Number(process.env.BENCH_MSRP_SESSIONS ?? 200);

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** Live V8 heap of the appliance after a full collection (its /health collects when started with --expose-gc). */
async function heapMiB(): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${app.httpPort}/health?gc=1`);
  return ((await res.json()) as { memory: { heapUsedMiB: number } }).memory.heapUsedMiB;
}

// the appliance inherits this, so that /health?gc=1 can collect before it reports memory
process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --expose-gc`.trim();
const app = await startAppliance({ users: { alice: 'alice-pw', bob: 'bob-pw' } });
// the appliance on core 0, the two clients (this process) on core 1, like the room part (BENCH_NO_PIN=1: unpinned)
const PIN = process.env.BENCH_NO_PIN !== '1' && os.cpus().length >= 2;
if (PIN) {
  execFileSync('taskset', ['-a', '-pc', '0', String(app.pid)]);
  execFileSync('taskset', ['-a', '-pc', '1', String(process.pid)]);
}
const clients: ChatClient[] = [];
try {
  const alice = await ChatClient.connect(app, 'alice', 'alice-pw');
  const bob = await ChatClient.connect(app, 'bob', 'bob-pw');
  clients.push(alice, bob);
  const [aCall, bCall] = await Promise.all([alice.invite('bob'), bob.answerInvite()]);

  // 1 KiB messages, at most WINDOW unanswered at once (each SEND waits for its 200)
  const latencies: number[] = [];
  let received = 0;
  const allIn = new Promise<void>((resolve) => {
    bCall.session.onMessage = (m) => {
      latencies.push(performance.now() - Number(m.body.subarray(0, 20).toString().trim()));
      if (++received === MESSAGES) resolve();
    };
  });
  const pad = Buffer.alloc(1024 - 20, 'x');
  const serverCpu0 = cpuSeconds(app.pid);
  const started = performance.now();
  let sent = 0;
  const sender = async (): Promise<void> => {
    while (sent < MESSAGES) {
      sent++;
      await aCall.session.send('text/plain', Buffer.concat([Buffer.from(performance.now().toFixed(3).padStart(20)), pad]));
    }
  };
  await Promise.all(Array.from({ length: WINDOW }, sender));
  await allIn;
  const seconds = (performance.now() - started) / 1000;
  const serverCpu = cpuSeconds(app.pid) - serverCpu0;
  latencies.sort((a, b) => a - b);
  await Promise.all([alice.bye(aCall), bob.awaitBye(bCall)]);

  // heap per live session: SESSIONS sessions opened at once, measured against none
  const before = await heapMiB();
  const calls: [Call, Call][] = [];
  for (let i = 0; i < SESSIONS; i += 20) {
    const batch = Math.min(20, SESSIONS - i);
    const pairs = await Promise.all(Array.from({ length: batch }, () => Promise.all([alice.invite('bob'), bob.answerInvite()])));
    calls.push(...pairs);
  }
  const after = await heapMiB();
  const result = {
    messages: MESSAGES,
    perSecond: MESSAGES / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    /** the appliance's user+system CPU per 1,000 messages switched */
    serverCpuSecondsPer1000: (serverCpu * 1000) / MESSAGES,
    pinned: PIN,
    sessions: SESSIONS,
    heapPerSessionKiB: ((after - before) * 1024) / SESSIONS,
  };
  console.log(`one-to-one through the switch: ${result.perSecond.toFixed(0)} messages/s (1 KiB, ${WINDOW} in flight), p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms; ${result.serverCpuSecondsPer1000.toFixed(3)} s of the appliance's CPU per 1,000${PIN ? ' (appliance on core 0, clients on core 1)' : ''}`);
  console.log(`memory: ${result.heapPerSessionKiB.toFixed(1)} KiB of V8 heap per live one-to-one session (${SESSIONS} sessions, after GC)`);
  console.log(`RESULT ${JSON.stringify(result)}`);
} finally {
  for (const c of clients) c.close();
  await app.cleanup();
}
