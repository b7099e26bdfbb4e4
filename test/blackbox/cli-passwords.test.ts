import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT, startAppliance, type RunningAppliance } from '../support/appliance.js';
import { login } from '../support/admin-client.js';

/**
 * One rule for every password the CLI takes (`user add`, `user passwd`, `admin add`, `admin
 * reset`): `--password-stdin` reads one line; a terminal without it gets a hidden prompt, typed
 * twice; a pipe without it is refused (exit 2, nothing created), except that the `admin` commands
 * still read it with a deprecation warning. The terminal is a real pseudo-terminal: util-linux
 * `script` (Debian's bsdutils, always installed) runs the command on one and types what we send.
 */

const CLI = path.join(ROOT, 'appliance/dist/cli.js');
// each CLI run opens the store and its migrations check: seconds apiece on a loaded machine
const SLOW = { timeout: 90_000 };
let app: RunningAppliance;

beforeAll(async () => {
  app = await startAppliance({ users: { alice: 'alice-pw' } });
});
afterAll(async () => {
  await app?.cleanup();
});

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Runs `parley ARGS` with `input` on its standard input: a pipe, or with `terminal` a
 * pseudo-terminal (the command's stdout and stderr then both come back in `stdout`).
 */
function parley(input: string, args: string[], terminal = false): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = terminal
      ? spawn('script', ['-qec', [process.execPath, CLI, ...args].map(quote).join(' '), '/dev/null'], { env: app.env })
      : spawn(process.execPath, [CLI, ...args], { env: app.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // a command that waits for more input than it was given must not outlive the test: a hang is
    // a failure (exit code null), and the terminal's hang-up ends the command behind it
    const bound = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(bound);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

const users = async (): Promise<string> => app.cli('user', 'list');
const accounts = async (): Promise<string> => app.cli('admin', 'list');

/**
 * `user add NAME` and `admin add NAME` given `input` both stop with exit 2 and say `why` (on stderr;
 * on a terminal everything comes back on the pseudo-terminal's stdout), and neither is created.
 */
async function expectBothRefuse(name: string, input: string, why: RegExp, flags: string[], terminal = false): Promise<void> {
  const [u, a] = await Promise.all([parley(input, ['user', 'add', name, ...flags], terminal), parley(input, ['admin', 'add', name, ...flags], terminal)]);
  for (const r of [u, a]) {
    expect(r.code).toBe(2);
    expect(terminal ? r.stdout : r.stderr).toMatch(why);
  }
  const [list, accs] = await Promise.all([users(), accounts()]);
  expect(list).not.toMatch(new RegExp(`^${name}\t`, 'm'));
  expect(accs).not.toMatch(new RegExp(`^${name}\t`, 'm'));
}

describe('--password-stdin: one line of standard input, for users and console accounts alike', SLOW, () => {
  it('creates the user and the console account with the piped password, without a warning', async () => {
    const [u, a] = await Promise.all([parley('pipe-pw-1\n', ['user', 'add', 'pia', '--password-stdin']), parley('console-password-1\n', ['admin', 'add', 'ops', '--password-stdin'])]);
    expect(u).toMatchObject({ code: 0, stderr: '' });
    expect(u.stdout).toContain('user pia added');
    expect(a).toMatchObject({ code: 0, stderr: '' });
    expect(a.stdout).toContain('console account ops (admin) added');
    // the password is the line without its line end: the account signs in with it
    await login(app, 'ops', 'console-password-1');
  });

  it('admin reset takes the flag too', async () => {
    const r = await parley('console-password-2\n', ['admin', 'reset', 'ops', '--password-stdin']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    await login(app, 'ops', 'console-password-2');
  });

  it.each([
    { what: 'nothing', input: '', why: /the password is empty/ },
    { what: 'an empty line', input: '\n', why: /the password is empty/ },
    { what: 'two lines', input: 'line-one-pw\nline-two-pw\n', why: /must be one line/ },
  ])('refuses $what on standard input (exit 2, nothing created)', async ({ input, why }) => {
    await expectBothRefuse('quinn', input, why, ['--password-stdin']);
  });
});

describe('no flag, standard input not a terminal', SLOW, () => {
  it('user add and user passwd stop with exit 2 and say to pass --password-stdin; nothing is created', async () => {
    const [add, passwd] = await Promise.all([parley('piped-pw-1\n', ['user', 'add', 'rita']), parley('piped-pw-2\n', ['user', 'passwd', 'alice'])]);
    expect(add.code).toBe(2);
    expect(add.stderr).toMatch(/^parley: .*not a terminal.*pass --password-stdin/);
    expect(add.stdout).toBe('');
    expect(await users()).not.toMatch(/^rita\t/m);
    expect(passwd.code).toBe(2);
    expect(passwd.stderr).toMatch(/pass --password-stdin/);
  });

  it('admin add still reads the pipe (deprecated), with one warning line on stderr', async () => {
    const add = await parley('legacy-password-1\n', ['admin', 'add', 'legacy', '--role', 'support']);
    expect(add.code).toBe(0);
    expect(add.stdout).toContain('console account legacy (support) added');
    expect(add.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^parley: warning: .*deprecated.*--password-stdin/)]);
    await login(app, 'legacy', 'legacy-password-1');
  });

  it('admin reset too', async () => {
    const reset = await parley('legacy-password-2\n', ['admin', 'reset', 'legacy']);
    expect(reset.code).toBe(0);
    expect(reset.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^parley: warning: .*--password-stdin/)]);
    await login(app, 'legacy', 'legacy-password-2');
  });
});

describe('no flag, on a terminal: a hidden prompt, typed twice', SLOW, () => {
  it('creates the user and the console account when both match', async () => {
    const [u, a] = await Promise.all([parley('tty-user-pw\ntty-user-pw\n', ['user', 'add', 'sam'], true), parley('tty-console-pw\ntty-console-pw\n', ['admin', 'add', 'tess'], true)]);
    expect(u.code).toBe(0);
    expect(u.stdout).toMatch(/password for sam: [\s\S]*again: [\s\S]*user sam added/);
    expect(await users()).toMatch(/^sam\t/m);
    expect(a.code).toBe(0);
    // no deprecation warning: a terminal is the normal way
    expect(a.stdout).not.toContain('warning');
    await login(app, 'tess', 'tty-console-pw');
  });

  it.each([
    { what: 'two different passwords', typed: 'tty-pw-one\ntty-pw-two\n', why: /the two passwords differ/ },
    { what: 'an empty password', typed: '\n\n', why: /the password is empty/ },
  ])('refuses $what (exit 2, nothing created)', async ({ typed, why }) => {
    await expectBothRefuse('uma', typed, why, [], true);
  });
});
