import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, ConfigError } from './config.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'parley-config-'));
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('configuration', () => {
  it('works with no file at all, with defaults', () => {
    const c = loadConfig(undefined, {});
    expect(c.domain).toBe('localhost');
    expect(c.sip).toMatchObject({ port: 5060, tlsPort: 5061, wsPort: 5066, wssPort: 7443, forceRport: true });
    expect(c.sip.connections).toEqual({ idleTimeout: 120, messageTimeout: 10, maxPerSource: 100, max: 10_000 });
    expect(c.auth.algorithms).toEqual(['SHA-256', 'MD5']);
    expect(c.deferred.retention).toBe(30 * 86400);
    expect(c.xdms).toEqual({ parsedCacheBytes: 64 * 2 ** 20, editCacheBytes: 32 * 2 ** 20, validationTimeout: 10_000, maxBodyBytes: 2 ** 20 });
  });

  it('reads the xdms section and names its problems', () => {
    const c = loadConfig(file('x.yaml', 'xdms:\n  parsedCacheBytes: 0\n  validationTimeout: 250\n'), {});
    expect(c.xdms).toMatchObject({ parsedCacheBytes: 0, validationTimeout: 250 });
    expect(() => loadConfig(file('y.yaml', 'xdms:\n  validationTimeout: 0\n  cache: 1\n'), {})).toThrow(/xdms\.validationTimeout[\s\S]*cache/);
  });

  it('reads YAML and lets the environment win', () => {
    const p = file('a.yaml', 'domain: file.test\nsip:\n  port: 6000\n');
    const c = loadConfig(p, { PARLEY_DOMAIN: 'env.test', PARLEY_SIP_WS_PORT: '0', PARLEY_DATA_DIR: '/tmp/x' });
    expect(c.domain).toBe('env.test');
    expect(c.sip.port).toBe(6000);
    expect(c.sip.wsPort).toBe(0);
    expect(c.dataDir).toBe('/tmp/x');
  });

  it('takes "auto" for any free port, in the file and in the environment', () => {
    const p = file('c.yaml', 'http:\n  port: auto\n');
    const c = loadConfig(p, { PARLEY_SIP_PORT: 'auto', PARLEY_SIP_WSS_PORT: 'auto' });
    expect(c.http.port).toBe('auto');
    expect(c.sip.port).toBe('auto');
    expect(c.sip.wssPort).toBe('auto');
  });

  it('names every problem at once', () => {
    const p = file('b.yaml', 'sip:\n  port: 70000\n  bogus: 1\nlog:\n  level: loud\n');
    try {
      loadConfig(p, { PARLEY_HTTP_PORT: 'eighty' });
      expect.fail('accepted a bad config');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const m = (e as Error).message;
      expect(m).toContain('PARLEY_HTTP_PORT: not a port number');
      expect(m).toContain('sip.port');
      expect(m).toContain('bogus');
      expect(m).toContain('log.level');
    }
  });

  it('verifies outbound TLS by default; takes a CA file alone; wants cert and key together', () => {
    expect(loadConfig(undefined, {}).sip.tls).toEqual({ verifyPeer: true });
    expect(loadConfig(file('t1.yaml', 'sip:\n  tls: { ca: /etc/parley/ca.pem }\n'), {}).sip.tls).toEqual({ ca: '/etc/parley/ca.pem', verifyPeer: true });
    expect(loadConfig(file('t2.yaml', 'sip:\n  tls: { cert: c.pem, key: k.pem, verifyPeer: false }\n'), {}).sip.tls).toEqual({ cert: 'c.pem', key: 'k.pem', verifyPeer: false });
    expect(() => loadConfig(file('t3.yaml', 'sip:\n  tls: { cert: c.pem }\n'), {})).toThrow(/sip\.tls: cert and key go together/);
    expect(() => loadConfig(file('t4.yaml', 'sip:\n  tls: { key: k.pem, verifyPeer: no }\n'), {})).toThrow(/sip\.tls\.verifyPeer/);
  });
});
