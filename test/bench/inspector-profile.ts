// A V8 CPU profile of a running appliance started with --inspect=127.0.0.1:0, over the
// inspector protocol (Profiler.start / Profiler.stop): the benchmarks profile one phase only,
// and Node 20 does not take --cpu-prof in NODE_OPTIONS.
import { WebSocket } from 'ws';
import type { RunningAppliance } from '../support/appliance.js';

/** Starts profiling the appliance; `stop()` resolves with the profile (the .cpuprofile JSON). */
export async function startProfiler(app: RunningAppliance): Promise<{ stop(): Promise<unknown> }> {
  // the appliance's stderr says where its inspector listens (the CLI runs before it print theirs too)
  const line = [...app.logs].reverse().find((l) => l.includes('Debugger listening on ws://'));
  const url = /ws:\/\/\S+/.exec(line ?? '')?.[0];
  if (url === undefined) throw new Error('the appliance has no inspector (start it with --inspect)');
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let id = 0;
  const waiting = new Map<number, (r: unknown) => void>();
  ws.on('message', (d: Buffer) => {
    const m = JSON.parse(d.toString()) as { id?: number; result?: unknown };
    if (m.id !== undefined) waiting.get(m.id)?.(m.result);
  });
  const call = (method: string, params: Record<string, unknown> = {}): Promise<unknown> =>
    new Promise((resolve) => {
      waiting.set(++id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call('Profiler.enable');
  await call('Profiler.setSamplingInterval', { interval: 200 });
  await call('Profiler.start');
  return {
    async stop() {
      const { profile } = (await call('Profiler.stop')) as { profile: unknown };
      ws.close();
      return profile;
    },
  };
}
