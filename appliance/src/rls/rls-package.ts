import { createHash } from 'node:crypto';
import type { SipRequest } from '../sip/message/message.js';
import { SipError } from '../sip/errors.js';
import { formatUri, isSipUri, parseUri, aorOf } from '../sip/message/uri.js';
import type { LocalDomain } from '../core/local-domain.js';
import type { UserDirectory } from '../core/user-directory.js';
import { SUPPORTED } from '../core/extensions.js';
import type { EventPackage, NotifyBody, Opened, Subscriber } from '../events/event-package.js';
import type { Subscription } from '../events/subscription.js';
import type { SubscriptionService } from '../events/subscription-service.js';
import type { DocumentStore } from '../xdms/document-store.js';
import type { Member } from '../xdms/list-resolver.js';
import type { Logger } from '../log.js';
import type { PresenceComposer } from '../presence/presence-composer.js';
import type { PresenceAuthorizer } from '../presence/presence-authorizer.js';
import { PIDF_TYPE } from '../presence/pidf.js';
import { listBody, RLMI_TYPE, type RlmiResource } from './rlmi.js';
import type { ListLookup } from './list-lookup.js';
import type { TerminationReason } from '../sip/event-header.js';
import type { WatcherFeed } from '../presence/watcher-feed.js';
import { BackEndSubscriptions } from './back-end-subscriptions.js';

interface RlsData {
  list: string;
  owner: string;
  members: Member[];
  /** RFC 4662 §5.2: the RLMI version, one more in each NOTIFY of the subscription */
  version: number;
  /** members whose state changed since the last NOTIFY */
  changed: Set<string>;
  /** false after a restart until the members are read from the XDMS again */
  loaded: boolean;
}

/**
 * The resource list server (RFC 4662, R3) for presence: a SUBSCRIBE with `Supported: eventlist`
 * to a list URI gets multipart/related NOTIFYs with RLMI, the full state first, then only the
 * members that changed. Back-end subscriptions to our own users are internal: the members' state
 * comes from the presence composer, each member's pres-rules applied to the list's owner, with
 * no SIP request to ourselves; each shows in its member's watcher information with the owner's
 * identity (`BackEndSubscriptions`), and a member's decision changes its instance at once. Members of other domains are reported terminated (noresource):
 * there is no inter-domain presence yet (C3).
 */
export class RlsPackage implements EventPackage<RlsData> {
  readonly event = 'presence';
  readonly kind = 'rls';
  readonly accept = ['multipart/related', RLMI_TYPE, PIDF_TYPE];
  /** subscriptions by member AOR, so a member's change reaches only the lists that hold them */
  private readonly byMember = new Map<string, Set<Subscription<RlsData>>>();
  private readonly backEnds: BackEndSubscriptions;

  constructor(
    private readonly subscriptions: SubscriptionService,
    private readonly lookup: ListLookup,
    private readonly composer: PresenceComposer,
    private readonly authorizer: PresenceAuthorizer,
    docs: DocumentStore,
    private readonly users: UserDirectory,
    private readonly domain: LocalDomain,
    watchers: WatcherFeed,
    private readonly log: Logger,
  ) {
    this.backEnds = new BackEndSubscriptions(authorizer, watchers);
    composer.onChange((presentity) => {
      for (const sub of this.byMember.get(presentity) ?? []) {
        sub.data.changed.add(presentity);
        this.subscriptions.changed(sub);
      }
    });
    authorizer.onChange((presentity) => {
      for (const sub of this.byMember.get(presentity) ?? []) {
        this.rulesChanged(sub, presentity).catch((err: unknown) => this.log.warn({ err, list: sub.data.list }, 'member rules could not be applied'));
      }
    });
    docs.onChange((c) => {
      if ((c.auid !== 'rls-services' && c.auid !== 'resource-lists') || c.owner === '') return;
      for (const sub of this.subscriptions.allOf(this.kind) as Subscription<RlsData>[]) {
        if (sub.data.owner === c.owner) this.reload(sub).catch((err: unknown) => this.log.warn({ err, list: sub.data.list }, 'list could not be read again'));
      }
    });
  }

  /** A SUBSCRIBE whose Request-URI is one of the lists we serve. */
  async claims(req: SipRequest): Promise<boolean> {
    return (await this.lookup.find(formatUri(req.uri))) !== null;
  }

  async open(req: SipRequest, subscriber: Subscriber): Promise<Opened<RlsData>> {
    // RFC 4662 §5: without eventlist the subscriber cannot take a list: 421 with Require
    if (!req.tokens('supported').includes('eventlist')) throw new SipError(421, 'Extension Required', { Require: 'eventlist' });
    const unsupported = req.tokens('require').filter((t) => t !== 'eventlist' && !SUPPORTED.includes(t));
    if (unsupported.length > 0) throw new SipError(420, 'Bad Extension', { Unsupported: unsupported.join(', ') });
    const list = await this.lookup.find(formatUri(req.uri));
    if (list === null) throw new SipError(404, 'No such list');
    // a list is its owner's: others would learn whom the owner watches
    if (list.owner !== subscriber.aor) throw new SipError(403, 'Only the owner of a list may subscribe to it');
    return { resource: list.uri, state: 'active', data: { list: list.uri, owner: list.owner, members: list.members, version: 0, changed: new Set(), loaded: true } };
  }

  started(sub: Subscription<RlsData>): void {
    if (!sub.data.loaded) return;
    this.index(sub, 1);
    this.followMembers(sub);
  }

  ended(sub: Subscription<RlsData>, reason: TerminationReason): void {
    this.index(sub, -1);
    this.backEnds.endAll(sub, sub.data.owner, reason);
  }

  async render(sub: Subscription<RlsData>, full: boolean): Promise<NotifyBody> {
    if (!sub.data.loaded) await this.load(sub);
    const wanted = full ? sub.data.members : sub.data.members.filter((m) => sub.data.changed.has(this.canonical(m.uri)));
    sub.data.changed.clear();
    const resources = await Promise.all(wanted.map((m) => this.resource(sub, m)));
    return listBody(sub.data.list, sub.data.version++, full, resources);
  }

  persist(data: RlsData): unknown {
    return { list: data.list, owner: data.owner, version: data.version };
  }

  /** Members are read from the XDMS again once the subscription is back (`started`). */
  revive(saved: unknown): RlsData {
    const s = saved as { list: string; owner: string; version: number };
    return { list: s.list, owner: s.owner, members: [], version: Number(s.version ?? 0), changed: new Set(), loaded: false };
  }

  /** One member's instance, as the owner may see it under the member's rules. */
  private async resource(sub: Subscription<RlsData>, m: Member): Promise<RlmiResource> {
    const member = this.canonical(m.uri);
    const base = { uri: m.uri, name: m.display, instanceId: createHash('sha256').update(`${sub.id}|${member}`).digest('base64url').slice(0, 10) };
    if (!this.isUser(member)) return { ...base, state: 'terminated', reason: 'noresource' };
    const p = await this.authorizer.permission(member, sub.data.owner);
    if (p.handling === 'block') return { ...base, state: 'terminated', reason: 'rejected' };
    if (p.handling === 'confirm') return { ...base, state: 'pending' };
    const content = p.handling === 'polite-block' ? this.composer.neutral(member) : await this.composer.document(member, p.provide);
    return { ...base, state: 'active', body: { type: PIDF_TYPE, content } };
  }

  private async reload(sub: Subscription<RlsData>): Promise<void> {
    if (await this.load(sub)) this.subscriptions.resync(sub); // the list changed: the full state again (RFC 4662 §5.2 allows it at any time)
  }

  /** Reads the list's members from the XDMS; a list that is gone ends the subscription (noresource). */
  private async load(sub: Subscription<RlsData>): Promise<boolean> {
    const list = await this.lookup.find(sub.data.list);
    if (sub.state === 'terminated') return false;
    if (list === null) {
      await this.subscriptions.terminate(sub, 'noresource');
      return false;
    }
    this.index(sub, -1);
    sub.data.members = list.members;
    sub.data.loaded = true;
    this.index(sub, 1);
    this.followMembers(sub);
    return true;
  }

  /** The back-end subscriptions follow the list's members who are our users. */
  private followMembers(sub: Subscription<RlsData>): void {
    const local = sub.data.members.map((m) => this.canonical(m.uri)).filter((aor) => this.isUser(aor));
    this.backEnds.follow(sub, sub.data.owner, local).catch((err: unknown) => this.log.warn({ err, list: sub.data.list }, 'back-end subscriptions not started'));
  }

  /**
   * A member's rules changed: their instance may change state (pending -> active when they accept
   * the owner), which the subscriber hears of at once, as of any change of subscription state;
   * a change of what the rules provide is a change of the member's document, paced as usual.
   */
  private async rulesChanged(sub: Subscription<RlsData>, member: string): Promise<void> {
    const stateChanged = await this.backEnds.reauthorize(sub, sub.data.owner, member);
    if (sub.state === 'terminated') return;
    sub.data.changed.add(member);
    if (stateChanged) this.subscriptions.changedNow(sub);
    else this.subscriptions.changed(sub);
  }

  /** Whether an AOR is one of our enabled users (anyone else's instance is terminated, noresource). */
  private isUser(aor: string): boolean {
    const user = this.domain.userOf(aor);
    const row = user === null ? undefined : this.users.get(user);
    return row !== undefined && !row.disabled;
  }

  private index(sub: Subscription<RlsData>, delta: 1 | -1): void {
    for (const m of sub.data.members) {
      const key = this.canonical(m.uri);
      let set = this.byMember.get(key);
      if (delta === 1) {
        if (set === undefined) {
          set = new Set();
          this.byMember.set(key, set);
        }
        set.add(sub);
      } else {
        set?.delete(sub);
        if (set?.size === 0) this.byMember.delete(key);
      }
    }
  }

  /** A member URI as the composer keys presentities: our users by canonical AOR. */
  private canonical(uri: string): string {
    try {
      const u = parseUri(uri, 'member');
      if (!isSipUri(u) || u.user === null) return uri;
      return this.domain.isLocal(u.host) ? this.domain.aor(u.user.toLowerCase()) : aorOf(u);
    } catch {
      return uri;
    }
  }
}
