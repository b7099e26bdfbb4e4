import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { tempStore } from '../../../test/support/temp-store.js';
import { pino } from 'pino';
import { LocationService, type Binding } from './location-service.js';

let store: Awaited<ReturnType<typeof tempStore>>;
let ds: DataSource;
let location: LocationService;

beforeAll(async () => {
  store = await tempStore('loc');
  ({ ds } = store);
  location = new LocationService(ds, pino({ level: 'silent' }));
  await location.load();
});
afterAll(async () => {
  location.stop();
  await store.cleanup();
});

const binding = (aor: string, contactUri: string, flowId = 'udp:127.0.0.1:5070', ttlMs = 60_000): Binding => ({
  id: undefined as unknown as number,
  aor,
  contact: `<${contactUri}>`,
  contactUri,
  q: 1,
  expiresAt: Date.now() + ttlMs,
  callId: 'c',
  cseq: 1,
  transport: flowId.startsWith('udp') ? 'UDP' : 'TCP',
  sourceAddress: '127.0.0.1',
  sourcePort: 5070,
  flowId,
  userAgent: null,
  updatedAt: Date.now(),
});

describe('location service', () => {
  it('keeps a new binding when the expiry sweep runs while it is being committed', async () => {
    const sweep = (location as unknown as { sweep(): Promise<void> }).sweep.bind(location);
    const pending = Array.from({ length: 50 }, (_, i) => location.apply(`sip:u${i}@parley.test`, [binding(`sip:u${i}@parley.test`, `sip:u${i}@10.0.0.1`)], []));
    await sweep();
    await Promise.all(pending);
    for (let i = 0; i < 50; i++) expect(location.lookup(`sip:u${i}@parley.test`)).toHaveLength(1);
  });

  it('drops the bindings of a closed flow, in memory and in the store', async () => {
    await location.apply('sip:tcp@parley.test', [binding('sip:tcp@parley.test', 'sip:tcp@10.0.0.2', 'tcp:127.0.0.1:40000')], []);
    expect(location.lookup('sip:tcp@parley.test')).toHaveLength(1);
    await location.flowClosed('tcp:127.0.0.1:40000');
    expect(location.lookup('sip:tcp@parley.test')).toEqual([]);
    expect(await ds.query("SELECT COUNT(*) AS n FROM bindings WHERE flow_id = 'tcp:127.0.0.1:40000'")).toEqual([{ n: 0 }]);
  });

  it('knows in O(1) which flows carry a binding, through refresh, removal, expiry and revocation', async () => {
    const aor = 'sip:flows@parley.test';
    const [f1, f2, f3] = ['tcp:127.0.0.1:41001', 'tcp:127.0.0.1:41002', 'tcp:127.0.0.1:41003'];
    await location.apply(aor, [binding(aor, 'sip:a@10.0.0.9', f1), binding(aor, 'sip:b@10.0.0.9', f1)], []);
    expect(location.usesFlow(f1)).toBe(true);
    // the same contact registered again over another connection moves to that flow
    await location.apply(aor, [binding(aor, 'sip:a@10.0.0.9', f2)], []);
    expect([location.usesFlow(f1), location.usesFlow(f2)]).toEqual([true, true]);
    await location.apply(aor, [], ['sip:b@10.0.0.9']);
    expect([location.usesFlow(f1), location.usesFlow(f2)]).toEqual([false, true]);
    // already expired when applied: the next sweep removes it
    await location.apply(aor, [binding(aor, 'sip:c@10.0.0.9', f3, -1000)], []);
    expect(location.usesFlow(f3)).toBe(true);
    await (location as unknown as { sweep(): Promise<void> }).sweep();
    expect(location.usesFlow(f3)).toBe(false);
    await location.removeAor(aor);
    expect(location.usesFlow(f2)).toBe(false);
  });

  it('does not return expired bindings', async () => {
    await location.apply('sip:old@parley.test', [binding('sip:old@parley.test', 'sip:old@10.0.0.3', 'udp:127.0.0.1:5070', 50)], []);
    await new Promise((r) => setTimeout(r, 80));
    expect(location.lookup('sip:old@parley.test')).toEqual([]);
  });
});
