import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, type RunningAppliance } from '../support/appliance.js';
import { xcapRequest } from '../support/xcap-client.js';

/** The XDMS under memory and time limits (`xdms.*` in the configuration). */
const RL = 'urn:ietf:params:xml:ns:resource-lists';
const MIME = 'application/resource-lists+xml';
const docPath = (name: string) => `resource-lists/users/sip:alice@parley.test/${name}`;
const entryPath = (name: string, i: number) => `${docPath(name)}/~~/resource-lists/list%5B1%5D/entry%5B${i}%5D/@uri`;
const list = (entries: number, tag: string) =>
  `<?xml version="1.0"?><resource-lists xmlns="${RL}"><list name="${tag}">${Array.from({ length: entries }, (_, i) => `<entry uri="sip:u${i}-${tag}@parley.test"/>`).join('')}</list></resource-lists>`;

interface CacheStats {
  entries: number;
  bytes: number;
  maxBytes: number;
}

async function cacheStats(app: RunningAppliance): Promise<CacheStats> {
  const res = await fetch(`http://127.0.0.1:${app.httpPort}/health`);
  return ((await res.json()) as { xdms: { parsedCache: CacheStats } }).xdms.parsedCache;
}

describe('parsed-document cache: bounded by bytes, LRU, dropped on change', () => {
  let app: RunningAppliance;
  const budget = 8 * 2 ** 20;
  beforeAll(async () => {
    app = await startAppliance({ users: { alice: 'alice-pw' }, config: { xdms: { parsedCacheBytes: budget } } });
  });
  afterAll(async () => {
    await app?.cleanup();
  });

  it('keeps its accounted size within the configured budget however many documents are read', async () => {
    expect(await cacheStats(app)).toEqual({ entries: 0, bytes: 0, maxBytes: budget });
    // eight documents of ~45 KB each: together well over what an 8 MiB budget holds once parsed
    for (let d = 1; d <= 8; d++) {
      expect((await xcapRequest(app, 'PUT', docPath(`doc${d}`), { body: list(1200, `d${d}`), headers: { 'Content-Type': MIME } })).status).toBe(201);
      const got = await xcapRequest(app, 'GET', entryPath(`doc${d}`, 7));
      expect(await got.text()).toBe(`sip:u6-d${d}@parley.test`);
    }
    const stats = await cacheStats(app);
    expect(stats.bytes).toBeGreaterThan(0);
    expect(stats.bytes).toBeLessThanOrEqual(budget);
    expect(stats.entries).toBeGreaterThan(0);
    expect(stats.entries).toBeLessThan(8);
  });

  it('serves repeated reads from the cache, and the most recently used document stays', async () => {
    const before = await cacheStats(app);
    expect(await (await xcapRequest(app, 'GET', entryPath('doc8', 9))).text()).toBe('sip:u8-d8@parley.test');
    expect(await cacheStats(app)).toEqual(before);
  });

  it('does not cache a document larger than a fraction of the budget', async () => {
    expect((await xcapRequest(app, 'PUT', docPath('huge'), { body: list(4000, 'huge'), headers: { 'Content-Type': MIME } })).status).toBe(201);
    const before = await cacheStats(app);
    expect(await (await xcapRequest(app, 'GET', entryPath('huge', 3000))).text()).toBe('sip:u2999-huge@parley.test');
    expect(await cacheStats(app)).toEqual(before);
  });

  it('drops the entry of a document that changes', async () => {
    const before = await cacheStats(app);
    expect((await xcapRequest(app, 'PUT', docPath('doc8'), { body: list(10, 'new'), headers: { 'Content-Type': MIME } })).status).toBe(200);
    const after = await cacheStats(app);
    expect(after.entries).toBe(before.entries - 1);
    expect(after.bytes).toBeLessThan(before.bytes);
    expect(await (await xcapRequest(app, 'GET', entryPath('doc8', 2))).text()).toBe('sip:u1-new@parley.test');
  });
});

describe('schema validation that times out', () => {
  let app: RunningAppliance;
  beforeAll(async () => {
    // 1 ms: every validation times out, as a pathological document would
    app = await startAppliance({ users: { alice: 'alice-pw' }, config: { xdms: { validationTimeout: 1 } } });
  });
  afterAll(async () => {
    await app?.cleanup();
  });

  it('answers 503 with Retry-After, and the next PUT to the same document settles too', async () => {
    const first = await xcapRequest(app, 'PUT', docPath('index'), { body: list(3, 'a'), headers: { 'Content-Type': MIME } });
    expect(first.status).toBe(503);
    expect(Number(first.headers.get('retry-after'))).toBeGreaterThan(0);
    // the per-document mutex was released: this one is answered, not queued forever
    const second = await xcapRequest(app, 'PUT', docPath('index'), { body: list(2, 'b'), headers: { 'Content-Type': MIME } });
    expect(second.status).toBe(503);
  });

  it('still answers reads', async () => {
    expect((await xcapRequest(app, 'GET', docPath('index'))).status).toBe(404);
    expect((await xcapRequest(app, 'GET', 'xcap-caps/global/index')).status).toBe(200);
  });

  it('logs the timeouts as warnings, not as internal errors', () => {
    expect(app.logs.some((l) => l.includes('"level":40') && l.includes('timed out'))).toBe(true);
    expect(app.logs.filter((l) => /"level":(50|60)/.test(l))).toEqual([]);
  });
});
