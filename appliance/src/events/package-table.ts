import type { SipRequest } from '../sip/message/message.js';
import { SipError } from '../sip/errors.js';
import type { EventPackage } from './event-package.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyPackage = EventPackage<any>;

/** A package's own name: its `kind`, else its event. */
export function kindOf(pkg: AnyPackage): string {
  return pkg.kind ?? pkg.event;
}

/**
 * The event packages the framework serves, by kind and by event. Several may serve one event
 * (the RLS and presence both serve "presence"): the first whose `claims` takes an initial
 * SUBSCRIBE serves it, else the event's default package (the one without `claims`).
 */
export class PackageTable {
  private readonly byKind = new Map<string, AnyPackage>();
  private readonly byEvent = new Map<string, AnyPackage[]>();

  add(pkg: AnyPackage): void {
    this.byKind.set(kindOf(pkg), pkg);
    const list = this.byEvent.get(pkg.event) ?? [];
    // packages that claim requests go first, the event's default package last
    if (pkg.claims) list.unshift(pkg);
    else list.push(pkg);
    this.byEvent.set(pkg.event, list);
  }

  get(kind: string): AnyPackage | undefined {
    return this.byKind.get(kind);
  }

  /** The packages serving an Event package name (none: an empty list). */
  forEvent(event: string): readonly AnyPackage[] {
    return this.byEvent.get(event) ?? [];
  }

  kinds(): IterableIterator<string> {
    return this.byKind.keys();
  }

  /** A 489 (Bad Event, RFC 6665) with Allow-Events naming the events we serve. */
  badEvent(reason = 'Bad Event'): SipError {
    return new SipError(489, reason, { 'Allow-Events': [...this.byEvent.keys()].join(', ') });
  }

  /** Throws 489 unless some package serves the event. */
  checkServed(event: string | undefined): void {
    if (event === undefined || !this.byEvent.has(event)) throw this.badEvent();
  }

  /** The package that takes an initial SUBSCRIBE for `event` (served: see `checkServed`). */
  async pick(event: string, req: SipRequest): Promise<AnyPackage> {
    const candidates = this.byEvent.get(event)!;
    for (const p of candidates) if (p.claims === undefined || (await p.claims(req))) return p;
    return candidates[candidates.length - 1];
  }
}
