import { randomBytes } from 'node:crypto';
import type { WebSocket } from 'ws';
import type { Logger } from '../log.js';
import type { AnyMessage, SipResponse, SipRequest } from './message/message.js';
import type { Rejected } from './message/parser.js';
import { createResponse, responseBytes, serialize } from './message/serializer.js';
import { getParam } from './message/params.js';
import { MAGIC_COOKIE, formatVia, stampedTopVia, withoutTopVia } from './message/via.js';
import { branchOfKey, rawBranch, rawServerKey, serverKeyOf, startsAsResponse } from './message/raw-key.js';
import { TransportLayer, type TransportOptions, type ListeningPorts } from './transport/transport-layer.js';
import { type Destination, type Source, type TransportName, isReliable } from './transport/transport-types.js';
import { ServerTransaction } from './transaction/server-transaction.js';
import { ClientTransaction, requestOnSameBranch } from './transaction/client-transaction.js';
import { CompletedResponses } from './transaction/completed-responses.js';
import { AtOnceMemo } from './transaction/at-once-memo.js';
import { LiveTable } from './transaction/live-table.js';
import type { ClientCallbacks } from './transaction/transaction-types.js';
import { type TimerValues } from './transaction/timers.js';
import { TimerQueues } from './transaction/timer-queues.js';
import { OverloadGuard, type OverloadOptions, type OverloadState } from './overload-guard.js';
import { LoadShedder } from './load-shedder.js';
import { LoopLag } from './loop-lag.js';
import { AckWait } from './dialog/ack-wait.js';
import type { SharedNonces } from './auth/nonces.js';
import { NONCE_MARK } from './transport/udp-gate.js';
import type { NativeChallenger } from './transport/udp.js';

export interface StackOptions {
  transport: TransportOptions;
  timers: TimerValues;
  /** host written in our Via headers and Contacts */
  advertisedHost: string;
  /** log every SIP message sent and received */
  trace: boolean;
  /** Server on our responses and User-Agent on requests we originate ('' for none) */
  userAgent: string;
  /** sheds new work when requests queue unread too long (null: never) */
  overload: OverloadOptions | null;
  /** answer UDP requests at their source port even without rport (RFC 3581 applied to all) */
  forceRport: boolean;
}

/** Methods whose 2xx (or 101–199 with a To tag) makes a dialog (RFC 3261 §12.1, RFC 6665 §4.1, RFC 3515 §2.4.4). */
const DIALOG_CREATING = new Set(['INVITE', 'SUBSCRIBE', 'REFER']);

/** How often the challenges the native socket answered are counted into /metrics (ms). */
const NATIVE_COUNT_MS = 1000;

/** The transaction user: the SIP core above the stack. */
export interface StackUser {
  /** A new request in a new server transaction, or an ACK for a 2xx (tx = null). */
  onRequest(req: SipRequest, tx: ServerTransaction | null): void;
  onFlowClosed(flowId: string): void;
  /**
   * A final answer known from the request alone, given before any transaction is made, or null
   * for the ordinary path. Only ever asked about non-INVITE requests outside a refusal's dialog.
   * `again`: the token of the answer given to this same request lately (its retransmission), to
   * make that answer again; null for a request not answered before.
   */
  answerAtOnce?(req: SipRequest, again: number | null): AtOnce | null;
  /**
   * The at-once answer the native UDP socket may give itself, `mark` where its nonce goes, or null
   * (asked once, at start). It must be what `answerAtOnce` answers every request of `methods` to a
   * user at one of `hosts` that carries no credentials, no To tag, no branch of ours and no
   * Proxy-Require, and has a Max-Forwards above 0 or none (udp_gate.c, plan_challenge).
   */
  nativeAtOnce?(mark: string): NativeAtOnce | null;
}

/** The challenge the native UDP socket answers itself (StackUser.nativeAtOnce). */
export interface NativeAtOnce {
  methods: string[];
  /** the hosts of our users' URIs, lower case */
  hosts: string[];
  status: number;
  reason: string;
  /** the header lines after the copied ones, each ending in CRLF, the mark where the nonce goes: for most clients, and for those `offersAll` names */
  lines: [string, string];
  offersAll: ((userAgent: string) => boolean) | null;
  nonces: SharedNonces;
}

/** A final response the transaction user knows before a transaction is made (StackUser.answerAtOnce). */
export interface AtOnce {
  status: number;
  reason: string;
  /** header lines beside those copied from the request, each ending in CRLF */
  lines: string;
  /**
   * What makes this answer again when given back as `again` (a challenge's nonce serial). With
   * one, a UDP request's answer is remembered by it (AtOnceMemo) rather than held as bytes.
   */
  token?: number;
}

export interface ReplyOptions {
  headers?: Record<string, string | string[]>;
  /** the To tag when the response creates a dialog whose local tag is already chosen */
  toTag?: string;
  body?: Buffer | string;
  contentType?: string;
  /** end the transaction at once instead of absorbing retransmissions (see SipError.stateless) */
  stateless?: boolean;
  /**
   * For a 2xx to an INVITE: resend it until its ACK (RFC 3261 §13.3.1.4), and call this when
   * none came within 64·T1 (the session SHOULD then be ended with a BYE).
   */
  onAckTimeout?: () => void;
  /** with onAckTimeout: told when the 2xx's ACK arrives (RFC 3261 §15: a UAS sends BYE only after it) */
  onAck?: () => void;
}

/**
 * The SIP stack: transports below, transactions in the middle (RFC 3261 §17
 * matching rules), and one user above.
 */
export class SipStack {
  // LiveTable, not Map: a Map's replaced tables keep their entries reachable from the old
  // generation, and every transaction would be promoted (see live-table.ts)
  private readonly servers = new LiveTable<ServerTransaction>();
  /** the branches of the live server transactions' keys (a first look, as CompletedResponses.mayHoldBranch) */
  private readonly serverBranches = new LiveTable<true>();
  private readonly clients = new LiveTable<ClientTransaction>();
  /** final responses of completed non-INVITE UDP transactions, for Timer J */
  private readonly completed: CompletedResponses;
  /** what makes at-once answers to UDP requests again, for Timer J too */
  private readonly atOnceMemo: AtOnceMemo;
  private readonly transports: TransportLayer;
  private user: StackUser | null = null;
  private readonly idPrefix = randomBytes(6).toString('base64url');
  private readonly overload: OverloadGuard | null;
  /** answers the guard's verdicts (503, 481, drop), statelessly */
  private readonly shedder: LoadShedder | null;
  private readonly loopLag = new LoopLag();
  private counter = 0;
  /** the Server header line of every response we build ('' when opts.userAgent is empty) */
  private readonly serverLine: string;

  constructor(
    private readonly opts: StackOptions,
    private readonly log: Logger,
  ) {
    this.transports = new TransportLayer(
      opts.transport,
      {
        intercept: (data, source) => {
          // a response is neither a retransmitted request to absorb nor new work to shed (half of
          // what reaches this hook in a relayed call when the native socket answers the challenge,
          // and its branch was looked up in three tables before it was let through all the same).
          // Responses no longer make the guard adjust here; requests and its ticker still do
          if (startsAsResponse(data)) return false;
          const branch = rawBranch(data);
          // a retransmission answered at once before is not new work: answered again, never refused
          return this.absorbRetransmission(data, source, branch) || (source.answeredAtOnce !== true && (this.shedder?.shedDatagram(data, source, branch) ?? false));
        },
        message: (msg, source) => this.onMessage(msg, source),
        rejected: (rej, source) => this.onRejected(rej, source),
        flowClosed: (flowId) => this.user?.onFlowClosed(flowId),
      },
      log,
    );
    const transports = this.transports;
    this.overload =
      opts.overload === null
        ? null
        : new OverloadGuard(opts.overload, () => transports.queueDelayMs(), undefined, () => this.loopLag.read(), () => this.loopLag.idle(), () => transports.receiveBufferFill());
    this.shedder = this.overload === null ? null : new LoadShedder(this.overload, this.idPrefix, opts.userAgent, (data, dest) => this.sendTo(data, dest), 64 * opts.timers.T1);
    this.completed = new CompletedResponses(64 * opts.timers.T1);
    this.atOnceMemo = new AtOnceMemo(64 * opts.timers.T1);
    this.serverLine = opts.userAgent ? `Server: ${opts.userAgent}\r\n` : '';
    this.acks = new AckWait(this.timerQueues, opts.timers, (data, dest) => this.sendTo(data, dest));
  }

  /** 2xx responses to INVITEs resent until their ACK (RFC 3261 §13.3.1.4) */
  private readonly acks: AckWait;

  get ports(): ListeningPorts {
    return this.transports.ports;
  }

  /** Which socket carries UDP: 'native' (udp-gate.ts) or 'node' (null without UDP). */
  get udpEngine(): 'native' | 'node' | null {
    return this.transports.udpEngine;
  }

  get advertisedHost(): string {
    return this.opts.advertisedHost;
  }

  /** What we write in User-Agent on requests we originate (RFC 3261 §20.41), or '' for nothing. */
  get userAgent(): string {
    return this.opts.userAgent;
  }

  get timers(): TimerValues {
    return this.opts.timers;
  }

  /** Counts for the benchmark and /metrics: live transactions, and completed ones held for Timer J. */
  get transactionCounts(): { server: number; client: number; completed: number; awaitingAck: number } {
    return { server: this.servers.size, client: this.clients.size, completed: this.completed.size, awaitingAck: this.acks.size };
  }

  setUser(user: StackUser): void {
    this.user = user;
  }

  /** Hands WebSockets of another sub-protocol (RFC 7977 "msrp") to its owner; call before start(). */
  serveWebSocketSubprotocol(name: string, maxPayload: number, adopt: (ws: WebSocket, remote: string, secure: boolean) => void): void {
    this.transports.serveWebSocketSubprotocol(name, maxPayload, adopt);
  }

  async start(): Promise<ListeningPorts> {
    const ports = await this.transports.start();
    // not while tracing, which logs every request (those the socket answers would not be)
    const udpGate = this.transports.udpGate;
    if (udpGate !== null && !this.opts.trace) this.challengeNatively(udpGate);
    if (this.overload !== null) {
      this.transports.probeQueue();
      this.loopLag.start();
      // the native UDP socket holds new work while finishing work goes first, and refuses what
      // waited too long where it reads it; not while tracing, which logs every request (those it
      // answers would not be)
      const gate = this.transports.udpGate;
      if (gate !== null && this.shedder !== null && !this.opts.trace) {
        gate.configure(this.shedder.gateConfig);
        this.overload.useGate(gate);
      }
    }
    return ports;
  }

  /**
   * Lets overload control tell the second half of a call (credentials for a nonce we issued
   * lately) from new work carrying made-up credentials: `issuedWithin` is the authenticator's check.
   */
  setNonceCheck(issuedWithin: (nonce: string, withinMs: number) => boolean): void {
    if (this.overload !== null) this.overload.nonceIssuedWithin = issuedWithin;
  }

  /**
   * Has the native UDP socket answer the challenge itself, where the transaction user offers one
   * (StackUser.nativeAtOnce): the first half of nearly every call, read, answered and sent with
   * no call into JavaScript (udp_gate.c, plan_challenge). Its To tags are ours (`idPrefix`, `.`,
   * a number: the stack's own have no `.`), its nonces the authenticator's table's.
   */
  private challengeNatively(gate: NativeChallenger): void {
    const plan = this.user?.nativeAtOnce?.(NONCE_MARK) ?? null;
    // the socket answers outside any transaction: never a method whose answer the stack keeps
    const methods = plan?.methods.filter((m) => m !== 'INVITE' && m !== 'ACK' && m !== 'CANCEL').slice(0, 4) ?? [];
    if (plan === null || methods.length === 0 || plan.hosts.length === 0) return;
    try {
      gate.challenge({
        methods,
        // a host past the socket's 16 is left to the stack: its requests go there, as before
        hosts: plan.hosts.filter((h) => h.length < 256).slice(0, 16),
        ownBranch: MAGIC_COOKIE + this.idPrefix,
        tagPrefix: this.idPrefix,
        status: `SIP/2.0 ${plan.status} ${plan.reason}`,
        // Server first, then the handler's lines: the order answerAtOnce writes them in
        lines: [this.serverLine + plan.lines[0], this.serverLine + plan.lines[1]],
        offersAll: plan.offersAll,
        forceRport: this.opts.forceRport,
        rememberMs: 64 * this.opts.timers.T1,
        maxMessageBytes: this.opts.transport.limits.maxMessageBytes,
        maxBodyBytes: this.opts.transport.limits.maxBodyBytes,
        nonces: plan.nonces,
      });
    } catch (err) {
      // a configuration the socket cannot hold (a realm too long for its template): the stack answers
      this.log.warn({ err }, 'the native UDP socket cannot answer the challenge itself: the stack does');
      return;
    }
    const counts = new Float64Array(4);
    const status = plan.status;
    this.countNativeAnswers = () => {
      gate.takeChallenged(counts);
      for (let k = 0; k < methods.length; k++) if (counts[k] > 0) this.onFinalResponse?.(methods[k], status, counts[k]);
    };
    this.nativeAnswerTimer = setInterval(this.countNativeAnswers, NATIVE_COUNT_MS);
    this.nativeAnswerTimer.unref();
  }

  /** what the native socket answered itself, told to onFinalResponse (each second, and at close) */
  private countNativeAnswers: (() => void) | null = null;
  private nativeAnswerTimer: NodeJS.Timeout | null = null;

  close(): void {
    if (this.nativeAnswerTimer !== null) clearInterval(this.nativeAnswerTimer);
    this.nativeAnswerTimer = null;
    this.countNativeAnswers?.();
    this.countNativeAnswers = null;
    this.loopLag.stop();
    this.overload?.stop();
    this.completed.clear();
    this.acks.clear();
    this.transports.close();
  }

  hasFlow(flowId: string): boolean {
    return this.transports.hasFlow(flowId);
  }

  /**
   * Tells the transports which connections the layers above still need, so that an idle one
   * is kept open while it carries a registration (RFC 5626 §5) or a subscription dialog.
   *
   * @example
   * stack.setFlowInUse((flowId) => location.usesFlow(flowId) || xcapDiff.usesFlow(flowId));
   */
  setFlowInUse(inUse: (flowId: string) => boolean): void {
    this.transports.setFlowInUse(inUse);
  }

  /** Whether overload control refused new work at some time in the last `ms` (see OverloadGuard.shedWithin). */
  overloadedWithin(ms: number): boolean {
    return this.overload !== null && this.overload.shedWithin(ms);
  }

  /** Overload control's level and counts, for /health (null when it is off). */
  get overloadState(): OverloadState | null {
    return this.overload?.state ?? null;
  }

  /** A unique token for branches, tags and Call-IDs. */
  newId(): string {
    return `${this.idPrefix}${(this.counter++).toString(36)}`;
  }

  newBranch(): string {
    return `${MAGIC_COOKIE}${this.newId()}`;
  }

  /** Whether a branch was made by this process (loop detection, RFC 3261 §16.3 step 4). */
  isOwnBranch(branch: string): boolean {
    return branch.startsWith(MAGIC_COOKIE + this.idPrefix);
  }

  /** Our Via for a request sent over `transport` (RFC 3261 §18.1.1, rport per RFC 3581). */
  via(transport: TransportName, branch: string): string {
    const port = this.ports[transport] ?? this.ports.UDP ?? 5060;
    return `SIP/2.0/${transport} ${this.opts.advertisedHost}:${port};branch=${branch};rport`;
  }

  // ---- incoming -------------------------------------------------------------

  /**
   * A UDP request that belongs to a live or lately completed server transaction is a
   * retransmission (RFC 3261 §17.2.3): it is matched on its key read from the raw bytes and
   * answered with the last response again (§17.2.1, §17.2.2), without the full parse and
   * validation whose result would be thrown away. It is asked first, so that under overload a
   * retransmission of admitted work is answered, not refused, and costs little. Anything the raw
   * look cannot read exactly takes the ordinary path, which matches it there.
   */
  private absorbRetransmission(data: Buffer, source: Source, branch: string | null): boolean {
    if (branch === null) return false;
    // most requests are new: ruled out on their branch alone, before the key is read
    if (!(this.serverBranches.has(branch) || this.completed.mayHoldBranch(branch) || this.atOnceMemo.mayHoldBranch(branch))) {
      // no completed transaction and no answer at once has it (both noes are exact): onRequest
      // need not search them
      source.newBranch = branch;
      return false;
    }
    const raw = rawServerKey(data);
    if (raw === null) return false;
    const existing = this.servers.get(raw.key);
    // an ACK never matches a completed non-INVITE transaction (they hold no INVITE)
    const done = existing !== undefined || raw.method === 'ACK' ? undefined : this.completed.get(raw.key);
    if (existing === undefined && done === undefined) {
      // answered at once before: made again from its own fields after the parse (answerAtOnce)
      const memoBranch = raw.method === 'ACK' ? null : branchOfKey(raw.key);
      if (memoBranch !== null && this.atOnceMemo.find(memoBranch, raw.key) >= 0) source.answeredAtOnce = true;
      return false;
    }
    if (this.opts.trace) this.trace('in', `${source.transport}:${source.address}:${source.port}`, data);
    if (existing !== undefined) existing.receive(raw.method);
    else this.sendTo(done!.data, done!.dest);
    return true;
  }

  private trace(dir: 'in' | 'out', peer: string, data: Buffer | AnyMessage): void {
    const text = Buffer.isBuffer(data) ? data.toString('utf8') : serialize(data).toString('utf8');
    this.log.info({ sip: dir, peer }, text);
  }

  private onMessage(msg: AnyMessage, source: Source): void {
    if (this.opts.trace) this.trace('in', `${source.transport}:${source.address}:${source.port}`, msg);
    try {
      if (msg.isRequest) this.onRequest(msg, source);
      else this.onResponse(msg);
    } catch (err) {
      this.log.error({ err }, 'failed to handle a SIP message');
    }
  }

  private serverKey(req: SipRequest, method: string): string {
    const via = req.topVia;
    // RFC 3261 §17.2.3 matching on branch, sent-by and method (see serverKeyOf)
    if (via.branch.startsWith(MAGIC_COOKIE)) return serverKeyOf(via.branch, via.host, via.port, method, req.callId, req.cseq.seq);
    // RFC 3261 §17.2.3: RFC 2543 matching for branches without the magic cookie
    return `2543|${req.callId}|${req.cseq.seq}|${req.fromTag ?? ''}|${via.host}:${via.port ?? ''}|${method}`;
  }

  private onRequest(req: SipRequest, source: Source): void {
    const stamped = stampedTopVia(req.topVia, source.address, source.port);
    if (stamped !== null) {
      const vias = req.vias;
      req.setVias([formatVia(stamped), ...withoutTopVia(req.headers.all('via'))], [stamped, ...vias.slice(1)]);
    }
    // the ACK for a 2xx we resend (RFC 3261 §13.3.1.4) stops it, whatever transaction it matches
    if (req.method === 'ACK') this.acks.acknowledge(req);
    const method = req.method === 'ACK' ? 'INVITE' : req.method;
    const key = this.serverKey(req, method);
    const existing = this.servers.get(key);
    if (existing) {
      existing.receive(req.method);
      return;
    }
    // a retransmission of a request whose transaction completed (RFC 3261 §17.2.2, Timer J). Not
    // searched again when the raw look's branch filter said no for this same branch (its no is
    // exact: absorbRetransmission). The live ones above are: their branches are kept by branch alone,
    // which two live transactions sharing a branch leave when the first ends. An RFC 2543 key has no
    // branch to be found by, so it is searched all the same
    const branch = source.newBranch;
    const ruledOut = branch != null && branch === req.topVia.branch && branch.startsWith(MAGIC_COOKIE);
    const done = ruledOut || req.method === 'ACK' ? undefined : this.completed.get(key);
    if (done !== undefined) {
      this.sendTo(done.data, done.dest);
      return;
    }
    // a retransmission of a request answered at once (the memo's no is as exact as the filter's):
    // the same answer again, before overload control, as a completed transaction's would be
    const memoBranch = ruledOut || req.method === 'ACK' || isReliable(source.transport) ? null : branchOfKey(key);
    const before = memoBranch === null ? -1 : this.atOnceMemo.find(memoBranch, key);
    if (before >= 0 && this.answerAtOnce(req, key, source, before)) return;
    // inside the "dialog" of one of our 503s, which made none (RFC 3261 §12.1): the raw look
    // answers these over UDP; this is the rest (connections, lines it could not read, late ones)
    const inRefusal = this.shedder !== null && this.shedder.hasRefused && this.shedder.isRefusalTag(req.toTag);
    if (req.method === 'ACK') {
      if (!inRefusal) this.user?.onRequest(req, null);
      return;
    }
    // UDP requests were already admitted or refused on their raw header lines (shedDatagram)
    const refusal = this.shedder !== null && source.transport !== 'UDP' ? this.shedder.refusal(req) : null;
    if (refusal !== null) {
      // RFC 3261 §21.5.4: refused before it costs anything, statelessly, with when to come back
      this.sendResponse(serialize(refusal), refusal, source);
      this.onFinalResponse?.(req.method, 503);
      return;
    }
    // new work read and served: the rate overload control starts from when the queue grows (not
    // REGISTERs, which it does not hold to that rate; credentials the guard would take for new
    // work, made up or stale, are not told apart here)
    if (this.overload !== null && req.method !== 'CANCEL' && req.method !== 'REGISTER' && req.toTag === undefined && !req.headers.has('proxy-authorization') && !req.headers.has('authorization')) {
      this.overload.noteNewWork();
    }
    if (method !== 'INVITE' && !inRefusal && this.answerAtOnce(req, key, source, -1)) return;
    const tx = new ServerTransaction(key, req, source, this.serverLayer, this.opts.timers);
    this.servers.set(key, tx);
    if (tx.branch !== null) this.serverBranches.set(tx.branch, true);
    if (inRefusal) {
      // RFC 3261 §12.2.2: no such dialog, and not to be relayed to a callee who never saw it
      this.reply(tx, 481, 'Call/Transaction Does Not Exist');
      return;
    }
    if (req.method === 'CANCEL') {
      this.onCancel(req, tx);
      return;
    }
    try {
      this.user?.onRequest(req, tx);
    } catch (err) {
      this.log.error({ err, method: req.method }, 'request handler failed');
      this.reply(tx, 500, 'Server Internal Error');
    }
  }

  /**
   * A final response sent as a stateless server sends it (RFC 3261 §8.2.7), when the transaction
   * user knows it from the request alone: no transaction object, no timer, nothing in the table
   * of live ones. For the first half of nearly every call: the challenge. False when the user
   * has no such answer, or its answer failed (the ordinary path answers then, 500 at worst).
   *
   * A retransmitted request gets the same response again (Timer J, §17.2.2; a new challenge would
   * carry another nonce and To tag, which SIPp takes for an unexpected message). Over UDP an
   * answer with a token is remembered by its To tag's number and that token (AtOnceMemo), and a
   * retransmission (`before`: its slot there, or -1 for a new request) is answered anew from
   * them, counted once; any other answer is held as bytes, as a completed transaction's is.
   */
  private answerAtOnce(req: SipRequest, key: string, source: Source, before: number): boolean {
    let a: AtOnce | null;
    try {
      a = this.user?.answerAtOnce?.(req, before < 0 ? null : this.atOnceMemo.tokenOf(before)) ?? null;
    } catch (err) {
      this.log.error({ err, method: req.method }, 'at-once answer failed');
      return false;
    }
    if (a === null) return false;
    const tag = before < 0 ? this.counter++ : this.atOnceMemo.tagOf(before);
    // Server first, then the handler's lines: the order `reply` writes them in
    const data = responseBytes(req, a.status, a.reason, `${this.idPrefix}${tag.toString(36)}`, `${this.serverLine}${a.lines}`);
    const dest = this.responseDestination(req, source);
    this.sendTo(data, dest);
    if (!isReliable(source.transport)) {
      const branch = branchOfKey(key);
      if (branch !== null && a.token !== undefined) this.atOnceMemo.remember(branch, key, tag, a.token);
      else this.completed.hold(key, branch !== null, data, dest);
    }
    if (before < 0) this.onFinalResponse?.(req.method, a.status);
    return true;
  }

  /** RFC 3261 §9.2: CANCEL matches the INVITE server transaction by its key. */
  private onCancel(cancel: SipRequest, tx: ServerTransaction): void {
    const invite = this.servers.get(this.serverKey(cancel, 'INVITE'));
    if (invite === undefined) {
      this.reply(tx, 481, 'Call/Transaction Does Not Exist');
      return;
    }
    this.reply(tx, 200, 'OK');
    if (invite.finished) return;
    if (invite.onCancel) invite.onCancel();
    else this.reply(invite, 487, 'Request Terminated');
  }

  private onResponse(res: SipResponse): void {
    const via = res.topVia;
    const key = `${via.branch}|${res.cseq.method}`;
    const tx = this.clients.get(key);
    if (tx) tx.receive(res);
    // a retransmission of a completed transaction's final response (absorbed, as Timer K would:
    // RFC 3261 §17.1.2.2) or a stray: the core relays only what a transaction hands it, so both
    // are dropped, and nothing is kept to tell them apart
    else this.log.debug({ status: res.status, callId: res.callId }, 'response matching no transaction dropped');
  }

  /** A request that failed to parse gets its answer without a transaction (RFC 3261 §8.2). */
  private onRejected(rej: Rejected, source: Source): void {
    this.log.debug({ status: rej.status, reason: rej.reason, from: `${source.address}:${source.port}` }, 'message rejected');
    if (!rej.isRequest || rej.status === 0 || rej.headers.all('via').length === 0) return;
    if (/\bACK\s*$/i.test(rej.headers.get('cseq') ?? '')) return;
    const res = createResponse(rej.headers, rej.status, rej.reason, this.newId());
    if (this.opts.userAgent) res.headers.set('server', this.opts.userAgent);
    this.sendResponse(serialize(res), res, source);
  }

  // ---- outgoing -------------------------------------------------------------

  /** the transactions' timers, one queue per duration (and the fork deadlines above us) */
  readonly timerQueues = new TimerQueues((err) => this.log.error({ err }, 'a SIP timer failed'));

  private readonly serverLayer = {
    queues: this.timerQueues,
    responseDestination: (res: SipResponse, source: Source) => this.responseDestination(res, source),
    send: (data: Buffer, dest: Destination) => this.sendTo(data, dest),
    remove: (key: string, branch: string | null) => {
      this.servers.delete(key);
      // a CANCEL shares its INVITE's branch: the other may live on, and is then found the ordinary way
      if (branch !== null) this.serverBranches.delete(branch);
    },
    holdCompleted: (key: string, branch: string | null, data: Buffer, dest: Destination) => this.completed.hold(key, branch !== null, data, dest),
    finalSent: (method: string, status: number) => this.onFinalResponse?.(method, status),
  };

  /**
   * Told of every final response we send, in a transaction or refusing one under overload, `count`
   * at once for those the native socket sent itself (/metrics).
   */
  onFinalResponse: ((method: string, status: number, count?: number) => void) | null = null;

  private readonly clientLayer = {
    queues: this.timerQueues,
    send: (data: Buffer, dest: Destination, onError: (err: Error) => void) => {
      if (this.opts.trace) this.trace('out', `${dest.transport}:${dest.address}:${dest.port}`, data);
      this.transports.send(data, dest, onError);
    },
    remove: (key: string) => this.clients.delete(key),
    // see onResponse: what matches no transaction is dropped, so Timer K has nothing to do
    dropsUnmatchedResponses: true,
  };

  /**
   * Where RFC 3261 §18.2.2 sends a response: back over the same flow on reliable
   * transports, else to the source address (and source port with rport).
   */
  private responseDestination(res: SipResponse | SipRequest, source: Source): Destination {
    if (isReliable(source.transport)) return { transport: source.transport, address: source.address, port: source.port, flowId: source.flowId };
    let port = source.port;
    if (!this.opts.forceRport) {
      try {
        const via = res.topVia;
        if (getParam(via.params, 'rport') === undefined) port = via.port ?? 5060;
      } catch {
        // unreadable Via: answer the source
      }
    }
    return { transport: 'UDP', address: source.address, port };
  }

  private sendTo(data: Buffer, dest: Destination): void {
    if (this.opts.trace) this.trace('out', `${dest.transport}:${dest.address}:${dest.port}`, data);
    this.transports.send(data, dest, this.logSendFailure);
  }

  private readonly logSendFailure = (err: Error): void => this.log.debug({ err }, 'response could not be sent');

  /** Sends a response outside any transaction (stateless). */
  sendResponse(data: Buffer, res: SipResponse, source: Source): void {
    this.sendTo(data, this.responseDestination(res, source));
  }

  /** Builds and sends a response in a server transaction. */
  reply(tx: ServerTransaction, status: number, reason: string, opts: ReplyOptions = {}): SipResponse | null {
    if (tx.finished) return null;
    if (opts.toTag !== undefined) tx.toTag = opts.toTag;
    const req = tx.request;
    const res = createResponse(req, status, reason, status > 100 ? this.toTagFor(tx) : undefined);
    // RFC 3261 §12.1.1: a response that makes a dialog (early or confirmed) copies the request's
    // Record-Route, so that the peer's route set is the same as ours
    if (status > 100 && status < 300 && req.toTag === undefined && DIALOG_CREATING.has(req.method)) {
      const rr = req.headers.all('record-route');
      if (rr.length > 0) res.headers.set('record-route', rr);
    }
    if (this.opts.userAgent) res.headers.set('server', this.opts.userAgent);
    if (opts.headers) for (const [name, value] of Object.entries(opts.headers)) res.headers.set(name, value);
    if (opts.body !== undefined) {
      res.body = typeof opts.body === 'string' ? Buffer.from(opts.body) : opts.body;
      if (opts.contentType) res.headers.set('content-type', opts.contentType);
    }
    tx.respond(res);
    if (opts.onAckTimeout !== undefined && tx.isInvite && status >= 200 && status < 300 && tx.lastSent !== null) {
      this.acks.start(req.callId, tx.toTag ?? '', req.cseq.seq, tx.lastSent, tx.reliable, opts.onAckTimeout, opts.onAck);
    }
    if (opts.stateless && status >= 200) tx.terminate();
    return res;
  }

  /** The same To tag for every response of one transaction (RFC 3261 §8.2.6.2). */
  private toTagFor(tx: ServerTransaction): string {
    return (tx.toTag ??= this.newId());
  }

  /**
   * Sends a request outside any transaction, with our Via and a fresh branch: the ACK for a 2xx,
   * which the UAC core sends itself (RFC 3261 §13.2.2.4, §17.1.1.3).
   */
  sendStateless(req: SipRequest, dest: Destination): void {
    req.headers.prepend('via', this.via(dest.transport, this.newBranch()));
    req.invalidate();
    this.sendTo(serialize(req), dest);
  }

  /**
   * CANCELs a pending INVITE client transaction (RFC 3261 §9.1): the same Request-URI, Call-ID,
   * From, To, CSeq number and top Via (so the same branch) as the INVITE, method CANCEL.
   */
  cancel(invite: ClientTransaction, cb: ClientCallbacks): ClientTransaction {
    const req = invite.request;
    const cancel = requestOnSameBranch(req, 'CANCEL', req.headers.get('to') ?? '');
    const branch = req.topVia.branch;
    const tx = new ClientTransaction(`${branch}|CANCEL`, cancel, invite.destination, this.clientLayer, cb, this.opts.timers);
    this.clients.set(tx.key, tx);
    tx.start();
    return tx;
  }

  /**
   * Sends a request in a new client transaction. The caller has put everything
   * in it but our Via, which is added here with a fresh branch.
   */
  sendRequest(req: SipRequest, dest: Destination, cb: ClientCallbacks): ClientTransaction {
    const branch = this.newBranch();
    req.headers.prepend('via', this.via(dest.transport, branch));
    req.invalidate();
    const key = `${branch}|${req.method}`;
    const tx = new ClientTransaction(key, req, dest, this.clientLayer, cb, this.opts.timers);
    this.clients.set(key, tx);
    tx.start();
    return tx;
  }
}
