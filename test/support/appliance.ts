import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { SERVING_NODE_FLAGS } from '../../appliance/src/heap-tuning.js';
import type { OverloadState } from '../../appliance/src/sip/overload-guard.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'appliance/dist/cli.js');

/**
 * A port free for both UDP and TCP on 127.0.0.1, for test clients (SIPp devices) that must be
 * told their port before they start. The appliance itself binds "auto" ports and reports them.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const u = dgram.createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(port, '127.0.0.1', () => u.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error('no free port');
}

export interface RunningAppliance {
  domain: string;
  dataDir: string;
  sipPort: number;
  tlsPort: number;
  wsPort: number;
  wssPort: number;
  httpPort: number;
  /** SIP over TCP (the same listener family as sipPort) */
  tcpPort: number;
  /** MSRP over TCP (msrp.port) */
  msrpPort: number;
  /** MSRP over TLS (msrp.tlsPort), when the test's config opens it */
  msrpsPort: number;
  /** the loopback /metrics listener */
  metricsPort: number;
  /** the running process's id (benchmarks read its CPU time from /proc), undefined when stopped */
  readonly pid: number | undefined;
  env: NodeJS.ProcessEnv;
  /** stdout lines (JSON logs) so far */
  logs: string[];
  cli(...args: string[]): Promise<string>;
  /** the CLI with text on its standard input */
  cliWithInput(input: string, ...args: string[]): Promise<string>;
  stop(): Promise<void>;
  /** stops and starts again on the same data folder and ports */
  restart(): Promise<void>;
  cleanup(): Promise<void>;
}

export interface StartOptions {
  domain?: string;
  config?: Record<string, unknown>;
  users?: Record<string, string>;
  /**
   * Another node on a running appliance's data folder (the same store, key and certificate), as
   * several nodes share one database: its own ports and config; `cleanup` leaves the folder to its owner.
   */
  shareWith?: RunningAppliance;
  /** options for node itself, before the CLI (e.g. a V8 trace flag) */
  nodeFlags?: string[];
  /** start node without the serving flags every start command gives it (SERVING_NODE_FLAGS) */
  withoutServingFlags?: boolean;
}

/**
 * The test's configuration over two defaults for tests: info logs, and overload control that
 * only acts on a queue of seconds. Tests exercise behaviour, not capacity: on a busy test
 * machine a burst can wait past the 200 ms default and be refused with 503, which only the
 * overload test (setting its own bound) is about.
 */
function testConfig(config: Record<string, unknown>): Record<string, unknown> {
  const sip = (config.sip ?? {}) as Record<string, unknown>;
  return { log: { level: 'info' }, ...config, sip: { ...sip, overload: { maxQueueDelay: 2000, ...(sip.overload as object | undefined) } } };
}

/**
 * Starts the real `parley start` process on 127.0.0.1 with ephemeral ports and a
 * temporary data folder, the way the README tells a user to (black-box tests).
 */
export async function startAppliance(opts: StartOptions = {}): Promise<RunningAppliance> {
  const domain = opts.domain ?? 'parley.test';
  const dataDir = opts.shareWith?.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'parley-test-'));
  const configFile = path.join(dataDir, opts.shareWith === undefined ? 'parley.yaml' : `parley-node-${process.hrtime.bigint()}.yaml`);
  writeFileSync(configFile, stringify(testConfig(opts.config ?? {})));
  // The appliance binds ports the system picks ("auto") and reports them in its start-up line,
  // so no other process can take a port between our choosing it and the appliance binding it.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PARLEY_CONFIG: configFile,
    PARLEY_DOMAIN: domain,
    PARLEY_DATA_DIR: dataDir,
    PARLEY_BIND: '127.0.0.1',
    PARLEY_SIP_PORT: 'auto',
    PARLEY_SIP_TLS_PORT: 'auto',
    PARLEY_SIP_WS_PORT: 'auto',
    PARLEY_SIP_WSS_PORT: 'auto',
    PARLEY_HTTP_PORT: 'auto',
    PARLEY_MSRP_PORT: 'auto',
    PARLEY_METRICS_PORT: 'auto',
  };
  const logs: string[] = [];
  let child: ChildProcess | null = null;
  const ports: Record<string, number> = {};

  const cli = (...args: string[]): Promise<string> =>
    new Promise((resolve, reject) => {
      execFile(process.execPath, [CLI, ...args], { env }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
    });

  const cliWithInput = (input: string, ...args: string[]): Promise<string> =>
    new Promise((resolve, reject) => {
      const child = execFile(process.execPath, [CLI, ...args], { env }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
      child.stdin!.end(input);
    });

  const launch = async (): Promise<void> => {
    // node's flags as `npm start` and the systemd unit give them; a test's own come after and win
    const serving = opts.withoutServingFlags ? [] : SERVING_NODE_FLAGS;
    const c = spawn(process.execPath, [...serving, ...(opts.nodeFlags ?? []), CLI, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    let buffered = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`appliance did not start:\n${logs.join('\n')}`)), 20_000);
      c.stdout!.on('data', (d: Buffer) => {
        buffered += d.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const l of lines) {
          logs.push(l);
          if (l.includes('"parley started"')) {
            clearTimeout(timer);
            Object.assign(ports, (JSON.parse(l) as { ports: Record<string, number> }).ports);
            resolve();
          }
        }
      });
      c.stderr!.on('data', (d: Buffer) => logs.push(d.toString()));
      c.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`appliance exited with ${code}:\n${logs.join('\n')}`));
      });
    });
  };

  const stop = async (): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGTERM');
      setTimeout(() => c.kill('SIGKILL'), 5000).unref();
    });
    child = null;
  };

  for (const [name, pw] of Object.entries(opts.users ?? {})) await cli('user', 'add', name, '--password', pw);
  await launch();
  return {
    domain,
    dataDir,
    get sipPort() {
      return ports.UDP;
    },
    get tlsPort() {
      return ports.TLS;
    },
    get wsPort() {
      return ports.WS;
    },
    get wssPort() {
      return ports.WSS;
    },
    get httpPort() {
      return ports.HTTP;
    },
    get tcpPort() {
      return ports.TCP;
    },
    get msrpPort() {
      return ports.MSRP;
    },
    get msrpsPort() {
      return ports.MSRPS;
    },
    get metricsPort() {
      return ports.METRICS;
    },
    get pid() {
      return (child as ChildProcess | null)?.pid;
    },
    env,
    logs,
    cli,
    cliWithInput,
    stop,
    async restart() {
      await stop();
      // the same ports again, so clients and bindings that know them still reach us
      Object.assign(env, {
        PARLEY_SIP_PORT: String(ports.UDP),
        PARLEY_SIP_TLS_PORT: String(ports.TLS),
        PARLEY_SIP_WS_PORT: String(ports.WS),
        PARLEY_SIP_WSS_PORT: String(ports.WSS),
        PARLEY_HTTP_PORT: String(ports.HTTP),
        PARLEY_MSRP_PORT: String(ports.MSRP),
        PARLEY_METRICS_PORT: String(ports.METRICS),
      });
      // Between the stop and the start, another process's socket (an ephemeral port of some
      // test's client) may hold one of ours for a while: try again until it is let go (bounded).
      for (let attempt = 1; ; attempt++) {
        try {
          await launch();
          return;
        } catch (err) {
          if (attempt >= 40 || !String(err).includes('EADDRINUSE')) throw err;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    },
    async cleanup() {
      await stop();
      if (opts.shareWith === undefined) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface Health {
  registrations: number;
  storedMessages: number;
  subscriptions: number;
  overload: OverloadState;
}

/** What an `eventually` check returns when waiting longer cannot help. */
export class Settled {
  constructor(readonly reason: string) {}
}

export async function health(app: RunningAppliance): Promise<Health> {
  const res = await fetch(`http://127.0.0.1:${app.httpPort}/health`);
  return (await res.json()) as Health;
}

/**
 * Polls until `check` holds (bounded), for effects that land asynchronously. A check may return
 * a `Settled` to stop at once: its reason is the failure (a background job that failed will not
 * become done by waiting).
 */
export async function eventually<T>(check: () => Promise<T | undefined | false | Settled> | T | undefined | false | Settled, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  const started = Date.now();
  for (;;) {
    const v = await check();
    if (v instanceof Settled) throw new Error(`settled without the condition after ${Date.now() - started} ms: ${v.reason}`);
    if (v) return v;
    if (Date.now() > end) throw new Error(`condition not met in ${timeoutMs} ms (last check gave ${String(v)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
