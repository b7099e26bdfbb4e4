import type { SipRequest, SipResponse } from '../message/message.js';
import { SipRequest as Request } from '../message/message.js';
import { Headers } from '../message/headers.js';
import { serialize } from '../message/serializer.js';
import { isReliable, type Destination } from '../transport/transport-types.js';
import type { ClientCallbacks, ClientState, ClientTransport } from './transaction-types.js';
import { TimerSet, type TimerValues } from './timers.js';

/**
 * A client transaction (RFC 3261 §17.1, amended by RFC 6026): retransmits
 * over unreliable transports, times out, and hands each response to its user once.
 */
export class ClientTransaction {
  state: ClientState;
  readonly isInvite: boolean;
  private readonly timers: TimerSet;
  /** the request, its bytes and its user: let go of when the transaction ends (see `release`) */
  private req: SipRequest | null;
  private data: Buffer;
  private cb: ClientCallbacks;

  constructor(
    readonly key: string,
    request: SipRequest,
    readonly destination: Destination,
    private readonly layer: ClientTransport,
    cb: ClientCallbacks,
    private readonly t: TimerValues,
  ) {
    this.timers = new TimerSet(layer.queues);
    this.req = request;
    this.cb = cb;
    this.isInvite = request.method === 'INVITE';
    this.state = this.isInvite ? 'calling' : 'trying';
    this.data = serialize(request);
  }

  /** The request sent; only while the transaction lives (a CANCEL or an ACK is built from it). */
  get request(): SipRequest {
    if (this.req === null) throw new Error('client transaction already ended');
    return this.req;
  }

  start(): void {
    const { T1, T2 } = this.t;
    this.send(this.data);
    if (!isReliable(this.destination.transport)) {
      // Timer A (INVITE) / Timer E (non-INVITE): T1, doubling; E is capped at T2
      let interval = T1;
      const retransmit = (): void => {
        if (this.state !== 'calling' && this.state !== 'trying' && !(this.state === 'proceeding' && !this.isInvite)) return;
        this.send(this.data);
        interval = this.isInvite ? 2 * interval : this.state === 'proceeding' ? T2 : Math.min(2 * interval, T2);
        this.timers.start('retransmit', interval, retransmit);
      };
      this.timers.start('retransmit', interval, retransmit);
    }
    // Timer B / Timer F
    this.timers.start('timeout', 64 * T1, () => {
      if (this.state === 'calling' || this.state === 'trying' || this.state === 'proceeding') {
        const cb = this.cb;
        this.terminate();
        cb.onTimeout();
      }
    });
  }

  private send(data: Buffer): void {
    this.layer.send(data, this.destination, (err) => {
      if (this.state === 'terminated' || this.state === 'completed' || this.state === 'accepted') return;
      const cb = this.cb;
      this.terminate();
      cb.onTransportError(err);
    });
  }

  receive(res: SipResponse): void {
    const { T1, T4 } = this.t;
    // taken first: a final response may end the transaction, which lets go of its callbacks
    const cb = this.cb;
    switch (this.state) {
      case 'calling':
      case 'trying':
      case 'proceeding':
        if (res.status < 200) {
          if (this.isInvite) this.timers.stop('retransmit');
          this.state = 'proceeding';
          cb.onProvisional?.(res);
          return;
        }
        this.timers.stop('retransmit');
        this.timers.stop('timeout');
        if (!this.isInvite) {
          this.state = 'completed';
          if (isReliable(this.destination.transport)) this.terminate();
          // Timer K absorbs what the layer drops anyway (RFC 3261 §17.1.2.2): nothing need wait
          else if (this.layer.dropsUnmatchedResponses === true) this.terminate();
          else this.endAfter(T4); // Timer K
        } else if (res.status < 300) {
          // RFC 6026 §8.4: Accepted, Timer M; 2xx retransmissions still go to the TU
          this.state = 'accepted';
          this.endAfter(64 * T1);
        } else {
          this.state = 'completed';
          this.sendAck(res);
          this.endAfter(isReliable(this.destination.transport) ? 0 : 32_000); // Timer D
        }
        cb.onFinal(res);
        return;
      case 'accepted':
        if (res.status >= 200 && res.status < 300) cb.onFinal(res);
        return;
      case 'completed':
        // retransmitted final response: for INVITE resend the ACK (RFC 3261 §17.1.1.2)
        if (this.isInvite && res.status >= 300) this.sendAck(res);
        return;
      default:
        return;
    }
  }

  /** The ACK for a non-2xx final response (RFC 3261 §17.1.1.3): the To of the response. */
  private sendAck(res: SipResponse): void {
    this.send(serialize(requestOnSameBranch(this.request, 'ACK', res.headers.get('to') ?? '')));
  }

  private endAfter(ms: number): void {
    if (ms === 0) this.terminate();
    else this.timers.start('end', ms, () => this.terminate());
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.timers.clear();
    this.layer.remove(this.key);
    this.release();
  }

  /**
   * Lets go of the request, its bytes and the user's callbacks (which hold the fork, and through
   * it the whole call) once the transaction has ended. An ended transaction can still be reached
   * for a while from places the garbage collector scans as roots: a V8 Map's tables replaced by
   * a rehash keep their old entries and point to the next table, and once one such table has
   * been promoted, each next one is kept through young collections until a full one. Released,
   * a transaction kept that way holds a few fields, not its call (test/bench/README.md, "Session 10").
   */
  private release(): void {
    this.req = null;
    this.data = EMPTY;
    this.cb = ENDED;
  }
}

const EMPTY = Buffer.alloc(0);
/** The callbacks of an ended transaction: nothing is told any more. */
const ENDED: ClientCallbacks = { onFinal: () => undefined, onTimeout: () => undefined, onTransportError: () => undefined };

/**
 * A request that goes with an INVITE on its branch: the ACK for a non-2xx response (RFC 3261
 * §17.1.1.3) and the CANCEL (§9.1) carry the INVITE's Request-URI, top Via, Route, From,
 * Call-ID and CSeq number, with their own method, and `to` (the response's To for the ACK).
 */
export function requestOnSameBranch(req: SipRequest, method: 'ACK' | 'CANCEL', to: string): SipRequest {
  const h = new Headers();
  h.set('via', req.headers.all('via')[0]);
  const route = req.headers.all('route');
  if (route.length > 0) h.set('route', route);
  h.set('max-forwards', '70');
  h.set('from', req.headers.get('from') ?? '');
  h.set('to', to);
  h.set('call-id', req.callId);
  h.set('cseq', `${req.cseq.seq} ${method}`);
  return new Request(method, req.uri, req.uriText, h, Buffer.alloc(0));
}
