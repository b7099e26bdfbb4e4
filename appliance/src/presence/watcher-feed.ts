import { createHash } from 'node:crypto';
import type { Logger } from '../log.js';

/** One watcher of a presentity as watcher information reports it (RFC 3858 §4). */
export interface Watcher {
  /** stable per watcher subscription, revealing none of its dialog identifiers */
  id: string;
  /** the watcher's identity: the authenticated subscriber, or a list's owner for the RLS */
  uri: string;
  status: 'pending' | 'active' | 'terminated';
}

/** The events of RFC 3857's watcher state machine, as RFC 3858 writes them in `event`. */
export type WatcherEventName = 'subscribe' | 'approved' | 'rejected' | 'timeout' | 'deactivated' | 'giveup' | 'noresource';

/** A watcher arrived, changed state or left. */
export interface WatcherEvent {
  presentity: string;
  watcher: Watcher;
  event: WatcherEventName;
}

/** A watcher id from an identifier that must not be shown (a dialog id, with a member for the RLS). */
export function watcherId(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url').slice(0, 12);
}

/**
 * Who watches each presentity, for watcher information (RFC 3857): the presence package tells
 * of its SIP subscriptions, and the resource list server of its back-end subscriptions, which
 * are internal (no SIP dialog: RFC 4662 leaves to the RLS how it learns its members' state) but
 * are watchers all the same: a presentity must see that a list's owner watches them, and decide. The back-end ones are
 * kept here for the full state; the SIP ones are the subscription framework's.
 */
export class WatcherFeed {
  private readonly listeners: ((e: WatcherEvent) => void)[] = [];
  /** back-end watchers by presentity, by id */
  private readonly internal = new Map<string, Map<string, Watcher>>();

  constructor(private readonly log: Logger) {}

  /** Listeners hear of every watcher that arrives, changes or leaves. */
  onWatcher(listener: (e: WatcherEvent) => void): void {
    this.listeners.push(listener);
  }

  /** A watcher with a SIP subscription arrived, changed or left. */
  tell(e: WatcherEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.log.error({ err }, 'watcher listener failed');
      }
    }
  }

  /** A back-end watcher arrived, changed or (status terminated) left. */
  internalChanged(e: WatcherEvent): void {
    let byId = this.internal.get(e.presentity);
    if (e.watcher.status === 'terminated') {
      byId?.delete(e.watcher.id);
      if (byId?.size === 0) this.internal.delete(e.presentity);
    } else {
      if (byId === undefined) {
        byId = new Map();
        this.internal.set(e.presentity, byId);
      }
      byId.set(e.watcher.id, e.watcher);
    }
    this.tell(e);
  }

  /** The back-end watchers of a presentity now. */
  internalOf(presentity: string): Watcher[] {
    return [...(this.internal.get(presentity)?.values() ?? [])];
  }
}
