import type { SipRequest } from '../sip/message/message.js';
import { SipError } from '../sip/errors.js';
import type { LocalDomain } from '../core/local-domain.js';
import type { UserDirectory } from '../core/user-directory.js';
import type { EventPackage, NotifyBody, Opened, Subscriber } from '../events/event-package.js';
import type { Subscription } from '../events/subscription.js';
import type { SubscriptionService } from '../events/subscription-service.js';
import type { TerminationReason } from '../sip/event-header.js';
import type { Logger } from '../log.js';
import { PIDF_TYPE } from './pidf.js';
import type { PresenceComposer } from './presence-composer.js';
import type { PresenceAuthorizer } from './presence-authorizer.js';
import type { Permission } from './pres-rules.js';
import { watcherId, type WatcherEventName, type WatcherFeed, type Watcher } from './watcher-feed.js';

/** A presence subscription's own data: the watcher's verdict under the presentity's rules. */
export interface PresenceData {
  permission: Permission;
  /** revived from the store: the transformations must be read from the rules again */
  stale?: boolean;
}

/** A presence subscription as watcher information (RFC 3858 §4) shows it. */
export function watcherOf(sub: Subscription): Watcher {
  return { id: watcherId(sub.id), uri: sub.subscriber, status: sub.state };
}

/**
 * The presence event package (RFC 3856) on the subscription framework: a watcher subscribes to
 * a presentity (one of our users) and is sent the composed PIDF as the presentity's pres-rules
 * allow (R1, R2): block -> 403; confirm -> pending, no body, until the presentity decides;
 * polite-block -> active with a neutral document; allow -> active with what the rules'
 * transformations provide. A change to the rules applies to existing subscriptions at once.
 */
export class PresencePackage implements EventPackage<PresenceData> {
  readonly event = 'presence';
  readonly accept = [PIDF_TYPE];

  constructor(
    private readonly subscriptions: SubscriptionService,
    private readonly composer: PresenceComposer,
    private readonly authorizer: PresenceAuthorizer,
    private readonly users: UserDirectory,
    private readonly domain: LocalDomain,
    private readonly watchers: WatcherFeed,
    private readonly log: Logger,
    readonly minNotifyInterval?: number,
  ) {
    composer.onChange((presentity) => {
      for (const sub of this.subscriptions.watchersOf(this.event, presentity)) if (sub.state === 'active') this.subscriptions.changed(sub);
    });
    authorizer.onChange((presentity) => {
      this.reauthorize(presentity).catch((err: unknown) => this.log.error({ err, presentity }, 'presence rules could not be applied'));
    });
  }

  /** The presentity a Request-URI names, if it is one of our enabled users. */
  presentityOf(req: SipRequest): string {
    const target = req.sipUri;
    const name = target?.user?.toLowerCase();
    const user = name === undefined ? undefined : this.users.get(name);
    // RFC 3856 §6.6: a presentity we do not have is 404
    if (name === undefined || user === undefined || user.disabled) throw new SipError(404, 'No such presentity');
    return this.domain.aor(name);
  }

  async open(req: SipRequest, subscriber: Subscriber): Promise<Opened<PresenceData>> {
    const presentity = this.presentityOf(req);
    const permission = await this.authorizer.permission(presentity, subscriber.aor);
    // RFC 5025 §3.2.1: block rejects the subscription (403)
    if (permission.handling === 'block') throw new SipError(403, 'Forbidden');
    return { resource: presentity, state: permission.handling === 'confirm' ? 'pending' : 'active', data: { permission } };
  }

  started(sub: Subscription<PresenceData>): void {
    this.tell(sub, 'subscribe');
  }

  ended(sub: Subscription<PresenceData>, reason: TerminationReason): void {
    const event = reason === 'rejected' ? 'rejected' : reason === 'deactivated' ? 'deactivated' : reason === 'giveup' ? 'giveup' : reason === 'noresource' ? 'noresource' : 'timeout';
    this.tell(sub, event);
  }

  /** Pending: no body (RFC 3856 §6.6.2 lets the notifier send none); polite-block: the neutral document. */
  async render(sub: Subscription<PresenceData>): Promise<NotifyBody | null> {
    if (sub.state === 'pending') return null;
    if (sub.data.stale) {
      sub.data.permission = await this.authorizer.permission(sub.resource, sub.subscriber);
      sub.data.stale = false;
    }
    const p = sub.data.permission;
    // the bytes of each distinct view are shared by every watcher who has it (issue 9, fan-out)
    if (p.handling === 'polite-block') return { type: PIDF_TYPE, content: await this.composer.neutralBytes(sub.resource) };
    if (p.handling !== 'allow') return null;
    return { type: PIDF_TYPE, content: await this.composer.documentBytes(sub.resource, p.provide) };
  }

  persist(data: PresenceData): unknown {
    return { handling: data.permission.handling };
  }

  /** Only the handling is stored; the transformations are read from the rules again on the first NOTIFY. */
  revive(saved: unknown): PresenceData {
    const handling = (saved as { handling?: string }).handling;
    const permission: Permission = { handling: handling === 'polite-block' ? 'polite-block' : handling === 'allow' ? 'allow' : 'confirm', provide: { services: false, persons: false, devices: false, allAttributes: false, attributes: new Set() }, byDefault: false };
    return { permission, stale: true };
  }

  /**
   * The presentity's rules changed: every subscription to them is judged again and follows at
   * once (issue point 4): blocked -> terminated (rejected); confirm -> pending; allowed ->
   * active, with a NOTIFY of what they may now see.
   */
  async reauthorize(presentity: string): Promise<void> {
    for (const sub of this.subscriptions.watchersOf(this.event, presentity) as Subscription<PresenceData>[]) {
      const before = sub.state;
      const permission = await this.authorizer.permission(presentity, sub.subscriber);
      if (sub.state === 'terminated') continue;
      sub.data.permission = permission;
      if (permission.handling === 'block') {
        await this.subscriptions.terminate(sub, 'rejected');
      } else if (permission.handling === 'confirm') {
        await this.subscriptions.setState(sub, 'pending');
      } else {
        await this.subscriptions.setState(sub, 'active');
        if (before === 'pending') this.tell(sub, 'approved');
        else this.subscriptions.changed(sub);
      }
    }
  }

  private tell(sub: Subscription, event: WatcherEventName): void {
    this.watchers.tell({ presentity: sub.resource, watcher: watcherOf(sub), event });
  }
}
