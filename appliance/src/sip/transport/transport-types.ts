import type { AnyMessage } from '../message/message.js';
import type { Rejected, ParseOutcome } from '../message/parser.js';

/** Via transport names (RFC 3261 §20.42; RFC 7118 §5 adds WS and WSS). */
export type TransportName = 'UDP' | 'TCP' | 'TLS' | 'WS' | 'WSS';

/** Where a message came from: enough to answer it (RFC 3261 §18.2.2) and to reach the sender again. */
export interface Source {
  transport: TransportName;
  address: string;
  port: number;
  /** the connection it arrived on; for UDP a stable id of the remote address */
  flowId: string;
  /**
   * The native UDP socket judged it new work, held it and admitted it (udp-gate.ts): overload
   * control must not judge it again (it would count it twice, or refuse what was admitted).
   */
  readonly admittedByGate?: boolean;
  /**
   * Set by the stack's raw look at a UDP datagram before it is parsed: the branch it read, when
   * no completed transaction can have it, so that the look after parsing need not search those
   * again. A new Source per datagram: a connection's messages never carry it.
   */
  newBranch?: string | null;
  /**
   * Set by the same raw look when the datagram is a retransmission of a request answered at once
   * (AtOnceMemo): answered again as it was, not judged by overload control as new work.
   */
  answeredAtOnce?: boolean;
}

/** A place to send a message to. With a flowId, only that connection is used (RFC 5626 style). */
export interface Destination {
  transport: TransportName;
  address: string;
  port: number;
  flowId?: string;
  /**
   * Over a TLS connection we open: the name the peer's certificate must carry, the host of the
   * URI it was reached by (an IP literal, without brackets, or a host name, sent as SNI).
   * Absent: the address itself.
   */
  servername?: string;
}

/** One connection (or, for UDP, one remote address) messages travel over. */
export interface Flow {
  readonly id: string;
  readonly transport: TransportName;
  readonly remoteAddress: string;
  readonly remotePort: number;
  send(data: Buffer): void;
  close(): void;
}

/** What a listener hands up to the transport layer. */
export interface TransportEvents {
  /**
   * Asked about each UDP datagram before it is parsed; true means it was dealt with (overload
   * control answered it cheaply) and goes no further.
   */
  intercept?(data: Buffer, source: Source): boolean;
  message(msg: AnyMessage, source: Source): void;
  rejected(rejected: Rejected, source: Source): void;
  flowClosed(flowId: string): void;
}

/** A failure to send, reported to the transaction that asked (RFC 3261 §17.1.4). */
export class TransportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransportError';
  }
}

export function isReliable(t: TransportName): boolean {
  return t !== 'UDP';
}

export function flowKey(transport: TransportName, address: string, port: number): string {
  return `${transport.toLowerCase()}:${address}:${port}`;
}

/** Hands a parse outcome up: a message, or a rejection to answer (null = nothing to do). */
export function deliver(events: TransportEvents, outcome: ParseOutcome | null, source: Source): void {
  if (outcome === null) return;
  if (outcome.ok) events.message(outcome.message, source);
  else events.rejected(outcome.rejected, source);
}
