import type { SipRequest, SipResponse } from '../message/message.js';
import { serialize, createResponse } from '../message/serializer.js';
import { isReliable, type Source, type Destination } from '../transport/transport-types.js';
import type { ServerState, ServerTransport } from './transaction-types.js';
import { TimerSet, type TimerValues } from './timers.js';
import { detached } from '../../util/detached.js';
import { branchOfKey } from '../message/raw-key.js';

/**
 * A server transaction (RFC 3261 §17.2, amended by RFC 6026): absorbs request
 * retransmissions, resends the last response, and ends by its timers.
 */
export class ServerTransaction {
  state: ServerState;
  readonly isInvite: boolean;
  /** kept after the request is released, for logs about a transaction that has answered */
  readonly method: string;
  readonly callId: string;
  /**
   * The branch the key starts with, or null for an RFC 2543 key: the stack indexes live and
   * completed transactions by it, and this one string serves every look. Cut from the key, not
   * taken from the parsed Via: that one is a slice of the request's whole header text, which a
   * completed transaction's entry would then keep alive for Timer J's 32 s.
   */
  readonly branch: string | null;
  /** the last response sent, as bytes with where they go: all a finished transaction keeps */
  private last: { data: Buffer; dest: Destination } | null = null;
  private req: SipRequest | null;
  private readonly timers: TimerSet;
  /** the To tag of our responses, chosen with the first one that needs it (RFC 3261 §8.2.6.2) */
  toTag: string | null = null;
  /** set by the TU to learn of a CANCEL (RFC 3261 §9.2) */
  onCancel: (() => void) | null = null;
  /** RFC 3261 §17.2.1: Timer H fired without an ACK */
  onAckTimeout: (() => void) | null = null;

  constructor(
    readonly key: string,
    request: SipRequest,
    readonly source: Source,
    private readonly layer: ServerTransport,
    private readonly t: TimerValues,
  ) {
    this.timers = new TimerSet(layer.queues);
    this.req = request;
    this.method = request.method;
    // copied: a slice would keep the request's whole header text alive as long as the transaction
    this.callId = detached(request.callId);
    this.branch = branchOfKey(key);
    this.isInvite = request.method === 'INVITE';
    this.state = this.isInvite ? 'proceeding' : 'trying';
    // RFC 3261 §17.2.1: a 100 Trying if the TU has not answered within 200 ms
    if (this.isInvite) this.timers.start('trying', 200, () => this.sendTrying());
  }

  /**
   * The request. It is released once the final response is sent, because a
   * completed transaction lives on for Timer J (32 s on UDP) and need not hold it.
   */
  get request(): SipRequest {
    if (this.req === null) throw new Error('transaction already answered');
    return this.req;
  }

  /** The last response sent, as bytes with where they went (the UAS core resends a 2xx itself, RFC 3261 §13.3.1.4). */
  get lastSent(): { data: Buffer; dest: Destination } | null {
    return this.last;
  }

  get reliable(): boolean {
    return isReliable(this.source.transport);
  }

  get finished(): boolean {
    return this.state !== 'trying' && this.state !== 'proceeding';
  }

  private sendTrying(): void {
    if (this.state === 'proceeding' && this.last === null) this.respond(createResponse(this.request, 100, 'Trying'));
  }

  /**
   * The TU sends a response through the transaction. Responses after the final one are ignored.
   * `wire` is the response already in wire form (a relayed one, cut from the bytes received).
   */
  respond(res: SipResponse, wire?: Buffer): void {
    if (this.finished) return;
    this.timers.stop('trying');
    const data = wire ?? serialize(res);
    const dest = this.last?.dest ?? this.layer.responseDestination(res, this.source);
    this.last = { data, dest };
    this.layer.send(data, dest);
    if (res.status < 200) {
      this.state = 'proceeding';
      return;
    }
    this.req = null;
    this.layer.finalSent?.(this.method, res.status);
    const { T1, T2 } = this.t;
    if (!this.isInvite) {
      // Timer J: absorb retransmissions for 64*T1 on unreliable transports
      this.state = 'completed';
      if (!this.reliable && this.layer.holdCompleted) {
        this.layer.holdCompleted(this.key, this.branch, data, dest);
        this.terminate();
      } else this.terminateAfter(this.reliable ? 0 : 64 * T1);
    } else if (res.status < 300) {
      // RFC 6026 §7.1: Accepted, so that 2xx retransmissions and stray ACKs are absorbed; Timer L
      this.state = 'accepted';
      this.terminateAfter(64 * T1);
    } else {
      this.state = 'completed';
      if (!this.reliable) {
        let interval = T1;
        const retransmit = (): void => {
          if (this.state !== 'completed' || this.last === null) return;
          this.layer.send(this.last.data, this.last.dest);
          interval = Math.min(2 * interval, T2);
          this.timers.start('G', interval, retransmit);
        };
        this.timers.start('G', interval, retransmit);
      }
      this.timers.start('H', 64 * T1, () => {
        this.onAckTimeout?.();
        this.terminate();
      });
    }
  }

  /** A retransmission of the request, or the ACK for a non-2xx final response (by its method: nothing else matters). */
  receive(method: string): void {
    if (method === 'ACK') {
      if (this.state === 'completed' && this.isInvite) {
        this.state = 'confirmed';
        this.timers.stop('G');
        this.timers.stop('H');
        this.terminateAfter(this.reliable ? 0 : this.t.T4); // Timer I
      }
      return;
    }
    if ((this.state === 'proceeding' || this.state === 'completed') && this.last !== null) {
      this.layer.send(this.last.data, this.last.dest);
    }
  }

  private terminateAfter(ms: number): void {
    if (ms === 0) this.terminate();
    else this.timers.start('end', ms, () => this.terminate());
  }

  terminate(): void {
    this.state = 'terminated';
    this.timers.clear();
    this.layer.remove(this.key, this.branch);
  }
}
