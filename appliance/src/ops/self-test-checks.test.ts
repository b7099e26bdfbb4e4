import { describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import { ConfigSchema } from '../config/config.js';
import { checkDns } from './self-test-checks.js';

const config = (domain: string) => ConfigSchema.parse({ domain });

describe('checkDns', () => {
  it('skips names no public DNS holds', async () => {
    expect(await checkDns(config('parley.test'))).toMatchObject({ status: 'skip', detail: 'parley.test is not a public DNS name' });
    expect((await checkDns(config('192.0.2.1'))).status).toBe('skip');
  });

  it('skips, not fails, when the DNS server does not answer', async () => {
    // a UDP socket that swallows queries: the resolver times out (ETIMEOUT)
    const sink = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => sink.bind(0, '127.0.0.1', () => resolve()));
    try {
      const r = await checkDns(config('example.com'), [`127.0.0.1:${sink.address().port}`]);
      expect(r.status).toBe('skip');
      expect(r.detail).toMatch(/DNS cannot be reached from here \(ETIMEOUT\)/);
    } finally {
      sink.close();
    }
  });
});
