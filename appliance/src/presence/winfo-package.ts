import type { SipRequest } from '../sip/message/message.js';
import { SipError } from '../sip/errors.js';
import type { EventPackage, NotifyBody, Opened, Subscriber } from '../events/event-package.js';
import type { Subscription } from '../events/subscription.js';
import type { SubscriptionService } from '../events/subscription-service.js';
import { escapeAttr, escapeText } from '../xdms/xcap-error.js';
import { watcherOf, type PresencePackage } from './presence-package.js';
import type { Watcher, WatcherEvent, WatcherFeed } from './watcher-feed.js';

export const WINFO_TYPE = 'application/watcherinfo+xml';

/** One watcher as RFC 3858 §4 reports it: who, in which state, after which event. */
type WatcherEntry = Watcher & { event: WatcherEvent['event'] };

interface WinfoData {
  /** RFC 3858 §4.3: each NOTIFY's document has a version one above the last, per subscription */
  version: number;
  /** watchers changed since the last NOTIFY, by id */
  changes: Map<string, WatcherEntry>;
}

/**
 * Watcher information for presence (RFC 3857 template package `presence.winfo`, RFC 3858
 * documents), R2: a presentity subscribes to their own watchers and learns of pending, active
 * and terminated ones, full state first and then partial state (only the watchers that
 * changed). Accepting or blocking a watcher is an XCAP write to pres-rules; the presence
 * package applies it at once and the change shows here as `approved` or `rejected`.
 */
export class WinfoPackage implements EventPackage<WinfoData> {
  readonly event = 'presence.winfo';
  readonly accept = [WINFO_TYPE];
  /** a presentity's decision must not wait for a rate limit */
  readonly minNotifyInterval = 0;

  constructor(
    private readonly subscriptions: SubscriptionService,
    private readonly presence: PresencePackage,
    private readonly watchers: WatcherFeed,
  ) {
    watchers.onWatcher((e) => this.onWatcher(e));
  }

  open(req: SipRequest, subscriber: Subscriber): Opened<WinfoData> {
    // RFC 3857 §5.1: watcher information is the presentity's own business
    const presentity = this.presence.presentityOf(req);
    if (presentity !== subscriber.aor) throw new SipError(403, 'Only your own watchers can be watched');
    return { resource: presentity, state: 'active', data: { version: 0, changes: new Map() } };
  }

  render(sub: Subscription<WinfoData>, full: boolean): NotifyBody {
    let entries: WatcherEntry[];
    if (full) {
      sub.data.changes.clear();
      // the SIP subscriptions, then the resource list server's back-end ones (its lists' owners)
      const all = [...this.subscriptions.watchersOf(this.presence.event, sub.resource).map(watcherOf), ...this.watchers.internalOf(sub.resource)];
      entries = all.map((w) => ({ ...w, event: w.status === 'active' ? 'approved' : 'subscribe' }));
    } else {
      entries = [...sub.data.changes.values()];
      sub.data.changes.clear();
    }
    const version = sub.data.version++;
    const watchers = entries
      .map((e) => `    <watcher id="${escapeAttr(e.id)}" event="${e.event}" status="${e.status}">${escapeText(e.uri)}</watcher>\n`)
      .join('');
    const content =
      `<?xml version="1.0" encoding="UTF-8"?>\n<watcherinfo xmlns="urn:ietf:params:xml:ns:watcherinfo" version="${version}" state="${full ? 'full' : 'partial'}">\n` +
      `  <watcher-list resource="${escapeAttr(sub.resource)}" package="presence">\n${watchers}  </watcher-list>\n</watcherinfo>\n`;
    return { type: WINFO_TYPE, content };
  }

  persist(data: WinfoData): unknown {
    return { version: data.version };
  }

  revive(saved: unknown): WinfoData {
    return { version: Number((saved as { version?: number }).version ?? 0), changes: new Map() };
  }

  private onWatcher(e: WatcherEvent): void {
    const entry: WatcherEntry = { ...e.watcher, event: e.event };
    for (const sub of this.subscriptions.watchersOf(this.event, e.presentity) as Subscription<WinfoData>[]) {
      sub.data.changes.set(entry.id, entry);
      this.subscriptions.changed(sub);
    }
  }
}
