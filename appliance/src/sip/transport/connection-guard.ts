import type { Logger } from '../../log.js';

/** Limits on connection-oriented transports (TCP, TLS, WS, WSS): README, `sip.connections`. */
export interface ConnectionLimits {
  /** seconds without a byte in or out after which a connection nobody uses is closed */
  idleTimeout: number;
  /** seconds a message may take from its first byte to its last */
  messageTimeout: number;
  /** incoming connections from one IP address */
  maxPerSource: number;
  /** incoming connections in all */
  max: number;
}

/** Why the guard closes a connection. */
export type GuardReason = 'idle' | 'message timeout';

/** What the guard needs to know of one connection. */
export interface GuardedConnection {
  readonly id: string;
  /** ms timestamp of the last byte received or sent (the guard moves it on while the connection is in use) */
  lastActivity: number;
  /** ms timestamp of the first byte of a message not yet complete, else null */
  readonly messageStartedAt: number | null;
  close(reason: GuardReason): void;
}

/** A refusal log entry: one line per source per minute, with the number refused meanwhile. */
interface RefusalNote {
  loggedAt: number;
  refused: number;
}

const REFUSAL_LOG_INTERVAL_MS = 60_000;

/**
 * Keeps connection-oriented transports within bounds: it refuses connections over the
 * per-source and total caps, closes connections that carried nothing for `idleTimeout`
 * unless the SIP core still uses them (a registration flow, RFC 5626 §5; a subscription
 * dialog), and closes those whose current message has not completed within
 * `messageTimeout` (the model is Kamailio's tcp_msg_read_timeout). One sweep timer
 * serves every connection, so a connection costs no timer of its own.
 *
 * @example
 * const guard = new ConnectionGuard(limits, log);
 * guard.inUse = (flowId) => location.usesFlow(flowId);
 * if (!guard.admit(address)) socket.destroy();
 */
export class ConnectionGuard {
  private readonly perSource = new Map<string, number>();
  private total = 0;
  private readonly connections = new Set<GuardedConnection>();
  private readonly refusals = new Map<string, RefusalNote>();
  private timer: NodeJS.Timeout | null = null;
  /** whether the SIP core still needs a flow (set by the stack's user); none by default */
  inUse: (flowId: string) => boolean = () => false;

  constructor(
    readonly limits: ConnectionLimits,
    private readonly log: Logger,
  ) {}

  /** Incoming connections now counted, in all and from one address. */
  count(address?: string): number {
    return address === undefined ? this.total : (this.perSource.get(address) ?? 0);
  }

  /** Whether one more connection from this address fits under the caps (nothing is counted). */
  fits(address: string): boolean {
    if (this.total < this.limits.max && (this.perSource.get(address) ?? 0) < this.limits.maxPerSource) return true;
    this.noteRefusal(address);
    return false;
  }

  /** Counts an incoming connection if it fits; false means: close it now. Pair with release(). */
  admit(address: string): boolean {
    if (!this.fits(address)) return false;
    this.total++;
    this.perSource.set(address, (this.perSource.get(address) ?? 0) + 1);
    return true;
  }

  /** The connection counted by admit() has closed. */
  release(address: string): void {
    const n = this.perSource.get(address);
    if (n === undefined) return;
    this.total--;
    if (n <= 1) this.perSource.delete(address);
    else this.perSource.set(address, n - 1);
  }

  /** Watches a connection for idleness and slow messages until untrack(). */
  track(conn: GuardedConnection): void {
    this.connections.add(conn);
  }

  untrack(conn: GuardedConnection): void {
    this.connections.delete(conn);
  }

  start(): void {
    if (this.timer !== null) return;
    // a quarter of the shorter timeout, within [100 ms, 1 s]: closes land at most that late
    const shortest = Math.min(this.limits.idleTimeout, this.limits.messageTimeout) * 1000;
    this.timer = setInterval(() => this.sweep(), Math.max(100, Math.min(1000, shortest / 4)));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Closes what has been idle or slow for too long. Public for tests on a fake clock. */
  sweep(now = Date.now()): void {
    const idleMs = this.limits.idleTimeout * 1000;
    const messageMs = this.limits.messageTimeout * 1000;
    // deleting from a Set while iterating it is safe (ECMAScript Set iteration order)
    for (const conn of this.connections) {
      if (conn.messageStartedAt !== null && now - conn.messageStartedAt >= messageMs) {
        this.log.debug({ flow: conn.id }, 'connection closed: message not complete in time');
        this.untrack(conn);
        conn.close('message timeout');
      } else if (now - conn.lastActivity >= idleMs) {
        if (this.inUse(conn.id)) {
          // RFC 5626 §5: a registration's flow stays open; ask again after another idle period
          conn.lastActivity = now;
          continue;
        }
        this.log.debug({ flow: conn.id }, 'connection closed: idle');
        this.untrack(conn);
        conn.close('idle');
      }
    }
    for (const [address, note] of this.refusals) {
      if (now - note.loggedAt < REFUSAL_LOG_INTERVAL_MS) continue;
      this.refusals.delete(address);
      if (note.refused > 0) this.logRefusals(address, note.refused);
    }
  }

  /** Logs a refused connection at most once per source per minute, with how many were refused. */
  private noteRefusal(address: string, now = Date.now()): void {
    const note = this.refusals.get(address);
    if (note !== undefined && now - note.loggedAt < REFUSAL_LOG_INTERVAL_MS) {
      note.refused++;
      return;
    }
    this.refusals.set(address, { loggedAt: now, refused: 0 });
    this.logRefusals(address, (note?.refused ?? 0) + 1);
  }

  private logRefusals(address: string, refused: number): void {
    this.log.warn(
      { source: address, refused, fromSource: this.perSource.get(address) ?? 0, total: this.total, maxPerSource: this.limits.maxPerSource, max: this.limits.max },
      'connections refused: over the connection limit (sip.connections)',
    );
  }
}
