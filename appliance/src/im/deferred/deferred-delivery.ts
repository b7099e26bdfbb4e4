import type { SipStack } from '../../sip/stack.js';
import { Headers } from '../../sip/message/headers.js';
import type { SipRequest } from '../../sip/message/message.js';
import { messageToDevice } from '../device-request.js';
import { parseNameAddr, formatNameAddr } from '../../sip/message/name-addr.js';
import { parseUri } from '../../sip/message/uri.js';
import type { LocationService, Binding } from '../../core/location-service.js';
import type { LocalDomain } from '../../core/local-domain.js';
import { fork, branchesFor } from '../../core/forker.js';
import type { DeferredStore, StoredMessage } from './deferred-store.js';
import type { Logger } from '../../log.js';

export interface DeliveryOptions {
  retryMinSec: number;
  retryMaxSec: number;
  /** how long one push waits for a device to answer */
  timeoutMs: number;
  /** ms between expiry sweeps (deferred.sweepInterval) */
  sweepIntervalMs?: number;
}

/** stored messages read (and decrypted) at a time; their deletes share commits */
const BATCH = 200;
/** pushes in flight to one user whose devices are all on connections (the connection keeps the order) */
const STREAM_WINDOW = 32;
/** pushes in flight to one user with a device over UDP (see run()) */
const UDP_WINDOW = 8;
/** delivered messages removed together */
const REMOVE_EVERY = 50;

/**
 * Pushes stored messages to a user who has come online (P2): in arrival order,
 * a window at a time, each with its original sender and a Date header with its
 * original time; a message is removed only after a 2xx. Failures back off.
 */
export class DeferredDelivery {
  /** Told of each stored message a device accepted (/metrics, usage records). */
  onDelivered: ((m: StoredMessage) => void) | null = null;
  /**
   * Why a stored message may no longer go to its recipient, asked just before its push (their
   * service profile changed while it waited, Y1/Y3), or null. A refused message is removed
   * unpushed: waiting longer would not change the answer.
   */
  refusal: ((m: StoredMessage) => { status: number; reason: string } | null) | null = null;
  /** Told of each stored message removed for its refusal (negative IMDN, usage record). */
  onRefused: ((m: StoredMessage, why: { status: number; reason: string }) => void) | null = null;
  private readonly running = new Set<string>();
  private readonly again = new Set<string>();
  private readonly retries = new Map<string, NodeJS.Timeout>();
  /** runs that threw in a row, per user: their retries back off */
  private readonly failedRuns = new Map<string, number>();
  private sweeper: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly stack: SipStack,
    private readonly store: DeferredStore,
    private readonly location: LocationService,
    private readonly domain: LocalDomain,
    private readonly opts: DeliveryOptions,
    private readonly log: Logger,
  ) {}

  /**
   * Starts the expiry sweep, the first one at once: messages that expired while the server was
   * down go now, their senders told as the live sweep tells them (RFC 5438 §8.2); then pushes to
   * whoever is online with mail waiting (after a restart). Call it once the SIP stack runs.
   */
  start(): void {
    const sweep = () => void this.store.purgeExpired().catch((err) => this.log.warn({ err }, 'expiry sweep failed'));
    sweep();
    this.sweeper = setInterval(sweep, this.opts.sweepIntervalMs ?? 60_000);
    this.sweeper.unref();
    for (const user of this.store.recipients) if (this.location.lookup(this.domain.aor(user)).length > 0) this.kick(user);
  }

  stop(): void {
    this.stopped = true;
    if (this.sweeper) clearInterval(this.sweeper);
    for (const t of this.retries.values()) clearTimeout(t);
  }

  /** A user gained a contact: deliver what waits for them now. */
  onRegistered(username: string): void {
    if (this.store.pendingFor(username) === 0) return;
    const t = this.retries.get(username);
    if (t) {
      clearTimeout(t);
      this.retries.delete(username);
    }
    this.kick(username);
  }

  /** Every device failed to take a live message: try again later. */
  scheduleRetry(username: string, attempts: number): void {
    if (this.retries.has(username) || this.stopped) return;
    const delay = Math.min(this.opts.retryMaxSec, this.opts.retryMinSec * 2 ** Math.max(0, attempts - 1)) * 1000;
    const t = setTimeout(() => {
      this.retries.delete(username);
      this.kick(username);
    }, delay);
    t.unref();
    this.retries.set(username, t);
  }

  kick(username: string): void {
    if (this.running.has(username)) {
      this.again.add(username);
      return;
    }
    this.running.add(username);
    void this.run(username)
      .then(
        () => this.failedRuns.delete(username),
        (err: unknown) => {
          // stopping: the store closes under the run, and nothing is retried
          if (this.stopped) {
            this.log.debug({ err, username }, 'deferred delivery ended by the shutdown');
            return;
          }
          // a run that threw (the store unreadable for a while) is tried again like a failed
          // push, backing off while it keeps failing: otherwise a registered user's messages
          // would wait for their next REGISTER (registrar.maxExpires, an hour by default)
          const failed = (this.failedRuns.get(username) ?? 0) + 1;
          this.failedRuns.set(username, failed);
          this.log.error({ err, username, failed }, 'deferred delivery failed; will retry');
          // a kick that came during the run runs it again at once: that is the retry
          if (!this.again.has(username)) this.scheduleRetry(username, failed);
        },
      )
      .finally(() => {
        this.running.delete(username);
        if (this.again.delete(username)) this.kick(username);
      });
  }

  /**
   * Pushes the stored messages in arrival order, a window of them in flight at once: each is
   * sent only after every earlier one was sent, so they leave in order. Over TCP, TLS and
   * WebSocket the connection keeps that order up to the client (32 in flight). Over UDP nothing
   * does, but datagrams sent in order arrive in order unless one is lost; a lost one is sent
   * again by its transaction (RFC 3261 Timer E) and may then arrive after later ones, so UDP keeps
   * a smaller window (8), and every push carries its original time in `Date`.
   *
   * The messages are read BATCH at a time, each read after the previous one's last id, and the
   * next batch is read while the current one is pushed: the window never drains at a batch's end
   * (draining it, committing and reading again left the pushes waiting on the store; see
   * test/bench/README.md, session 7). A message is
   * removed only after its 2xx. The removals are not awaited one by one: they go 50 to a
   * statement and share commits, and all of them are committed before the run ends, so a later
   * run (which reads from the first) never reads a delivered message again; a crash before that
   * commit delivers it a second time (at-least-once, never lost). On the first failure no new
   * push is started; the ones in flight finish, and the failed ones wait for the retry. A store
   * read that throws stops the pushes the same way, and the run throws once they have finished.
   */
  private async run(username: string): Promise<void> {
    const aor = this.domain.aor(username);
    const delivered: StoredMessage[] = [];
    const removals: Promise<void>[] = [];
    const failures: { m: StoredMessage; status: number | null }[] = [];
    let noDevice = false;
    const feed = new BatchFeed((after) => this.store.oldest(username, BATCH, after));
    const asserting = new AssertedIdentities();
    // the hook read once per run; behind it, a Map read of the recipient's profile per message,
    // and a CPIM parse only when that profile filters content types (profile-policy.ts)
    const refusal = this.refusal;
    // what the pushers threw (a store read that failed): the others stop at their next message,
    // and the run throws only once none is left pushing, so that its retry never runs beside
    // pushes of its own (kick)
    const errors: unknown[] = [];
    const pushing = (): boolean => failures.length === 0 && errors.length === 0 && !noDevice && !this.stopped;
    const pushOne = async (): Promise<void> => {
      while (pushing()) {
        const m = feed.take();
        if (m === undefined) {
          if (await feed.more()) continue;
          return;
        }
        // from here to the send nothing is awaited, so the messages leave in the order taken
        const refused = refusal?.(m) ?? null;
        if (refused !== null) {
          this.log.info({ username, id: m.id, status: refused.status, reason: refused.reason }, 'stored message refused at push time');
          this.onRefused?.(m, refused);
          removals.push(this.store.removeMany([m]));
          continue;
        }
        const bindings = this.location.lookup(aor);
        if (bindings.length === 0) {
          noDevice = true; // wait for the next REGISTER
          return;
        }
        const asserted = asserting.of(m.fromHeader, m.senderAor);
        const outcome = await fork(this.stack, branchesFor(bindings, (b) => this.build(m, aor, b, asserted)), this.opts.timeoutMs);
        if (outcome.answered) {
          this.onDelivered?.(m);
          delivered.push(m);
          // removed in groups: one statement and one commit for many, while the pushes go on
          if (delivered.length >= REMOVE_EVERY) removals.push(this.store.removeMany(delivered.splice(0)));
        } else failures.push({ m, status: outcome.best?.status ?? null });
      }
    };
    try {
      const window = this.location.lookup(aor).every((b) => b.transport !== 'UDP') ? STREAM_WINDOW : UDP_WINDOW;
      const pusher = () => pushOne().catch((err: unknown) => void errors.push(err));
      await Promise.all(Array.from({ length: window }, pusher));
    } finally {
      removals.push(this.store.removeMany(delivered.splice(0)));
      await Promise.all(removals);
    }
    if (errors.length > 0) throw errors[0];
    if (noDevice || this.stopped || failures.length === 0) return;
    let attempts = 0;
    for (const { m, status } of failures) {
      attempts = Math.max(attempts, m.attempts + 1);
      const delay = Math.min(this.opts.retryMaxSec, this.opts.retryMinSec * 2 ** m.attempts);
      await this.store.recordFailure(m.id, m.attempts + 1, Date.now() + delay * 1000);
      this.log.info({ username, id: m.id, attempts: m.attempts + 1, status }, 'deferred push failed; will retry');
    }
    this.scheduleRetry(username, attempts);
  }

  /**
   * The pushed MESSAGE, a request we originate: the original sender (From as stored, with the
   * directory's display name, and its tag), our recipient, the original time (RFC 3261 §20.17
   * Date) and the original Call-ID. The push is the sender's request forwarded late, and a proxy
   * forwards a request with its Call-ID (RFC 3261 §16.6): SIP SIMPLE clients without CPIM
   * (liblinphone's basic chat rooms) take the Call-ID as the message's id, and the delivery
   * notification they send names it (RFC 5438 §11.1.1 <message-id>, matched as §7.1.2 says); a
   * new Call-ID left the sender with "Received IMDN for unknown message". Transactions are
   * matched by branch, so a reused Call-ID does not confuse them (RFC 3261 §17.2.3). A message
   * stored from MSRP has no Call-ID of its own: it gets a new one, and its receipt is matched by
   * the CPIM imdn.Message-ID it keeps (room.ts, absent-recipient-storage.ts).
   */
  private build(m: StoredMessage, aor: string, b: Binding, asserted: string): SipRequest {
    const h = new Headers();
    // RFC 3261 §8.1.1.3: a request's From carries a tag; messages stored from an MSRP session or
    // a room have none of their own (the session's From tag names another dialog)
    h.set('from', /;\s*tag=/i.test(m.fromHeader) ? m.fromHeader : `${m.fromHeader};tag=${this.stack.newId()}`);
    h.set('to', `<${aor}>`);
    h.set('call-id', m.callId ?? `${this.stack.newId()}@${this.stack.advertisedHost}`);
    h.set('cseq', '1 MESSAGE');
    h.set('max-forwards', '70');
    h.set('date', new Date(m.receivedAt).toUTCString());
    if (this.stack.userAgent) h.set('user-agent', this.stack.userAgent);
    h.set('content-type', m.contentType);
    return messageToDevice(b, h, m.body, asserted);
  }
}

/**
 * The P-Asserted-Identity of each message of one run, parsed once per sender and From name-addr:
 * a run's messages mostly come from a few senders, and only their From tags differ.
 */
class AssertedIdentities {
  private readonly known = new Map<string, string>();
  /** the previous message's sender, name-addr and answer: most runs are one sender's messages */
  private last: { senderAor: string; nameAddr: string; asserted: string } | null = null;

  of(fromHeader: string, senderAor: string): string {
    // up to the last '>': the whole name-addr (display name and URI), without the params after it
    const end = fromHeader.lastIndexOf('>');
    if (end < 0) return assertedFrom(fromHeader, senderAor);
    const last = this.last;
    if (last !== null && last.senderAor === senderAor && last.nameAddr.length === end + 1 && fromHeader.startsWith(last.nameAddr)) return last.asserted;
    const nameAddr = fromHeader.slice(0, end + 1);
    const key = `${senderAor}\n${nameAddr}`;
    let asserted = this.known.get(key);
    if (asserted === undefined) {
      asserted = assertedFrom(fromHeader, senderAor);
      this.known.set(key, asserted);
    }
    this.last = { senderAor, nameAddr, asserted };
    return asserted;
  }
}

/** The P-Asserted-Identity of a stored message: the display name stored in its From, and the sender's AOR. */
function assertedFrom(fromHeader: string, senderAor: string): string {
  try {
    const from = parseNameAddr(fromHeader, 'From');
    return formatNameAddr({ display: from.display, uri: parseUri(senderAor), params: [] });
  } catch {
    return `<${senderAor}>`;
  }
}

/**
 * The stored messages of one run, in id order, a batch at a time: `take` hands out the next one
 * synchronously (so the caller sends it before anyone takes the one after). The next batch is
 * read after the last id handed out; a full batch's successor is read as soon as half of it is
 * taken, so that it is there when the current one runs out. The feed ends at the first empty read.
 */
class BatchFeed {
  private batch: StoredMessage[] = [];
  private pos = 0;
  private lastId = 0;
  private ahead: Promise<StoredMessage[]> | null;
  private waiting: Promise<boolean> | null = null;
  private done = false;

  constructor(private readonly reader: (afterId: number) => Promise<StoredMessage[]>) {
    this.ahead = this.read(0);
  }

  /** A read that may never be awaited (the run stopped first): its failure must not go unhandled. */
  private read(afterId: number): Promise<StoredMessage[]> {
    const p = this.reader(afterId);
    p.catch(() => undefined);
    return p;
  }

  take(): StoredMessage | undefined {
    if (this.pos >= this.batch.length) return undefined;
    const m = this.batch[this.pos++];
    if (this.ahead === null && this.batch.length === BATCH && this.pos * 2 >= BATCH) this.ahead = this.read(this.batch[BATCH - 1].id);
    return m;
  }

  /** Waits for the next batch (one wait shared by every caller); false when there is none. */
  more(): Promise<boolean> {
    if (this.pos < this.batch.length) return Promise.resolve(true);
    if (this.done) return Promise.resolve(false);
    this.waiting ??= this.next().finally(() => {
      this.waiting = null;
    });
    return this.waiting;
  }

  private async next(): Promise<boolean> {
    if (this.batch.length > 0) this.lastId = this.batch[this.batch.length - 1].id;
    const ahead = this.ahead ?? this.read(this.lastId);
    this.ahead = null;
    this.batch = await ahead;
    this.pos = 0;
    if (this.batch.length === 0) this.done = true;
    return !this.done;
  }
}
