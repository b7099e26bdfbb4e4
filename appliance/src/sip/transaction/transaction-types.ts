import type { SipResponse } from '../message/message.js';
import type { Source, Destination } from '../transport/transport-types.js';
import type { TimerQueues } from './timer-queues.js';

export type ServerState = 'trying' | 'proceeding' | 'completed' | 'accepted' | 'confirmed' | 'terminated';
export type ClientState = 'calling' | 'trying' | 'proceeding' | 'completed' | 'accepted' | 'terminated';

/** What a server transaction needs from the layer below it. */
export interface ServerTransport {
  /** the stack's shared timer queues */
  readonly queues: TimerQueues;
  /** where responses to a request from `source` go (RFC 3261 §18.2.2) */
  responseDestination(res: SipResponse, source: Source): Destination;
  send(data: Buffer, dest: Destination): void;
  /** the transaction is over: forget it (`branch`: its key's branch, null for an RFC 2543 key) */
  remove(key: string, branch: string | null): void;
  /**
   * Optional: take over a completed non-INVITE transaction's Timer J, keeping only its final
   * response to answer retransmissions; the transaction then ends at once.
   */
  holdCompleted?(key: string, branch: string | null, data: Buffer, dest: Destination): void;
  /** Optional: told once per transaction of its final response (for /metrics) */
  finalSent?(method: string, status: number): void;
}

/** What the user of a client transaction is told (RFC 3261 §17.1). */
export interface ClientCallbacks {
  onProvisional?(res: SipResponse): void;
  onFinal(res: SipResponse): void;
  /** Timer B or F fired: the TU treats it as a 408 (RFC 3261 §8.1.3.1) */
  onTimeout(): void;
  /** the transport failed: the TU treats it as a 503 (RFC 3261 §8.1.3.1) */
  onTransportError(err: Error): void;
}

export interface ClientTransport {
  /** the stack's shared timer queues */
  readonly queues: TimerQueues;
  send(data: Buffer, dest: Destination, onError: (err: Error) => void): void;
  remove(key: string): void;
  /**
   * A layer that drops every response matching no live transaction: a completed non-INVITE
   * transaction over UDP then ends at once instead of waiting out Timer K (RFC 3261 §17.1.2.2),
   * whose only work is to absorb retransmissions of the final response, which the layer drops
   * all the same. Without it the transaction waits T4.
   */
  readonly dropsUnmatchedResponses?: boolean;
}
