import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, freePort } from './appliance.js';
import { receiveQueueReader } from '../../appliance/src/sip/transport/receive-queue.js';

export interface SippOptions {
  scenario: string;
  /** server port on 127.0.0.1 */
  remotePort: number;
  /** SIPp's own port; omitted, SIPp binds one the system picks (a client that is never called back) */
  localPort?: number;
  vars?: Record<string, string>;
  service?: string;
  /**
   * Digest credentials. SIPp writes `sip:<remote ip>:<port>` as the digest uri unless told the
   * Request-URI with -auth_uri; the appliance refuses credentials for another target (RFC 3261
   * §22.4), so `uri` is passed, by default the Request-URI of our scenarios.
   */
  auth?: { user: string; password: string; uri?: string };
  transport?: 'u1' | 't1' | 'l1';
  calls?: number;
  timeoutSec?: number;
  extra?: string[];
}

export interface SippResult {
  code: number;
  /** -trace_msg output: every message SIPp sent and received */
  messages: string;
  errors: string;
  stdout: string;
}

export interface SippRun {
  done: Promise<SippResult>;
  kill(): void;
}

/** Runs SIPp (Debian package sip-tester) with one of test/scenarios/*.xml. */
export function sipp(o: SippOptions): SippRun {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sipp-'));
  const msgFile = path.join(dir, 'messages.log');
  const errFile = path.join(dir, 'errors.log');
  const args = [
    `127.0.0.1:${o.remotePort}`,
    '-sf', path.join(ROOT, 'test/scenarios', o.scenario),
    '-i', '127.0.0.1',
    ...(o.localPort !== undefined ? ['-p', String(o.localPort)] : []),
    '-t', o.transport ?? 'u1',
    '-m', String(o.calls ?? 1),
    '-timeout', `${o.timeoutSec ?? 20}s`,
    '-timeout_error',
    '-nostdin',
    '-trace_msg', '-message_file', msgFile,
    '-trace_err', '-error_file', errFile,
    // no BYE for a call SIPp aborts (an expected refusal such as a 423): without -p every SIPp here
    // binds 5060, and the 481 that BYE gets reached the next test's SIPp as its first message
    '-default_behaviors', 'all,-bye',
  ];
  if (o.service) args.push('-s', o.service);
  // SIPp writes "sip:" itself before the -auth_uri value
  if (o.auth) args.push('-au', o.auth.user, '-ap', o.auth.password, '-auth_uri', (o.auth.uri ?? requestUriOf(o)).replace(/^sip:/, ''));
  for (const [k, v] of Object.entries(o.vars ?? {})) args.push('-set', k, v);
  args.push(...(o.extra ?? []));
  const child = spawn('sipp', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stdout += d.toString()));
  const done = new Promise<SippResult>((resolve) => {
    child.once('exit', (code) => {
      const read = (f: string): string => (existsSync(f) ? readFileSync(f, 'utf8') : '');
      resolve({ code: code ?? -1, messages: read(msgFile), errors: read(errFile), stdout });
    });
  });
  return { done, kill: () => child.kill('SIGUSR1') };
}

/** The Request-URI a scenario of test/scenarios sends its authenticated request to. */
function requestUriOf(o: SippOptions): string {
  const domain = o.vars?.domain ?? '';
  switch (o.scenario) {
    case 'message-uac.xml':
      return `sip:${o.vars?.to}@${domain}`;
    case 'xcap-diff.xml':
      return `sip:${o.service}@${domain}`;
    default:
      return `sip:${domain}`;
  }
}

/** Runs SIPp to completion and fails with its traces when it did not pass. */
export async function sippOk(o: SippOptions): Promise<SippResult> {
  const r = await sipp(o).done;
  if (r.code !== 0) throw new Error(`SIPp ${o.scenario} exited with ${r.code}\n${r.errors}\n${r.messages.slice(-3000)}`);
  return r;
}

/** The messages SIPp received, as text (from its -trace_msg file). */
export function received(messages: string): string[] {
  return messages
    .split(/^-{10,} .*$/m)
    .filter((b) => /message received/.test(b.slice(0, 80)))
    .map((b) => b.slice(b.indexOf('\n\n') + 2).trim());
}

/** A header's value in one traced message. */
export function header(message: string, name: string): string | undefined {
  const m = new RegExp(`^${name}:\\s*(.*)$`, 'mi').exec(message);
  return m?.[1]?.trim();
}

/**
 * Whether a UDP socket is bound to 127.0.0.1:`port` (SIPp's `-i`), read from the kernel's table.
 * Not by trying to bind it ourselves: that probe held the port for a moment, and a SIPp binding it
 * just then failed and exited (a CI run lost three tests to it).
 */
const udpPortBound = (port: number): boolean => receiveQueueReader('127.0.0.1', port)() != null;

/**
 * A SIPp device (a UAS scenario) on a port of its own, returned once SIPp has bound that port,
 * so that a REGISTER naming it as the contact never races SIPp's start-up. The port is free when
 * chosen but may be taken before SIPp binds it (tests run in parallel, and the appliances they
 * start bind ports of the system's choosing): a SIPp that exits without binding is started again
 * on another port, three times at most.
 */
export async function sippDevice(o: Omit<SippOptions, 'localPort'>): Promise<{ port: number; run: SippRun }> {
  const why: string[] = [];
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const run = sipp({ ...o, localPort: port });
    let exited: SippResult | null = null;
    void run.done.then((r) => (exited = r));
    const end = Date.now() + 10_000;
    while (exited === null && !udpPortBound(port)) {
      if (Date.now() > end) {
        run.kill();
        throw new Error(`SIPp ${o.scenario} did not bind port ${port} within 10 s${why.length ? `; before: ${why.join('; ')}` : ''}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    if (exited === null) return { port, run };
    const r: SippResult = exited;
    why.push(`port ${port}: exited with ${r.code} before binding: ${r.stdout.trim().split('\n').slice(-3).join(' | ')}`);
  }
  throw new Error(`SIPp ${o.scenario} could not start: ${why.join('; ')}`);
}
