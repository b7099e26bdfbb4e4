import type { SipRequest } from '../sip/message/message.js';
import type { ServerTransaction } from '../sip/transaction/server-transaction.js';
import type { AtOnce, NativeAtOnce, SipStack, StackUser } from '../sip/stack.js';
import { SipAnswer, SipError } from '../sip/errors.js';
import { isSipUri } from '../sip/message/uri.js';
import type { Logger } from '../log.js';
import type { LocalDomain } from './local-domain.js';
import { SUPPORTED, checkProxyRequire, checkRequire } from './extensions.js';

/**
 * A function of the appliance that answers one kind of request; it throws a SipError to refuse,
 * or returns the answer (SipAnswer) when it knows it at once, which costs less than a throw.
 */
export type RequestHandler = (req: SipRequest, tx: ServerTransaction) => Promise<void> | void | SipAnswer;

/**
 * What a handler answers before it needs a transaction: `answer` must be exactly what the handler
 * itself would answer a request that `applies` accepts and that passes the router's own checks.
 * `applies` is asked first and must be cheap: most requests of the method are not for it (the
 * MESSAGE with credentials, the second half of every call), and they should not pay for the
 * router's checks twice, here and again in `dispatch`.
 */
export interface AtOnceHandler {
  applies(req: SipRequest): boolean;
  /** `again`: the token of the answer given to this request before (StackUser.answerAtOnce) */
  answer(req: SipRequest, again: number | null): AtOnce;
  /**
   * What `answer` answers a request that `applies` accepts because it has no credentials at all,
   * as the native socket writes it, `mark` where the nonce goes (StackUser.nativeAtOnce).
   */
  native?(mark: string): Omit<NativeAtOnce, 'methods' | 'hosts'>;
}

/** Methods `dispatch` serves before its table of methods: an at-once answer never speaks for them. */
const NOT_FROM_TABLE = new Set(['REGISTER', 'SUBSCRIBE', 'OPTIONS', 'ACK', 'CANCEL']);

/** Bodies we take (MESSAGE bodies are relayed whatever their type). */
const ACCEPT = ['text/plain', 'message/cpim', 'application/im-iscomposing+xml', '*/*'];

/**
 * The SIP/IP core's dispatcher: the checks every request goes through (RFC 3261 §16.3 request
 * validation, §8.2 UAS checks for requests to the server itself), then a table from method,
 * and for SUBSCRIBE from event package (RFC 6665 §8.2.2), to the function that serves it.
 * Every SipError a handler throws becomes its response here, in one place.
 */
export class Router implements StackUser {
  private readonly methods = new Map<string, RequestHandler>();
  private readonly events = new Map<string, RequestHandler>();
  private readonly atOnce = new Map<string, AtOnceHandler>();
  private registrar: RequestHandler | null = null;
  /** told when a connection-oriented flow closes (bindings over it go) */
  onFlowClosed: (flowId: string) => void = () => undefined;

  constructor(
    private readonly stack: SipStack,
    private readonly domain: LocalDomain,
    private readonly log: Logger,
  ) {}

  /** REGISTER: served by the registrar for our domain whatever its Request-URI user part. */
  serveRegister(handler: RequestHandler): this {
    this.registrar = handler;
    return this;
  }

  /** Requests of `method` addressed to our users or our dialogs (MESSAGE, INVITE, BYE; PUBLISH later). */
  serve(method: string, handler: RequestHandler): this {
    this.methods.set(method, handler);
    // an at-once answer speaks for the handler it was given beside, not for a new one
    this.atOnce.delete(method);
    return this;
  }

  /**
   * Requests of `method` to one of our users that the method's handler may answer before any
   * transaction is made (the MESSAGE challenge: the first half of nearly every call). Given after
   * `serve` for the same method, whose handler it speaks for.
   */
  serveAtOnce(method: string, handler: AtOnceHandler): this {
    this.atOnce.set(method, handler);
    return this;
  }

  /** SUBSCRIBE for one event package, initial and in-dialog alike (the handler tells them apart). */
  serveEvent(event: string, handler: RequestHandler): this {
    this.events.set(event, handler);
    return this;
  }

  /** The methods we handle, for Allow (RFC 3261 §20.5). */
  get allow(): string[] {
    const out = this.registrar ? ['REGISTER'] : [];
    out.push(...this.methods.keys());
    if (this.events.size > 0) out.push('SUBSCRIBE');
    out.push('OPTIONS', 'ACK', 'CANCEL');
    return out;
  }

  onRequest(req: SipRequest, tx: ServerTransaction | null): void {
    if (tx === null) return; // an ACK for a 2xx: no dialogs end here yet
    let work: Promise<void> | void | SipAnswer;
    try {
      work = this.dispatch(req, tx);
    } catch (err) {
      this.fail(tx, err);
      return;
    }
    // a returned answer goes the way a thrown one does (never a throw out of here either)
    if (work instanceof SipAnswer) this.fail(tx, work);
    else if (work) work.catch((err: unknown) => this.fail(tx, err));
  }

  /**
   * The stack asks before it makes a transaction. Only a request to one of our users that
   * passes every check `dispatch` makes before the handler is put to the handler's at-once
   * answer; anything else (a refusal to come, a Proxy-Require to judge, a dialog) is left to the
   * ordinary path, so the answer is the same either way.
   */
  answerAtOnce(req: SipRequest, again: number | null): AtOnce | null {
    const handler = this.atOnce.get(req.method);
    if (handler === undefined || !handler.applies(req)) return null;
    // only for a method dispatch takes to the handler beside it (not its own answers, not a 405)
    if (NOT_FROM_TABLE.has(req.method) || !this.methods.has(req.method) || req.toTag !== undefined) return null;
    const ruri = req.uri;
    if (!isSipUri(ruri) || ruri.user === null || !this.domain.isLocal(ruri.host)) return null;
    // RFC 3261 §16.3 steps 3 to 5, as dispatch takes them
    if (req.maxForwards === 0 || this.isLoop(req) || req.headers.has('proxy-require')) return null;
    return handler.answer(req, again);
  }

  /**
   * The at-once answer the native UDP socket may give itself: the first at-once handler that can
   * be written there, for every method it serves that `answerAtOnce` would put to it; the checks
   * the router makes there are made by the socket (udp_gate.c, plan_challenge).
   */
  nativeAtOnce(mark: string): NativeAtOnce | null {
    for (const handler of new Set(this.atOnce.values())) {
      if (handler.native === undefined) continue;
      const methods = [...this.atOnce].filter(([m, h]) => h === handler && !NOT_FROM_TABLE.has(m) && this.methods.has(m)).map(([m]) => m);
      if (methods.length === 0) continue;
      return { ...handler.native(mark), methods, hosts: this.domain.hostNames };
    }
    return null;
  }

  /** Sends a handler's answer (a returned SipAnswer or a thrown SipError). */
  private answer(tx: ServerTransaction, a: SipAnswer | SipError): void {
    this.stack.reply(tx, a.status, a.reason, { headers: a.headers, stateless: a.stateless });
  }

  /**
   * Turns a failure into the response. Total: it never throws, even when the transaction has
   * already answered (a failure after the final response is logged, and the process goes on).
   */
  private fail(tx: ServerTransaction, err: unknown): void {
    try {
      if (tx.finished) {
        this.log.error({ err, method: tx.method, callId: tx.callId }, 'request failed after its final response');
        return;
      }
      if (err instanceof SipError || err instanceof SipAnswer) {
        this.answer(tx, err);
        return;
      }
      this.log.error({ err, method: tx.method, callId: tx.callId }, 'request failed');
      this.stack.reply(tx, 500, 'Server Internal Error');
    } catch (second) {
      this.log.error({ err: second, first: err }, 'could not answer a failed request');
    }
  }

  private dispatch(req: SipRequest, tx: ServerTransaction): Promise<void> | void | SipAnswer {
    const ruri = req.uri;
    // RFC 3261 §8.2.2.1 / §16.3 step 2: a scheme we cannot route (RFC 4475 unkscm, novelsc)
    if (!isSipUri(ruri)) throw new SipError(416, 'Unsupported URI Scheme');
    const forUs = this.domain.isLocal(ruri.host);
    if (req.method === 'REGISTER' && this.registrar) return this.registrar(req, tx);
    if (forUs && ruri.user === null) return this.serveLocally(req, tx);
    // RFC 3261 §16.3 steps 3 to 5: hop count, loops, Proxy-Require
    if (req.maxForwards === 0) throw new SipError(483, 'Too Many Hops');
    if (this.isLoop(req)) throw new SipError(482, 'Loop Detected');
    checkProxyRequire(req);
    if (!forUs) {
      checkRequire(req);
      throw new SipError(403, 'Relaying to other domains is not enabled');
    }
    if (req.method === 'SUBSCRIBE') {
      const event = (req.headers.get('event') ?? '').split(';')[0].trim().toLowerCase();
      const handler = this.events.get(event);
      if (handler === undefined) throw new SipError(489, 'Bad Event', { 'Allow-Events': [...this.events.keys()].join(', ') });
      return handler(req, tx);
    }
    if (req.method === 'OPTIONS') return this.serveLocally(req, tx);
    // a BYE for a dialog nobody here holds (no session handler, or none of its dialogs)
    if (req.method === 'BYE' && !this.methods.has('BYE')) throw new SipError(481, 'Call/Transaction Does Not Exist');
    const handler = this.methods.get(req.method);
    if (handler === undefined) throw new SipError(405, 'Method Not Allowed', { Allow: this.allow.join(', ') });
    return handler(req, tx);
  }

  /** Requests to the server itself: OPTIONS probes get our capabilities (RFC 3261 §11.2). */
  private serveLocally(req: SipRequest, tx: ServerTransaction): void {
    checkRequire(req);
    if (req.method === 'OPTIONS') {
      const headers: Record<string, string> = { Allow: this.allow.join(', '), Accept: ACCEPT.join(', '), 'Accept-Encoding': 'identity', 'Allow-Events': [...this.events.keys()].join(', ') };
      // RFC 3261 §20.37: Supported lists the option tags we support; with none, no header at all
      if (SUPPORTED.length > 0) headers.Supported = SUPPORTED.join(', ');
      this.stack.reply(tx, 200, 'OK', { headers });
      return;
    }
    if (req.method === 'BYE') throw new SipError(481, 'Call/Transaction Does Not Exist');
    throw new SipError(405, 'Method Not Allowed', { Allow: this.allow.join(', ') });
  }

  /** RFC 3261 §16.3 step 4: a Via with a branch we made means the request came back to us. */
  private isLoop(req: SipRequest): boolean {
    return req.vias.some((v) => this.stack.isOwnBranch(v.branch));
  }
}
