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
  private readonly data: Buffer;

  constructor(
    readonly key: string,
    readonly request: SipRequest,
    readonly destination: Destination,
    private readonly layer: ClientTransport,
    private readonly cb: ClientCallbacks,
    private readonly t: TimerValues,
  ) {
    this.timers = new TimerSet(layer.queues);
    this.isInvite = request.method === 'INVITE';
    this.state = this.isInvite ? 'calling' : 'trying';
    this.data = serialize(request);
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
        this.terminate();
        this.cb.onTimeout();
      }
    });
  }

  private send(data: Buffer): void {
    this.layer.send(data, this.destination, (err) => {
      if (this.state === 'terminated' || this.state === 'completed' || this.state === 'accepted') return;
      this.terminate();
      this.cb.onTransportError(err);
    });
  }

  receive(res: SipResponse): void {
    const { T1, T4 } = this.t;
    switch (this.state) {
      case 'calling':
      case 'trying':
      case 'proceeding':
        if (res.status < 200) {
          if (this.isInvite) this.timers.stop('retransmit');
          this.state = 'proceeding';
          this.cb.onProvisional?.(res);
          return;
        }
        this.timers.stop('retransmit');
        this.timers.stop('timeout');
        if (!this.isInvite) {
          this.state = 'completed';
          if (isReliable(this.destination.transport)) this.terminate();
          else if (this.layer.absorbCompleted !== undefined) {
            // Timer K kept by the layer on the key alone (RFC 3261 §17.1.2.2): nothing else is needed
            this.terminate();
            this.layer.absorbCompleted(this.key);
          } else this.endAfter(T4); // Timer K
        } else if (res.status < 300) {
          // RFC 6026 §8.4: Accepted, Timer M; 2xx retransmissions still go to the TU
          this.state = 'accepted';
          this.endAfter(64 * T1);
        } else {
          this.state = 'completed';
          this.sendAck(res);
          this.endAfter(isReliable(this.destination.transport) ? 0 : 32_000); // Timer D
        }
        this.cb.onFinal(res);
        return;
      case 'accepted':
        if (res.status >= 200 && res.status < 300) this.cb.onFinal(res);
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
  }
}

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
