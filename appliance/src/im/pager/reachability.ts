import type { Binding } from '../../core/location-service.js';

/** Transports whose bindings are reached over the connection they registered on (RFC 5626 §5). */
const CONNECTION = new Set(['TCP', 'TLS', 'WS', 'WSS']);

/** A binding that did not answer: the registration it was seen in, and when it was last tried. */
interface Silence {
  updatedAt: number;
  triedAt: number;
}

/**
 * Which of a user's devices can take a message now (R4): the pager asks before it forks, so a
 * message for someone with no reachable device goes straight to deferred storage instead of
 * waiting out a fork that cannot succeed. A device is unreachable when its connection is gone,
 * or when the last message sent to it got no response at all (a phone that vanished without
 * unregistering); it is reachable again as soon as it registers again (the binding changes).
 * Presence never takes a device away: a published "busy" or "do not disturb" changes nothing
 * here, so presence never drops a message.
 *
 * A silence is not final until the next REGISTER, though: one message every `retryMs` (64·T1,
 * a client transaction's life) is still sent to the silent device, and an answer makes it
 * reachable again. A fork finds no answer also when the answers were lost on the way, most of
 * all in our own receive queue while overload control sheds (measured: a SIPp device whose 200 was
 * dropped there, and which absorbs our retransmissions of an answered request, was then passed
 * over for the rest of its hour-long registration, every message stored).
 */
export class Reachability {
  /** bindings that did not answer, keyed with their last update: a REGISTER refresh clears them */
  private readonly silent = new Map<string, Silence>();

  constructor(
    private readonly hasFlow: (flowId: string) => boolean,
    private readonly retryMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  /**
   * The bindings worth forking to. A silent binding is one of them when `retryMs` have passed
   * since it was last tried: that message is the try, and the ones after it are stored until its
   * fork ends (`answered` or `unreached`).
   */
  reachable(bindings: Binding[]): Binding[] {
    return bindings.filter((b) => {
      if (CONNECTION.has(b.transport) && !this.hasFlow(b.flowId)) return false;
      // nobody silent (the usual case): no key string made for the look
      if (this.silent.size === 0) return true;
      const silence = this.silent.get(key(b));
      if (silence === undefined || silence.updatedAt !== b.updatedAt) return true;
      const now = this.clock();
      if (now - silence.triedAt < this.retryMs) return false;
      silence.triedAt = now;
      return true;
    });
  }

  /** Whether any device is taken for silent now (a fork then listens for late answers). */
  get anySilent(): boolean {
    return this.silent.size > 0;
  }

  /** A message to this binding got no response at all. */
  unreached(b: Binding): void {
    const k = key(b);
    this.silent.delete(k); // re-inserted: the oldest entries stay first for the cap below
    this.silent.set(k, { updatedAt: b.updatedAt, triedAt: this.clock() });
    // bounded: an entry is useless once its binding is refreshed or gone; drop the oldest past a cap
    if (this.silent.size > 100_000) this.silent.delete(this.silent.keys().next().value!);
  }

  /** A binding answered (even with an error): it is there. */
  answered(b: Binding): void {
    // asked for every delivered message: nothing to build or look up while no device is silent
    if (this.silent.size > 0) this.silent.delete(key(b));
  }
}

function key(b: Binding): string {
  return `${b.aor}|${b.contactUri}`;
}
