import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WatchedProcess } from './watched-process.js';

/** How to reach the appliance as one user. */
export interface LinphoneOptions {
  user: string;
  password: string;
  domain: string;
  /** the appliance's UDP port on 127.0.0.1: registrar and outbound proxy */
  proxyPort: number;
  /** more linphonerc lines: keys for the account (`[proxy_0]`), then any further sections (friends) */
  accountExtra?: string[];
  sectionsExtra?: string[];
  /** a whole linphonerc instead of the account written from the fields above (provisioning tests) */
  configText?: string;
}

export interface LinphoneResponse {
  ok: boolean;
  reason?: string;
  /** `Key: value` lines of the body */
  fields: Record<string, string>;
}

export interface LinphoneEvent {
  type: string;
  fields: Record<string, string>;
}

const DAEMON = process.env.LINPHONE_DAEMON_PATH ?? '/usr/bin/linphone-daemon';

function fieldsOf(lines: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(': ');
    if (i > 0) out[l.slice(0, i)] = l.slice(i + 2);
  }
  return out;
}

/**
 * linphone-daemon (Debian package linphone-cli, liblinphone 5.1) driven over its standard input.
 *
 * Each command line gets one response, `Status: Ok|Error`, an optional `Reason:` line and an
 * optional body after a blank line; events (`Event-type: message-received`, …) are printed
 * as they happen (daemon/daemon.cc). Commands are sent one at a time, so the n-th response
 * answers the n-th command.
 *
 * The account is provisioned in the configuration file (`[proxy_0]`, `[auth_info_0]`), which
 * makes it the default account: the daemon's own `register` command creates a proxy config
 * that is not the default, and chat messages then leave from `sip:linphone@<host>` straight
 * to the domain's DNS name. `reg_route` sends every request through the appliance (outbound
 * proxy). HOME points into a temporary folder: liblinphone keeps its databases under
 * ~/.local/share/linphone and refuses to start its core when it cannot open them.
 *
 * @example
 * const carol = startLinphone({ user: 'carol', password: 'pw', domain: 'parley.test', proxyPort: app.sipPort });
 * expect(await carol.registrationState()).toBe('LinphoneRegistrationOk');
 * await carol.stop();
 */
export class Linphone {
  private readonly proc: WatchedProcess;
  private sent = 0;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly opts: LinphoneOptions,
    private readonly dir: string,
    private readonly child: ChildProcess,
  ) {
    this.proc = new WatchedProcess('linphone-daemon', child);
  }

  /** Writes the configuration and starts the daemon; its account starts registering at once. */
  static start(opts: LinphoneOptions): Linphone {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'linphone-'));
    mkdirSync(path.join(dir, 'home/.local/share/linphone'), { recursive: true });
    writeFileSync(path.join(dir, 'linphonerc'), opts.configText ?? Linphone.configText(opts));
    const child = spawn(DAEMON, ['--config', path.join(dir, 'linphonerc'), '--log', path.join(dir, 'linphone.log')], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, HOME: path.join(dir, 'home') },
    });
    return new Linphone(opts, dir, child);
  }

  /** A linphonerc for one account on the appliance (UDP on an ephemeral port, no TCP/TLS listener). */
  static configText(o: LinphoneOptions): string {
    const proxy = `<sip:127.0.0.1:${o.proxyPort};transport=udp>`;
    return [
      '[sip]', 'sip_port=-1', 'sip_tcp_port=0', 'sip_tls_port=0', 'default_proxy=0',
      '[proxy_0]', `reg_identity=sip:${o.user}@${o.domain}`, `reg_proxy=${proxy}`, `reg_route=${proxy}`, 'reg_expires=300', 'reg_sendregister=1',
      ...(o.accountExtra ?? []),
      '[auth_info_0]', `username=${o.user}`, `passwd=${o.password}`, `domain=${o.domain}`,
      ...(o.sectionsExtra ?? []),
      '',
    ].join('\n');
  }

  private waitFor<T>(what: string, check: () => T | undefined, timeoutMs: number): Promise<T> {
    return this.proc.waitFor(what, check, timeoutMs);
  }

  /** Every response printed so far, in order. */
  private responses(): LinphoneResponse[] {
    return [...this.proc.output.matchAll(/^Status: (Ok|Error)\n(?:Reason: (.*)\n)?(?:\n((?:.+\n)*))?/gm)].map((m) => ({
      ok: m[1] === 'Ok',
      ...(m[2] === undefined ? {} : { reason: m[2] }),
      fields: fieldsOf((m[3] ?? '').split('\n')),
    }));
  }

  /** Every event printed so far, in order. */
  events(): LinphoneEvent[] {
    return [...this.proc.output.matchAll(/^Event-type: (.+)\n(?:\n((?:.+\n)*))?/gm)].map((m) => ({ type: m[1], fields: fieldsOf((m[2] ?? '').split('\n')) }));
  }

  /** Sends one command line and returns its response (commands are queued, one at a time). */
  command(line: string, timeoutMs = 5000): Promise<LinphoneResponse> {
    const run = async (): Promise<LinphoneResponse> => {
      const index = this.sent++;
      this.child.stdin!.write(`${line}\n`);
      return this.waitFor(`response to "${line}"`, () => this.responses()[index], timeoutMs);
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /**
   * Polls `register-status 1` until the account is registered or has failed, and returns the
   * state (the daemon reports no registration events of its own).
   */
  async registrationState(timeoutMs = 10_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const state = (await this.command('register-status 1')).fields.State ?? 'unknown';
      if (state === 'LinphoneRegistrationOk' || state === 'LinphoneRegistrationFailed' || Date.now() > end) return state;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Sends a text MESSAGE and returns the chat message's final state: LinphoneChatMessageStateDelivered
   * after a 2xx, LinphoneChatMessageStateNotDelivered otherwise.
   */
  async message(to: string, text: string, timeoutMs = 15_000): Promise<string> {
    const r = await this.command(`message ${to} ${text}`);
    if (!r.ok) throw new Error(`linphone-daemon refused the message: ${r.reason ?? ''}`);
    const id = r.fields.Id;
    const final = await this.waitFor(
      `final state of message ${id}`,
      () => this.events().find((e) => e.type === 'message-state-changed' && e.fields.Id === id && /Delivered|NotDelivered/.test(e.fields.State ?? '')),
      timeoutMs,
    );
    return final.fields.State;
  }

  /** Waits for an event. */
  waitForEvent(what: string, pred: (e: LinphoneEvent) => boolean, timeoutMs = 10_000): Promise<LinphoneEvent> {
    return this.waitFor(what, () => this.events().find(pred), timeoutMs);
  }

  /** The SIP messages liblinphone logged (belle-sip "message sent to"/"received … bytes" entries). */
  sip(): { dir: 'out' | 'in'; text: string }[] {
    const file = path.join(this.dir, 'linphone.log');
    if (!existsSync(file)) return [];
    const log = readFileSync(file, 'utf8');
    // each entry runs up to the next time-stamped log line
    return [...log.matchAll(/(message sent to|new bytes from) \[[^\]]*\][^\n]*\n([\s\S]*?)\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3} )/g)].map((m) => ({
      dir: m[1] === 'message sent to' ? ('out' as const) : ('in' as const),
      text: m[2].trim(),
    }));
  }

  /** liblinphone's whole log file (settings applied, provisioning). */
  log(): string {
    const file = path.join(this.dir, 'linphone.log');
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  }

  /** Everything the daemon printed, for failure messages. */
  output(): string {
    return this.proc.output;
  }

  /** Quits (the daemon unregisters first), kills it if it lingers, and removes its folder. */
  async stop(): Promise<void> {
    await this.proc.stop(() => this.child.stdin!.write('quit\n'));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Starts linphone-daemon for one user; see {@link Linphone}. */
export function startLinphone(opts: LinphoneOptions): Linphone {
  return Linphone.start(opts);
}
