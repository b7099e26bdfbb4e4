import type { Subscription } from '../events/subscription.js';
import type { TerminationReason } from '../sip/event-header.js';
import type { PresenceAuthorizer } from '../presence/presence-authorizer.js';
import { watcherId, type WatcherEventName, type WatcherFeed } from '../presence/watcher-feed.js';

/** A back-end subscription's state; `blocked` is a member whose rules refuse the owner (no watcher then). */
type BackEndState = 'pending' | 'active' | 'blocked';

/**
 * The resource list server's back-end subscriptions (RFC 4662) to members who are our own
 * users: internal, with no SIP dialog, but each one a watcher of its member with the list
 * owner's identity, judged by the member's pres-rules like any SIP watcher (RFC 4662's security
 * considerations: a list must not reveal more than a direct subscription by its owner would). They show in the
 * member's watcher information (pending, active, terminated), so a member learns that the owner
 * watches them and can decide; a decision applies to the back-end subscription at once.
 */
export class BackEndSubscriptions {
  /** by list subscription id: each followed member's state */
  private readonly states = new Map<string, Map<string, BackEndState>>();

  constructor(
    private readonly authorizer: PresenceAuthorizer,
    private readonly watchers: WatcherFeed,
  ) {}

  /**
   * Sets the members (canonical AORs of our users) a list subscription follows: members that
   * left the list end (`timeout`, as an unsubscribe does), new ones start, pending or active as
   * their rules say for the list's owner.
   */
  async follow(list: Subscription, owner: string, members: string[]): Promise<void> {
    let states = this.states.get(list.id);
    if (states === undefined) {
      states = new Map();
      this.states.set(list.id, states);
    }
    const wanted = new Set(members);
    for (const [member, state] of states) {
      if (wanted.has(member)) continue;
      states.delete(member);
      if (state !== 'blocked') this.tell(list, owner, member, 'terminated', 'timeout');
    }
    for (const member of wanted) {
      if (states.has(member)) continue;
      const state = stateOf((await this.authorizer.permission(member, owner)).handling);
      // the list subscription ended, or another call took this member, while the rules were read
      if (list.state === 'terminated' || states.has(member)) continue;
      states.set(member, state);
      if (state !== 'blocked') this.tell(list, owner, member, state, 'subscribe');
    }
  }

  /**
   * A member's rules changed: the back-end subscription follows them at once. Returns whether its
   * state changed (then the list's subscriber must hear of it without waiting for the rate).
   */
  async reauthorize(list: Subscription, owner: string, member: string): Promise<boolean> {
    const handling = (await this.authorizer.permission(member, owner)).handling;
    const states = this.states.get(list.id);
    const before = states?.get(member);
    if (states === undefined || before === undefined || list.state === 'terminated') return false;
    const after = stateOf(handling);
    if (after === before) return false;
    states.set(member, after);
    if (after === 'blocked') this.tell(list, owner, member, 'terminated', 'rejected');
    else if (after === 'active') this.tell(list, owner, member, 'active', before === 'pending' ? 'approved' : 'subscribe');
    else this.tell(list, owner, member, 'pending', 'subscribe');
    return true;
  }

  /** The list subscription ended: so do its back-end subscriptions. */
  endAll(list: Subscription, owner: string, reason: TerminationReason): void {
    const states = this.states.get(list.id);
    if (states === undefined) return;
    this.states.delete(list.id);
    const event: WatcherEventName = reason === 'deactivated' ? 'deactivated' : 'timeout';
    for (const [member, state] of states) if (state !== 'blocked') this.tell(list, owner, member, 'terminated', event);
  }

  private tell(list: Subscription, owner: string, member: string, status: 'pending' | 'active' | 'terminated', event: WatcherEventName): void {
    this.watchers.internalChanged({ presentity: member, watcher: { id: watcherId(`${list.id}|${member}`), uri: owner, status }, event });
  }
}

/** RFC 5025 §3.2.1: block refuses, confirm waits, polite-block and allow are active (the former with a neutral document). */
function stateOf(handling: string): BackEndState {
  return handling === 'block' ? 'blocked' : handling === 'confirm' ? 'pending' : 'active';
}
