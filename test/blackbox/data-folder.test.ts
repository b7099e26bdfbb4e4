import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAppliance, eventually, ROOT, type RunningAppliance } from '../support/appliance.js';
import { loadTlsCredentials } from '../../appliance/src/sip/transport/tls-credentials.js';

const CLI = path.join(ROOT, 'appliance/dist/cli.js');
const made: string[] = [];
const apps: RunningAppliance[] = [];

afterAll(async () => {
  for (const app of apps) await app.cleanup();
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary folder (mkdtemp: 0700, ours), removed after the file. */
function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'parley-perms-'));
  made.push(dir);
  return dir;
}

const modeOf = (file: string): number => statSync(file).mode & 0o777;

/** The environment `parley` needs for a data folder, with ports the system picks. */
function envFor(dataDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PARLEY_DOMAIN: 'parley.test',
    PARLEY_DATA_DIR: dataDir,
    PARLEY_BIND: '127.0.0.1',
    PARLEY_SIP_PORT: 'auto',
    PARLEY_SIP_TLS_PORT: 'auto',
    PARLEY_SIP_WS_PORT: 'auto',
    PARLEY_SIP_WSS_PORT: 'auto',
    PARLEY_HTTP_PORT: 'auto',
  };
  delete env.PARLEY_CONFIG;
  return env;
}

interface Outcome {
  /** the exit code, or 'started' when `parley start` came up instead of refusing (then stopped) */
  code: number | 'started' | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `parley …` to its end. A `start` that comes up is stopped at its start-up line, so that a
 * test expecting a refusal fails at once rather than at its timeout.
 */
function parley(env: NodeJS.ProcessEnv, ...args: string[]): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, cwd: os.tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let started = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!started && stdout.includes('"parley started"')) {
        started = true;
        child.kill('SIGTERM');
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: started ? 'started' : code, stdout, stderr });
    });
  });
}

/** The refusal: exit code 2 and one paragraph on standard error. */
function refusalOf(o: Outcome): string {
  expect(o.code, `expected a refusal, got:\n${o.stdout}\n${o.stderr}`).toBe(2);
  const text = o.stderr.trim();
  expect(text).toMatch(/^parley: refusing to use the data folder /);
  expect(text).not.toContain('\n');
  return text;
}

describe('data folder permissions (the store holds HA1 hashes, the message key and the TLS key)', () => {
  it('a fresh start leaves the folder and tls/ 0700, and every secret file 0600, -wal and -shm included after writes', async () => {
    const app = await startAppliance({ users: { alice: 'alice-pw' } });
    apps.push(app);
    // a write while the server holds the store open in WAL mode: the -wal and -shm files stay
    await app.cli('user', 'add', 'bob', '--password', 'bob-pw');
    const d = app.dataDir;
    await eventually(() => existsSync(path.join(d, 'parley.sqlite-wal')) && existsSync(path.join(d, 'parley.sqlite-shm')));
    expect(modeOf(d)).toBe(0o700);
    expect(modeOf(path.join(d, 'tls'))).toBe(0o700);
    for (const file of ['parley.sqlite', 'parley.sqlite-wal', 'parley.sqlite-shm', 'message-store.key', 'tls/self-signed.key']) {
      expect({ file, mode: modeOf(path.join(d, file)).toString(8) }).toEqual({ file, mode: '600' });
    }
  });

  it('the CLI makes a missing data folder 0700 and its store 0600', async () => {
    const dataDir = path.join(tempDir(), 'new', 'data');
    const o = await parley(envFor(dataDir), 'user', 'add', 'carol', '--password', 'carol-pw');
    expect(o.code, o.stderr).toBe(0);
    expect(modeOf(dataDir)).toBe(0o700);
    expect(modeOf(path.join(dataDir, 'parley.sqlite'))).toBe(0o600);
    for (const file of ['parley.sqlite-wal', 'parley.sqlite-shm']) {
      if (existsSync(path.join(dataDir, file))) expect(modeOf(path.join(dataDir, file))).toBe(0o600);
    }
  });

  it('start refuses a data folder that already existed as 0755, naming it, its mode and the chmod', async () => {
    const dataDir = tempDir();
    chmodSync(dataDir, 0o755);
    const text = refusalOf(await parley(envFor(dataDir), 'start'));
    expect(text).toContain(`${dataDir} is mode 0755`);
    expect(text).toContain(`\`chmod 700 ${dataDir}\``);
    // refused before the store was opened
    expect(existsSync(path.join(dataDir, 'parley.sqlite'))).toBe(false);
  });

  it('the CLI refuses the same folder the same way, before opening the store', async () => {
    const dataDir = tempDir();
    chmodSync(dataDir, 0o755);
    const text = refusalOf(await parley(envFor(dataDir), 'user', 'add', 'dave', '--password', 'dave-pw'));
    expect(text).toContain(`${dataDir} is mode 0755`);
    expect(text).toContain(`\`chmod 700 ${dataDir}\``);
    expect(existsSync(path.join(dataDir, 'parley.sqlite'))).toBe(false);
  });

  it('start refuses a store left readable by others (0644, as earlier versions made it)', async () => {
    const dataDir = tempDir();
    expect((await parley(envFor(dataDir), 'user', 'add', 'erin', '--password', 'erin-pw')).code).toBe(0);
    const db = path.join(dataDir, 'parley.sqlite');
    chmodSync(db, 0o644);
    const text = refusalOf(await parley(envFor(dataDir), 'start'));
    expect(text).toContain(`${db} is mode 0644`);
    expect(text).toContain(`\`chmod 600 ${db}\``);
    expect(modeOf(db)).toBe(0o644);
  });

  it('start refuses a group-readable message key, TLS key and tls/ folder, all named in one message and one command', async () => {
    const app = await startAppliance();
    apps.push(app);
    await app.stop();
    const d = app.dataDir;
    chmodSync(path.join(d, 'message-store.key'), 0o640);
    chmodSync(path.join(d, 'tls/self-signed.key'), 0o640);
    chmodSync(path.join(d, 'tls'), 0o750);
    const text = refusalOf(await parley(app.env, 'start'));
    expect(text).toContain(`${d}/message-store.key is mode 0640`);
    expect(text).toContain(`${d}/tls/self-signed.key is mode 0640`);
    expect(text).toContain(`${d}/tls is mode 0750`);
    expect(text).toContain(`\`chmod 700 ${d}/tls && chmod 600 ${d}/message-store.key ${d}/tls/self-signed.key\``);
    // nothing was quietly tightened: the operator has to know the key may have been read
    expect(modeOf(path.join(d, 'message-store.key'))).toBe(0o640);
  });

  it.runIf(process.getuid?.() === 0)('start and the CLI refuse a data folder owned by another user, even as root', async () => {
    const dataDir = tempDir();
    chownSync(dataDir, 65534, 65534);
    for (const args of [['start'], ['user', 'list']]) {
      const text = refusalOf(await parley(envFor(dataDir), ...args));
      expect(text).toContain(`${dataDir} belongs to uid 65534, not to uid 0 that runs parley`);
      expect(text).toContain('a folder of its own');
    }
    expect(existsSync(path.join(dataDir, 'parley.sqlite'))).toBe(false);
  });

  it('warns, without refusing, when a configured TLS key is readable by every user', async () => {
    // a pair outside the data folder, where an operator's own certificate would live
    const pairDir = tempDir();
    const pair = await loadTlsCredentials(pairDir, 'parley.test');
    const cert = pair.source;
    const key = path.join(pairDir, 'tls/self-signed.key');
    chmodSync(key, 0o644);
    const app = await startAppliance({ config: { sip: { tls: { cert, key } } } });
    apps.push(app);
    const warnings = (): { file: string; mode: string; fix: string }[] =>
      app.logs.filter((l) => l.includes('TLS private key is readable')).map((l) => JSON.parse(l) as { file: string; mode: string; fix: string });
    expect(warnings()).toEqual([expect.objectContaining({ level: 40, file: key, mode: '0644', fix: `chmod o-rwx ${key}` })]);
    // group-readable (Debian's ssl-cert group) is a deliberate setup: no warning
    chmodSync(key, 0o640);
    await app.restart();
    expect(warnings()).toHaveLength(1);
  });
});
