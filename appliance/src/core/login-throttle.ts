import net from 'node:net';

export interface ThrottleOptions {
  /** seconds over which failures are counted */
  window: number;
  /** failures of one user name from one address before that pair must wait */
  perSourceAndUser: number;
  /** failures from one address, whatever the user names, before the address must wait */
  perSource: number;
  /** failures of one user name from every address before only addresses it logged in from may try */
  perUser: number;
  /** the first wait, in seconds; each further block of the same key doubles it, up to `maxBlock` */
  blockFor: number;
  maxBlock: number;
}

interface Counter {
  failures: number;
  windowStart: number;
  blockedUntil: number;
  /** how many times this key was blocked in a row (the wait doubles each time) */
  strikes: number;
}

/** How many keys each table keeps at most; the oldest go first (an address spraying names is still caught per address). */
const MAX_KEYS = 100_000;
/** (user, address) pairs that logged in recently (those may try while the user is under attack), at most; oldest go first */
const MAX_KNOWN = 500_000;
const KNOWN_SOURCE_TTL_MS = 24 * 3600_000;

/**
 * Slows down password guessing (C2, X3) on SIP and HTTP alike. Three counters of failed logins:
 * - one user name from one address: after `perSourceAndUser` failures that pair waits;
 * - one address, any user names: after `perSource` failures the address waits;
 * - one user name from all addresses: after `perUser` failures only addresses that logged in
 *   as that user in the last 24 hours may try, so a distributed guesser is stopped while the
 *   user's own devices keep working.
 * A wait starts at `blockFor` seconds and doubles on each repeat up to `maxBlock`. A blocked
 * request is refused without its credentials being checked, so it reveals nothing, and unknown
 * user names are counted exactly like wrong passwords (no enumeration). IPv6 addresses count by
 * their /64 (one host usually owns the whole prefix).
 */
export class LoginThrottle {
  private readonly pairs = new Map<string, Counter>();
  private readonly sources = new Map<string, Counter>();
  private readonly users = new Map<string, Counter>();
  /** `user|source` -> when that user last logged in from that address (one flat map: one entry per pair) */
  private readonly known = new Map<string, number>();

  constructor(private readonly opts: ThrottleOptions) {}

  /** Seconds the caller must wait before trying, or 0 when the attempt may be checked. */
  retryAfter(user: string, address: string, now = Date.now()): number {
    // the common case, on every authenticated request: nobody has failed lately
    if (this.pairs.size === 0 && this.sources.size === 0 && this.users.size === 0) return 0;
    const source = sourceKey(address);
    let wait = Math.max(this.waitOf(this.pairs.get(`${user}|${source}`), now), this.waitOf(this.sources.get(source), now));
    const userWait = this.waitOf(this.users.get(user), now);
    if (userWait > wait && !this.isKnown(user, source, now)) wait = userWait;
    return wait;
  }

  /** A wrong password or an unknown user name. Returns the wait it started (0 if none). */
  failed(user: string, address: string, now = Date.now()): number {
    const source = sourceKey(address);
    return Math.max(
      this.count(this.pairs, `${user}|${source}`, this.opts.perSourceAndUser, now),
      this.count(this.sources, source, this.opts.perSource, now),
      this.count(this.users, user, this.opts.perUser, now),
    );
  }

  /** A correct login: the pair starts afresh and the address becomes known for the user. */
  succeeded(user: string, address: string, now = Date.now()): void {
    const key = `${user}|${sourceKey(address)}`;
    if (this.pairs.size > 0) this.pairs.delete(key);
    const at = this.known.get(key);
    // refreshed at most once a minute: this runs on every authenticated request
    if (at !== undefined && now - at < 60_000) return;
    if (at !== undefined) this.known.delete(key); // re-inserted at the end: the map stays in last-seen order
    else if (this.known.size >= MAX_KNOWN) this.known.delete(this.known.keys().next().value!);
    this.known.set(key, now);
  }

  private isKnown(user: string, source: string, now: number): boolean {
    const at = this.known.get(`${user}|${source}`);
    return at !== undefined && now - at < KNOWN_SOURCE_TTL_MS;
  }

  private waitOf(c: Counter | undefined, now: number): number {
    return c !== undefined && c.blockedUntil > now ? Math.ceil((c.blockedUntil - now) / 1000) : 0;
  }

  private count(table: Map<string, Counter>, key: string, limit: number, now: number): number {
    const windowMs = this.opts.window * 1000;
    let c = table.get(key);
    if (c === undefined) {
      if (table.size >= MAX_KEYS) table.delete(table.keys().next().value!);
      c = { failures: 0, windowStart: now, blockedUntil: 0, strikes: 0 };
      table.set(key, c);
    } else if (now - c.windowStart > windowMs) {
      // a quiet window: the count starts again, and so does the doubling if the last block is long over
      if (c.blockedUntil + windowMs < now) c.strikes = 0;
      c.failures = 0;
      c.windowStart = now;
    }
    c.failures++;
    if (c.failures < limit) return 0;
    const waitSec = Math.min(this.opts.maxBlock, this.opts.blockFor * 2 ** c.strikes);
    c.strikes++;
    c.failures = 0;
    c.windowStart = now;
    c.blockedUntil = now + waitSec * 1000;
    return waitSec;
  }
}

/** The throttling key of an address: IPv4 as is, IPv6 by its /64. */
export function sourceKey(address: string): string {
  // an IPv4 address (the usual case) has no colon: no need for the IPv6 parser
  if (address.includes(':') && net.isIPv6(address)) {
    const full = expandIpv6(address);
    return full === null ? address : `${full.slice(0, 4).join(':')}::/64`;
  }
  return address;
}

function expandIpv6(a: string): string[] | null {
  const bare = a.replace(/^\[|\]$/g, '').split('%')[0];
  if (bare.includes('.')) return null; // IPv4-mapped: keep it whole
  const [head, tail] = bare.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const zeros = tail === undefined ? [] : new Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...zeros, ...t].map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''));
}
