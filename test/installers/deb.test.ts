import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, eventually, type RunningAppliance } from '../support/appliance.js';
import { xcapRequest } from '../support/xcap-client.js';
import { RawClient, buildRequest } from '../support/raw-client.js';
import { sendMessage } from '../support/sip-user.js';

/**
 * The Debian package end to end, on this machine (CI runs as root, without systemd): build it,
 * `apt install` it, run its ExecStart as the parley user with the unit's environment, upgrade to
 * a second package that carries a new migration, then remove and purge, leaving the machine as
 * it was. Skipped where it cannot run as root with apt, or where a parley package is installed
 * already (a developer's: never touched).
 */
const sh = (cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): string =>
  execFileSync(cmd, args, { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
const has = (cmd: string): boolean => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const installed = (): boolean => {
  try {
    return /install ok installed/.test(sh('dpkg-query', ['-W', '-f=${Status}', 'parley']));
  } catch {
    return false;
  }
};
const canRun = process.getuid?.() === 0 && has('apt-get') && has('dpkg-deb') && !installed() && !existsSync('/var/lib/parley');

/** The unit's Environment= and ExecStart=, read from the packaged unit itself. */
function unitOf(): { env: Record<string, string>; argv: string[] } {
  const unit = readFileSync('/lib/systemd/system/parley.service', 'utf8');
  const env: Record<string, string> = {};
  for (const m of unit.matchAll(/^Environment=(.*)$/gm)) for (const kv of m[1].split(/\s+/)) env[kv.split('=')[0]] = kv.slice(kv.indexOf('=') + 1);
  return { env, argv: /^ExecStart=(.*)$/m.exec(unit)![1].split(/\s+/) };
}

/** services started and not yet stopped, stopped in afterAll whatever happened */
const running = new Set<ChildProcess>();

interface Service {
  child: ChildProcess;
  ports: Record<string, number>;
  logs: string[];
}

/** ExecStart as the unit runs it: user parley, the unit's environment, plus our own ports (every listener "auto": other tests and services on this machine hold the defaults, e.g. MSRP's 2855). */
async function startService(): Promise<Service> {
  const { env, argv } = unitOf();
  const ports = { PARLEY_BIND: '127.0.0.1', PARLEY_SIP_PORT: 'auto', PARLEY_SIP_TLS_PORT: 'auto', PARLEY_SIP_WS_PORT: 'auto', PARLEY_SIP_WSS_PORT: 'auto', PARLEY_HTTP_PORT: 'auto', PARLEY_METRICS_PORT: 'auto', PARLEY_MSRP_PORT: 'auto' };
  const child = spawn('setpriv', ['--reuid=parley', '--regid=parley', '--init-groups', '--', ...argv], {
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...env, ...ports },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const logs: string[] = [];
  const found = await new Promise<Record<string, number>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the packaged parley did not start:\n${logs.join('\n')}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      for (const l of d.toString().split('\n')) {
        logs.push(l);
        if (l.includes('"parley started"')) {
          clearTimeout(timer);
          resolve((JSON.parse(l) as { ports: Record<string, number> }).ports);
        }
      }
    });
    child.stderr!.on('data', (d: Buffer) => logs.push(d.toString()));
    child.once('exit', (code) => reject(new Error(`the packaged parley exited with ${code}:\n${logs.join('\n')}`)));
  });
  return { child, ports: found, logs };
}

/** SIGTERM, as systemctl stop sends: the service must exit 0 on its own. */
function stopService(s: Service): Promise<number | null> {
  return new Promise((resolve) => {
    s.child.once('exit', (code) => resolve(code));
    s.child.kill('SIGTERM');
  });
}

/** what xcapRequest needs of an appliance: its HTTP port */
const http = (s: Service): RunningAppliance => ({ httpPort: s.ports.HTTP, domain: 'localhost' }) as RunningAppliance;
const DOC = 'resource-lists/users/sip:alice@localhost/index';
const LIST = '<?xml version="1.0" encoding="UTF-8"?>\n<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list name="friends"><entry uri="sip:bob@localhost"/></list></resource-lists>';

const work = mkdtempSync(path.join(os.tmpdir(), 'parley-deb-'));
let v1 = '';
let v2 = '';

beforeAll(() => {
  if (!canRun) return;
  v1 = sh('bash', [path.join(ROOT, 'installers/debian/build-deb.sh'), path.join(work, 'v1')]).trim().split('\n').pop()!;
  // the second package: the first one with a new migration in its dist and a higher version,
  // unpacked and packed again with dpkg-deb (the source tree is not touched)
  const tree = path.join(work, 'v2tree');
  sh('dpkg-deb', ['-R', v1, tree]);
  const ds = path.join(tree, 'opt/parley/appliance/dist/store/data-source.js');
  const js = readFileSync(ds, 'utf8').replace(
    /export const MIGRATIONS = \[(.*)\];/,
    'class UpgradeProbe1799999999999 { name = "UpgradeProbe1799999999999"; async up(q) { await q.query("CREATE TABLE upgrade_probe (id INTEGER PRIMARY KEY)"); } async down(q) { await q.query("DROP TABLE upgrade_probe"); } }\nexport const MIGRATIONS = [$1, UpgradeProbe1799999999999];',
  );
  expect(js).toContain('UpgradeProbe1799999999999];');
  writeFileSync(ds, js);
  const control = path.join(tree, 'DEBIAN/control');
  writeFileSync(control, readFileSync(control, 'utf8').replace(/^Version: .*$/m, 'Version: 0.1.0+upgrade1'));
  v2 = path.join(work, 'parley_0.1.0+upgrade1_amd64.deb');
  sh('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', tree, v2]);
}, 300_000);

afterAll(async () => {
  // leave the machine as it was found, whatever happened: no parley process (userdel refuses a
  // user with processes), no package, no data, no user
  await Promise.all([...running].map((c) => new Promise((resolve) => (c.once('exit', resolve), c.kill('SIGKILL')))));
  if (canRun && installed()) sh('apt-get', ['purge', '-y', '-qq', 'parley']);
  rmSync(work, { recursive: true, force: true });
}, 120_000);

describe.skipIf(!canRun)('Debian package (A1)', () => {
  it('installs, serves as the parley user, keeps every user, document and stored message across an upgrade with a migration, and purges clean', async () => {
    sh('apt-get', ['install', '-y', '-qq', v1]);
    expect(sh('stat', ['-c', '%U %a', '/var/lib/parley']).trim()).toBe('parley 700');
    expect(sh('dpkg-query', ['-W', '-f=${Conffiles}', 'parley'])).toContain('/etc/parley/parley.yaml');
    expect(sh('getent', ['passwd', 'parley'])).toMatch(/^parley:x:\d+:\d+:.*:\/var\/lib\/parley:\/usr\/sbin\/nologin/);

    // users are made with the packaged command, as root: it runs as parley
    sh('/usr/bin/parley', ['user', 'add', 'alice', '--password', 'alice-pw']);
    sh('/usr/bin/parley', ['user', 'add', 'bob', '--password', 'bob-pw']);
    let svc = await startService();
    const app = (s: Service) => ({ sipPort: s.ports.UDP, domain: 'localhost' }) as Parameters<typeof sendMessage>[0];
    const c = await RawClient.udp(svc.ports.UDP);
    const options = await c.request(buildRequest({ method: 'OPTIONS', uri: 'sip:localhost', from: 'sip:probe@localhost', to: 'sip:localhost', transport: 'UDP', localPort: c.localPort, callId: 'deb-options', cseq: 1 }));
    c.close();
    expect(options).toMatch(/^SIP\/2\.0 200 OK/);
    const health = await fetch(`http://127.0.0.1:${svc.ports.HTTP}/health`);
    expect(health.status).toBe(200);
    expect(await sendMessage(app(svc), { name: 'alice', password: 'alice-pw' }, 'bob', 'kept across the upgrade')).toMatch(/^SIP\/2\.0 202/);
    expect(((await (await fetch(`http://127.0.0.1:${svc.ports.HTTP}/health`)).json()) as { storedMessages: number }).storedMessages).toBe(1);
    const put = await xcapRequest(http(svc), 'PUT', DOC, { body: LIST, headers: { 'Content-Type': 'application/resource-lists+xml' } });
    expect(put.status).toBe(201);
    expect(await stopService(svc)).toBe(0);

    // the upgrade: postinst migrates before the new version serves
    const upgrade = sh('apt-get', ['install', '-y', '-qq', v2]);
    expect(upgrade).toMatch(/store schema up to date: UpgradeProbe1799999999999/);
    svc = await startService();
    expect(sh('/usr/bin/parley', ['user', 'list'])).toMatch(/^alice\tenabled[\s\S]*^bob\tenabled/m);
    await eventually(async () => ((await (await fetch(`http://127.0.0.1:${svc.ports.HTTP}/health`)).json()) as { storedMessages: number }).storedMessages === 1);
    const get = await xcapRequest(http(svc), 'GET', DOC);
    expect(get.status).toBe(200);
    expect(await get.text()).toBe(LIST);
    expect(await stopService(svc)).toBe(0);

    // remove keeps the data and the config; purge takes both, and the user
    sh('apt-get', ['remove', '-y', '-qq', 'parley']);
    expect(existsSync('/var/lib/parley/parley.sqlite')).toBe(true);
    expect(existsSync('/opt/parley')).toBe(false);
    sh('apt-get', ['purge', '-y', '-qq', 'parley']);
    expect(existsSync('/var/lib/parley')).toBe(false);
    expect(existsSync('/etc/parley')).toBe(false);
    expect(() => sh('getent', ['passwd', 'parley'])).toThrow();
  }, 300_000);
});

describe.skipIf(!canRun)('Debian package checked by lintian (A1)', () => {
  it("has no lintian error or warning, and its maintainer is package.json's author", () => {
    // --fail-on error,warning: exit status 2 for any such tag (the overrides are the package's own)
    let out = '';
    try {
      out = sh('lintian', ['--fail-on', 'error,warning', v1]);
    } catch (err) {
      out = String((err as { stdout?: string }).stdout);
      expect.fail(`lintian found errors or warnings:\n${out}`);
    }
    expect(out.split('\n').filter((l) => /^[EW]: /.test(l))).toEqual([]);
    const author = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { author: string }).author;
    expect(sh('dpkg-deb', ['-f', v1, 'Maintainer']).trim()).toBe(author);
  }, 600_000);
});

describe.skipIf(!has('dpkg-deb'))('building the Debian package', () => {
  it('refuses a maintainer without a name and an address, before building anything (Debian Policy §5.6.2)', () => {
    let stderr = '';
    try {
      sh('bash', [path.join(ROOT, 'installers/debian/build-deb.sh'), path.join(work, 'refused')], { PARLEY_DEB_MAINTAINER: 'parley@localhost' });
    } catch (err) {
      stderr = String((err as { stderr?: string }).stderr);
    }
    expect(stderr).toContain('build-deb: the maintainer must be "Name <user@host.domain>"');
    expect(existsSync(path.join(work, 'refused', 'parley_0.1.0_amd64.deb'))).toBe(false);
  });
});
