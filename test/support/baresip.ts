import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './appliance.js';
import { WatchedProcess } from './watched-process.js';

/** How to reach the appliance as one user. */
export interface BaresipOptions {
  user: string;
  password: string;
  domain: string;
  /** the appliance's UDP port on 127.0.0.1: outbound proxy and registrar */
  proxyPort: number;
  /** where `message()` sends to: baresip 1.0 messages its "current contact" (contact module) */
  peer: string;
}

export interface BaresipEvent {
  class: string;
  type: string;
  param?: string;
  accountaor?: string;
}

/** One SIP message from baresip's `-s` trace. */
export interface BaresipSipMessage {
  transport: string;
  src: string;
  dst: string;
  text: string;
}

export type RegisterOutcome = { ok: true } | { ok: false; reason: string };

const BARESIP = process.env.BARESIP_PATH ?? '/usr/bin/baresip';
const MODULES = '/usr/lib/baresip/modules';

// baresip colours its output with ANSI escapes, which delimit what we read.
/* eslint-disable no-control-regex */
/** ua.c's SIP trace: ESC[36;1m "#\n" "<transport> <src> -> <dst>\n" <message> ESC[;m */
const TRACE = /\x1b\[36;1m#\n(\S+) (\S+) -> (\S+)\n([\s\S]*?)\x1b\[;m/g;
/** contact.c's response handler on a failed MESSAGE: " ESC[31m<error>ESC[;m" */
const FAILURE = / \x1b\[31m([^\x1b]*)\x1b\[;m/;
/* eslint-enable no-control-regex */

/**
 * baresip 1.0 (Debian package baresip-core) driven without a terminal.
 *
 * Commands and events go over its `ctrl_tcp` module: netstrings carrying JSON, a command
 * `{"command","params","token"}` answered by `{"response":true,"ok","data","token"}`, and
 * events `{"event":true,"class","type","param"}` (modules/ctrl_tcp/ctrl_tcp.c). The account
 * is created with the `uanew` command once we are connected, so its REGISTER_OK/REGISTER_FAIL
 * event cannot be sent before we listen. `-s` prints every SIP message it sends and receives
 * on stdout, and the `stdio` UI prints received MESSAGEs there (menu's message handler), so
 * stdin stays an open pipe that we never write to.
 *
 * @example
 * const alice = await startBaresip({ user: 'alice', password: 'pw', domain: 'parley.test', proxyPort: app.sipPort, peer: 'sip:bob@parley.test' });
 * expect(await alice.register()).toEqual({ ok: true });
 * await alice.stop();
 */
export class Baresip {
  readonly events: BaresipEvent[] = [];
  private readonly proc: WatchedProcess;
  private readonly responses = new Map<string, (r: { ok: boolean; data: string }) => void>();
  private pending = Buffer.alloc(0);
  private tokens = 0;
  private socket: net.Socket | null = null;

  private constructor(
    private readonly opts: BaresipOptions,
    private readonly dir: string,
    child: ChildProcess,
  ) {
    this.proc = new WatchedProcess('baresip', child);
  }

  /**
   * Starts baresip with a fresh configuration folder and connects to its control port.
   * baresip carries on without ctrl_tcp when its port is taken (it only logs "ctrl_tcp: failed
   * to listen"), so that case is retried on another port rather than connecting to a stranger.
   */
  static async start(opts: BaresipOptions): Promise<Baresip> {
    for (let attempt = 1; ; attempt++) {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'baresip-'));
      const ctrlPort = await freePort();
      writeFileSync(path.join(dir, 'config'), Baresip.configText(ctrlPort));
      writeFileSync(path.join(dir, 'accounts'), ''); // the account comes from `uanew`
      writeFileSync(path.join(dir, 'contacts'), `<${opts.peer}>\n`);
      const b = new Baresip(opts, dir, spawn(BARESIP, ['-f', dir, '-s'], { stdio: ['pipe', 'pipe', 'pipe'] }));
      try {
        // modules are loaded, and ctrl_tcp listening or not, when baresip says it is ready
        await b.waitFor('"baresip is ready."', () => (b.proc.output.includes('baresip is ready.') ? true : undefined), 10_000);
        if (b.proc.output.includes('ctrl_tcp: failed to listen')) {
          if (attempt === 3) throw new Error(`baresip's ctrl_tcp found its port taken three times:\n${b.proc.output}`);
          await b.stop();
          continue;
        }
        await b.connect(ctrlPort);
        return b;
      } catch (err) {
        await b.stop();
        throw err;
      }
    }
  }

  /** A configuration with only what messaging needs: no audio or video module, SIP on an ephemeral loopback port. */
  static configText(ctrlPort: number): string {
    return [
      'sip_listen 127.0.0.1:0',
      `module_path ${MODULES}`,
      'module stdio.so',
      'module_app contact.so',
      'module_app menu.so',
      'module_app ctrl_tcp.so',
      `ctrl_tcp_listen 127.0.0.1:${ctrlPort}`,
      'audio_player none',
      'audio_source none',
      '',
    ].join('\n');
  }

  /** The account line of baresip's `accounts` file for this user (also what `uanew` takes). */
  accountLine(): string {
    const o = this.opts;
    return `<sip:${o.user}@${o.domain}>;auth_pass=${o.password};outbound="sip:127.0.0.1:${o.proxyPort};transport=udp";regint=300`;
  }

  private async connect(port: number): Promise<void> {
    this.socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
      s.once('error', (err) => reject(new Error(`cannot reach baresip's ctrl_tcp on ${port} (${err.message}):\n${this.proc.output}`)));
    });
    this.socket.on('data', (d: Buffer) => this.feed(d));
  }

  /** Splits the control stream into netstrings ("<length>:<json>,"). */
  private feed(data: Buffer): void {
    this.pending = Buffer.concat([this.pending, data]);
    for (;;) {
      const colon = this.pending.indexOf(':');
      if (colon < 0) return;
      const length = Number(this.pending.subarray(0, colon).toString());
      if (this.pending.length < colon + 1 + length + 1) return;
      const json = JSON.parse(this.pending.subarray(colon + 1, colon + 1 + length).toString()) as Record<string, unknown>;
      this.pending = this.pending.subarray(colon + 1 + length + 1);
      if (json.response === true) {
        this.responses.get(String(json.token))?.({ ok: json.ok === true, data: String(json.data ?? '') });
      } else if (json.event === true) {
        this.events.push(json as unknown as BaresipEvent);
      }
      this.proc.wake();
    }
  }

  private waitFor<T>(what: string, check: () => T | undefined, timeoutMs: number): Promise<T> {
    return this.proc.waitFor(what, check, timeoutMs);
  }

  /** Runs a long command (as typed after '/') and returns baresip's answer. */
  async command(command: string, params?: string, timeoutMs = 5000): Promise<{ ok: boolean; data: string }> {
    const token = `t${++this.tokens}`;
    let answer: { ok: boolean; data: string } | undefined;
    this.responses.set(token, (r) => (answer = r));
    const json = Buffer.from(JSON.stringify({ command, ...(params === undefined ? {} : { params }), token }));
    this.socket!.write(Buffer.concat([Buffer.from(`${json.length}:`), json, Buffer.from(',')]));
    try {
      return await this.waitFor(`answer to ${command}`, () => answer, timeoutMs);
    } finally {
      this.responses.delete(token);
    }
  }

  /** Creates the user agent (`uanew`) and waits for the outcome of its first REGISTER. */
  async register(timeoutMs = 10_000): Promise<RegisterOutcome> {
    const r = await this.command('uanew', this.accountLine());
    if (!r.ok) return { ok: false, reason: `uanew refused: ${r.data}` };
    const ev = await this.waitFor('REGISTER_OK or REGISTER_FAIL', () => this.events.find((e) => e.type === 'REGISTER_OK' || e.type === 'REGISTER_FAIL'), timeoutMs);
    return ev.type === 'REGISTER_OK' ? { ok: true } : { ok: false, reason: ev.param ?? 'REGISTER_FAIL' };
  }

  /**
   * Sends a MESSAGE to the configured peer (`/message TEXT`) and returns the final response
   * baresip got, or the error it printed when it gave up (e.g. "Function not implemented"
   * when libre cannot answer a challenge).
   */
  async message(text: string, timeoutMs = 15_000): Promise<string> {
    const sipBefore = this.sip().length;
    const outputBefore = this.proc.output.length;
    const r = await this.command('message', text);
    if (!r.ok) throw new Error(`baresip refused /message: ${r.data}`);
    return this.waitFor(
      'final response to its MESSAGE',
      () => {
        const final = this.sip()
          .slice(sipBefore)
          .find((m) => /^SIP\/2\.0 (?!40[17] )[2-6]\d\d /.test(m.text) && /^CSeq:\s*\d+ MESSAGE/im.test(m.text));
        const error = FAILURE.exec(this.proc.output.slice(outputBefore))?.[1];
        return final?.text ?? (error === undefined ? undefined : `error: ${error}`);
      },
      timeoutMs,
    );
  }

  /** Every SIP message in the `-s` trace so far. */
  sip(): BaresipSipMessage[] {
    const out: BaresipSipMessage[] = [];
    for (const m of this.proc.output.matchAll(TRACE)) {
      out.push({ transport: m[1], src: m[2], dst: m[3], text: m[4] });
    }
    return out;
  }

  /** Waits for a SIP message in the trace. */
  waitForSip(what: string, pred: (m: BaresipSipMessage) => boolean, timeoutMs = 10_000): Promise<BaresipSipMessage> {
    return this.waitFor(what, () => this.sip().find(pred), timeoutMs);
  }

  /** Waits for a line the user interface printed (e.g. a received message). */
  waitForOutput(what: string, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
    return this.waitFor(what, () => pattern.exec(this.proc.output)?.[0], timeoutMs);
  }

  /** Everything baresip printed, for failure messages. */
  output(): string {
    return this.proc.output;
  }

  /** Quits (baresip unregisters first), kills it if it lingers, and removes its folder. */
  async stop(): Promise<void> {
    await this.proc.stop(() => {
      if (this.socket && !this.socket.destroyed) {
        // the answer may not come: baresip closes the socket as it quits
        this.command('quit', undefined, 1000).catch(() => undefined);
      } else {
        this.proc.child.kill('SIGTERM');
      }
    });
    this.socket?.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Starts baresip for one user; see {@link Baresip}. */
export function startBaresip(opts: BaresipOptions): Promise<Baresip> {
  return Baresip.start(opts);
}
