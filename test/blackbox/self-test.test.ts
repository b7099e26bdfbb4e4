import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { generate } from 'selfsigned';
import { startAppliance, ROOT, type RunningAppliance } from '../support/appliance.js';

const CLI = path.join(ROOT, 'appliance/dist/cli.js');
let app: RunningAppliance;
const work = mkdtempSync(path.join(os.tmpdir(), 'parley-selftest-'));

beforeAll(async () => {
  app = await startAppliance({ users: { alice: 'alice-pw' } });
});
afterAll(async () => {
  await app?.cleanup();
  rmSync(work, { recursive: true, force: true });
});

/** The config that describes the running test appliance, with fixed ports, plus `extra`. */
function configOf(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const base = {
    domain: app.domain,
    dataDir: app.dataDir,
    sip: { bind: '127.0.0.1', port: app.sipPort, tlsPort: app.tlsPort, wsPort: app.wsPort, wssPort: app.wssPort },
    http: { port: app.httpPort },
    metrics: { port: app.metricsPort },
  };
  return { ...base, ...extra, sip: { ...base.sip, ...((extra.sip as object) ?? {}) } };
}

/** `parley self-test -c FILE` with no PARLEY_* overrides: its exit status and lines. */
function selfTest(config: Record<string, unknown> | string): Promise<{ code: number; lines: string[] }> {
  const file = path.join(work, `config-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, typeof config === 'string' ? config : stringify(config));
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PARLEY_')));
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, '--config', file, 'self-test'], { env, timeout: 60_000 }, (err, stdout) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, lines: stdout.trim().split('\n') }),
    );
  });
}

const line = (lines: string[], name: string): string => lines.find((l) => l.slice(5).startsWith(`${name} `)) ?? `(no ${name} line)`;

describe('parley self-test (A4)', () => {
  it('passes against the running appliance: one line per check, exit 0', async () => {
    const { code, lines } = await selfTest(configOf());
    expect(code, lines.join('\n')).toBe(0);
    expect(line(lines, 'config')).toMatch(/^OK {3}config/);
    expect(line(lines, 'store')).toMatch(/^OK {3}store .*intact.*1 users/);
    expect(line(lines, 'ports')).toMatch(/^OK {3}ports .*listening: SIP TCP/);
    expect(line(lines, 'tls')).toMatch(/^WARN tls .*self-signed/);
    expect(line(lines, 'dns')).toMatch(/^SKIP dns .*parley\.test is not a public DNS name/);
    expect(line(lines, 'sip')).toMatch(/^OK {3}sip .*OPTIONS .*200 OK/);
    expect(line(lines, 'message')).toMatch(/^OK {3}message .*200 OK, delivered/);
    expect(line(lines, 'xcap')).toMatch(/^OK {3}xcap .*GET .*: 404/);
    expect(line(lines, 'websocket')).toMatch(/^OK {3}websocket .*sub-protocol "sip"/);
    // the throwaway users are gone again
    expect(await app.cli('user', 'list')).not.toMatch(/selftest/);
  });

  it('names an invalid config and stops there, exit 1', async () => {
    const { code, lines } = await selfTest('domain: x\nsip: { port: "five" }\nbogus: 1\n');
    expect(code).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^FAIL config .*sip\.port.*bogus|^FAIL config .*bogus.*sip\.port/);
  });

  it('names each broken check: an expired certificate for another name, a data folder open to others, a port nobody answers on', async () => {
    const pems = await generate([{ name: 'commonName', value: 'other.example' }], { keySize: 2048, notBeforeDate: new Date(Date.now() - 400 * 86_400_000), notAfterDate: new Date(Date.now() - 86_400_000) });
    const cert = path.join(work, 'expired.crt');
    const key = path.join(work, 'expired.key');
    writeFileSync(cert, pems.cert);
    writeFileSync(key, pems.private, { mode: 0o600 });
    const openFolder = mkdtempSync(path.join(os.tmpdir(), 'parley-open-'));
    chmodSync(openFolder, 0o755);
    try {
      const silent = await new Promise<number>((resolve) => {
        // a UDP port with nobody behind it: the live round trip must say so
        import('node:dgram').then(({ default: dgram }) => {
          const s = dgram.createSocket('udp4');
          s.bind(0, '127.0.0.1', () => {
            const p = s.address().port;
            s.close(() => resolve(p));
          });
        });
      });
      const first = await selfTest(configOf({ dataDir: openFolder, sip: { tls: { cert, key } } }));
      expect(first.code).toBe(1);
      expect(line(first.lines, 'store')).toMatch(/^FAIL store .*chmod 700/);
      expect(line(first.lines, 'tls')).toMatch(/^FAIL tls .*expired on .*renew it.*names neither parley\.test/);
      expect(line(first.lines, 'sip')).toMatch(/^SKIP sip .*needs a usable store/);

      const second = await selfTest(configOf({ sip: { port: silent } }));
      expect(second.code).toBe(1);
      expect(line(second.lines, 'ports')).toMatch(/^FAIL ports .*nothing on SIP TCP \d+: is another parley running/);
      expect(line(second.lines, 'sip')).toMatch(/^FAIL sip .*OPTIONS to 127\.0\.0\.1:\d+ over UDP: no answer.*is parley running/);
    } finally {
      rmSync(openFolder, { recursive: true, force: true });
    }
  });
});
