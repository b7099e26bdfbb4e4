import type { Binding } from '../../core/location-service.js';

/** Transports whose bindings are reached over the connection they registered on (RFC 5626 §5). */
const CONNECTION = new Set(['TCP', 'TLS', 'WS', 'WSS']);

/**
 * Which of a user's devices can take a message now (R4): the pager asks before it forks, so a
 * message for someone with no reachable device goes straight to deferred storage instead of
 * waiting out a fork that cannot succeed. A device is unreachable when its connection is gone,
 * or when the last message sent to it got no response at all (a phone that vanished without
 * unregistering); it is reachable again as soon as it registers again (the binding changes).
 * Presence never takes a device away: a published "busy" or "do not disturb" changes nothing
 * here, so presence never drops a message.
 */
export class Reachability {
  /** bindings that did not answer, keyed with their last update: a REGISTER refresh clears them */
  private readonly silent = new Map<string, number>();

  constructor(private readonly hasFlow: (flowId: string) => boolean) {}

  /** The bindings worth forking to. */
  reachable(bindings: Binding[]): Binding[] {
    return bindings.filter((b) => {
      if (CONNECTION.has(b.transport) && !this.hasFlow(b.flowId)) return false;
      const at = this.silent.get(key(b));
      return at === undefined || at !== b.updatedAt;
    });
  }

  /** A message to this binding got no response at all. */
  unreached(b: Binding): void {
    this.silent.set(key(b), b.updatedAt);
    // bounded: an entry is useless once its binding is refreshed or gone; drop the oldest past a cap
    if (this.silent.size > 100_000) this.silent.delete(this.silent.keys().next().value!);
  }

  /** A binding answered (even with an error): it is there. */
  answered(b: Binding): void {
    this.silent.delete(key(b));
  }
}

function key(b: Binding): string {
  return `${b.aor}|${b.contactUri}`;
}
