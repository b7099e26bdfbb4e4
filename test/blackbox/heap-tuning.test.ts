import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, type RunningAppliance } from '../support/appliance.js';
import { RawClient, buildRequest } from '../support/raw-client.js';

/**
 * `parley start` turns V8's allocation-site pretenuring off before it serves (appliance/src/
 * heap-tuning.ts): the real process, run with V8 printing its pretenuring statistics, shows them
 * while it loads and none once it serves, under a load that makes an untuned build print more
 * (checked against a build without the call, 2026-12-02: it printed decisions after 2,000 of these
 * 5,000 OPTIONS, a `=> tenure` among them, and this test failed).
 */
describe('the serving process and V8 pretenuring', () => {
  let app: RunningAppliance;
  beforeAll(async () => {
    app = await startAppliance({ nodeFlags: ['--trace-pretenuring-statistics'] });
  });
  afterAll(async () => {
    await app.cleanup();
  });

  it('stops pretenuring once started: no pretenuring statistics after the start line, under load', async () => {
    const started = app.logs.findIndex((l) => l.includes('"parley started"'));
    // the trace is live: V8 printed its statistics while the process loaded
    expect(app.logs.slice(0, started).some((l) => l.includes('pretenuring:'))).toBe(true);
    const c = await RawClient.udp(app.sipPort);
    try {
      for (let round = 0; round < 10; round++) {
        let last = '';
        for (let i = 0; i < 500; i++) {
          last = `heap-tuning-${round}-${i}`;
          c.send(buildRequest({ method: 'OPTIONS', uri: `sip:${app.domain}`, from: `sip:probe@${app.domain}`, to: `sip:${app.domain}`, transport: 'UDP', localPort: c.localPort, callId: last }));
        }
        await c.next((m) => m.includes(`Call-ID: ${last}`));
      }
    } finally {
      c.close();
    }
    expect(app.logs.slice(started).filter((l) => l.includes('pretenuring:'))).toEqual([]);
  });
});

/**
 * V8 sizes its heap when node starts, so the young generation's size comes from node's command
 * line (SERVING_NODE_FLAGS, which every start command gives): `parley start` says so when it runs
 * without it, and serves all the same.
 */
describe('the serving process and node\'s flags', () => {
  it('warns once started when node was not given the serving flags, and not when it was', async () => {
    const warning = (logs: string[]): string[] => logs.filter((l) => l.includes('node was started without'));
    const bare = await startAppliance({ withoutServingFlags: true });
    try {
      // logged just after the start line, which is what startAppliance waits for; bounded
      for (let i = 0; i < 50 && warning(bare.logs).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
      const started = bare.logs.findIndex((l) => l.includes('"parley started"'));
      const warned = warning(bare.logs);
      expect(warned).toHaveLength(1);
      expect(bare.logs.indexOf(warned[0])).toBeGreaterThan(started);
      expect(JSON.parse(warned[0])).toMatchObject({ level: 40, missing: ['--max-semi-space-size=64'] });
      // still serving: an OPTIONS is answered
      const c = await RawClient.udp(bare.sipPort);
      try {
        c.send(buildRequest({ method: 'OPTIONS', uri: `sip:${bare.domain}`, from: `sip:probe@${bare.domain}`, to: `sip:${bare.domain}`, transport: 'UDP', localPort: c.localPort, callId: 'bare-node' }));
        expect(await c.next((m) => m.includes('Call-ID: bare-node'))).toMatch(/^SIP\/2\.0 200 /);
      } finally {
        c.close();
      }
    } finally {
      await bare.cleanup();
    }
    const tuned = await startAppliance();
    try {
      // as long as the bare one took to say it, and then some
      await new Promise((r) => setTimeout(r, 1000));
      expect(warning(tuned.logs)).toEqual([]);
    } finally {
      await tuned.cleanup();
    }
  });
});
