import type { SipRequest } from '../message/message.js';
import type { Destination } from '../transport/transport-types.js';
import type { QueuedTimer, TimerQueues } from '../transaction/timer-queues.js';
import type { TimerValues } from '../transaction/timers.js';

interface Waiting {
  data: Buffer;
  dest: Destination;
  /** the next retransmission, or null over a reliable transport */
  retransmit: QueuedTimer | null;
  giveUp: QueuedTimer;
  interval: number;
  /** told when the ACK arrives */
  onAck?: () => void;
}

/**
 * The key of the ACK that confirms a 2xx: Call-ID, our To tag and the INVITE's CSeq number
 * (RFC 3261 §13.3.1.4 and §17.1.1.3: the ACK for a 2xx is a new transaction, so only the dialog
 * and the CSeq number tie it to its INVITE).
 */
function ackKey(callId: string, toTag: string, seq: number): string {
  return `${callId}|${toTag}|${seq}`;
}

/**
 * The UAS core's 2xx reliability (RFC 3261 §13.3.1.4): the INVITE server transaction ends with its
 * 2xx (RFC 6026 keeps it only to absorb retransmissions), so the core itself passes the 2xx to the
 * transport again and again, at T1, doubling up to T2, until the ACK arrives. Over TCP, TLS and
 * WebSocket the transport is reliable and nothing is resent, but the ACK is still awaited. When
 * none comes within 64·T1 the dialog is confirmed but the session SHOULD end: `onTimeout` says so
 * (its owner sends the BYE). Timers run on the stack's queues.
 */
export class AckWait {
  private readonly waiting = new Map<string, Waiting>();

  constructor(
    private readonly queues: TimerQueues,
    private readonly t: TimerValues,
    private readonly send: (data: Buffer, dest: Destination) => void,
  ) {}

  /** Starts resending a 2xx (its wire bytes and destination) until its ACK. */
  start(callId: string, toTag: string, seq: number, sent: { data: Buffer; dest: Destination }, reliable: boolean, onTimeout: () => void, onAck?: () => void): void {
    const key = ackKey(callId, toTag, seq);
    this.stop(key);
    const w: Waiting = {
      ...sent,
      interval: this.t.T1,
      retransmit: null,
      onAck,
      giveUp: this.queues.start(64 * this.t.T1, () => {
        if (this.waiting.get(key) !== w) return;
        this.stop(key);
        onTimeout();
      }),
    };
    const again = (): void => {
      if (this.waiting.get(key) !== w) return;
      this.send(w.data, w.dest);
      w.interval = Math.min(2 * w.interval, this.t.T2);
      w.retransmit = this.queues.start(w.interval, again);
    };
    if (!reliable) w.retransmit = this.queues.start(w.interval, again);
    this.waiting.set(key, w);
  }

  /** An ACK arrived: the 2xx it confirms is no longer resent. False when it confirms none of ours. */
  acknowledge(ack: SipRequest): boolean {
    const key = ackKey(ack.callId, ack.toTag ?? '', ack.cseq.seq);
    const w = this.waiting.get(key);
    if (w === undefined) return false;
    this.stop(key);
    w.onAck?.();
    return true;
  }

  /** 2xx responses still waiting for their ACK. */
  get size(): number {
    return this.waiting.size;
  }

  private stop(key: string): void {
    const w = this.waiting.get(key);
    if (w === undefined) return;
    this.waiting.delete(key);
    if (w.retransmit !== null) this.queues.stop(w.retransmit);
    this.queues.stop(w.giveUp);
  }

  /** Forgets every wait (shutdown). */
  clear(): void {
    for (const key of [...this.waiting.keys()]) this.stop(key);
  }
}
