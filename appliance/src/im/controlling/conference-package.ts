import type { SipRequest } from '../../sip/message/message.js';
import { SipError } from '../../sip/errors.js';
import { userOfUriPart } from '../../core/user-names.js';
import type { LocalDomain } from '../../core/local-domain.js';
import type { EventPackage, NotifyBody, Opened, SharedDialog, Subscriber } from '../../events/event-package.js';
import type { Subscription } from '../../events/subscription.js';
import type { SubscriptionService } from '../../events/subscription-service.js';
import type { TerminationReason } from '../../sip/event-header.js';
import type { RoomFocus } from './room-focus.js';
import type { Departure, Participant, Room, RoomChange } from './room.js';
import { CONFERENCE_INFO_TYPE, fullConferenceInfo, partialConferenceInfo, type RoomView, type UserChange } from './conference-info.js';

interface ConferenceData {
  /** RFC 4575: each document of a subscription has a version one above the last */
  version: number;
  /** users changed since the last NOTIFY, by AOR (lower case): endpoints that left meanwhile */
  changes: Map<string, { aor: string; departed: { p: Participant; departure: Departure }[] }>;
  /** the participation whose INVITE dialog the subscription shares, if it does (RFC 6665 §4.5.2) */
  inDialogOf: Participant | null;
}

/**
 * The conference event package (RFC 4575, S5) for chat rooms, on the shared subscription
 * framework: SUBSCRIBE `Event: conference` to a room URI (a group room or an ad-hoc room) from
 * whoever may join it or is in it (else 403; 404 for no room) gets the full `conference-info`
 * first, then partial documents as participants join, leave, are dropped or pick a nickname.
 *
 * A participant may also subscribe inside its INVITE dialog with the focus, as some clients do
 * (RFC 6665 §4.5.2 dialog reuse; RFC 4575 prefers a dialog of its own): the subscription then
 * shares that dialog and ends when the participant leaves.
 *
 * Rooms live in the memory of the node that owns them, and so do these subscriptions
 * (`transient`: never stored, docs/architecture.md).
 */
export class ConferencePackage implements EventPackage<ConferenceData> {
  readonly event = 'conference';
  readonly accept = [CONFERENCE_INFO_TYPE];
  readonly transient = true;
  /** RFC 4575 §3.9: no more than one NOTIFY a second per subscription; changes within it fold into one */
  readonly minNotifyInterval = 1000;

  constructor(
    private readonly subscriptions: SubscriptionService,
    private readonly focus: RoomFocus,
    private readonly domain: LocalDomain,
  ) {
    focus.onRoomChange = (room, change) => this.roomChanged(room, change);
  }

  async open(req: SipRequest, subscriber: Subscriber): Promise<Opened<ConferenceData>> {
    const shared = this.sharedDialog(req);
    const uri = shared === null ? this.roomUriOf(req) : this.focus.participationOf(req)!.room.uri;
    if (shared === null) {
      const verdict = await this.focus.mayWatch(uri, subscriber.aor);
      if (verdict === 'unknown') throw new SipError(404, 'Not Found');
      if (verdict === 'no') throw new SipError(403, 'Only those who may join this room may watch it');
    }
    return { resource: uri, state: 'active', data: { version: 0, changes: new Map(), inDialogOf: shared === null ? null : this.focus.participationOf(req)!.participant } };
  }

  /** A SUBSCRIBE in a participant's INVITE dialog with the focus: that dialog, and the participant as subscriber. */
  sharedDialog(req: SipRequest): SharedDialog | null {
    const entry = this.focus.participationOf(req);
    if (entry === undefined) return null;
    const user = this.domain.userOf(entry.participant.aor);
    return { dialog: entry.participant.dialog, subscriber: { username: user ?? entry.participant.aor, aor: entry.participant.aor } };
  }

  render(sub: Subscription<ConferenceData>, full: boolean): NotifyBody {
    const room = this.viewOf(sub.resource);
    const version = ++sub.data.version;
    if (full) {
      sub.data.changes.clear();
      return { type: CONFERENCE_INFO_TYPE, content: fullConferenceInfo(room, version) };
    }
    const invitations = new Map(room.invitations.map((inv) => [inv.aor.toLowerCase(), inv]));
    const changes: UserChange[] = [...sub.data.changes.entries()].map(([key, c]) => ({
      aor: c.aor,
      present: room.participants.filter((p) => p.aor.toLowerCase() === key),
      departed: c.departed,
      invitation: invitations.get(key),
    }));
    sub.data.changes.clear();
    return { type: CONFERENCE_INFO_TYPE, content: partialConferenceInfo(room, version, changes) };
  }

  ended(sub: Subscription<ConferenceData>, _reason: TerminationReason): void {
    sub.data.changes.clear();
  }

  /** The room URI a SUBSCRIBE names: a user part of our domain (the group or `chat-…`). */
  private roomUriOf(req: SipRequest): string {
    const part = req.sipUri?.user ?? null;
    const name = part === null ? null : userOfUriPart(part);
    if (name === null) throw new SipError(404, 'Not Found');
    return this.domain.aor(name);
  }

  private viewOf(uri: string): RoomView {
    const room = this.focus.roomOf(uri);
    return {
      uri,
      subject: room?.subject ?? null,
      maxParticipants: room?.maxParticipants ?? null,
      participants: room === undefined ? [] : [...room.participants],
      invitations: room?.invitations.list() ?? [],
    };
  }

  /** Every watcher of the room learns of the change in its next (partial) NOTIFY. */
  private roomChanged(room: Room, change: RoomChange): void {
    const aor = change.kind === 'invitation' ? change.aor : change.p.aor;
    const key = aor.toLowerCase();
    for (const sub of this.subscriptions.watchersOf(this.event, room.uri) as Subscription<ConferenceData>[]) {
      const entry = sub.data.changes.get(key) ?? { aor, departed: [] };
      if (change.kind === 'left') entry.departed.push({ p: change.p, departure: change.departure });
      sub.data.changes.set(key, entry);
      // a subscription in the dialog of a participant who left ends with it
      if (change.kind === 'left' && sub.data.inDialogOf === change.p) {
        void this.subscriptions.terminate(sub, 'noresource');
        continue;
      }
      this.subscriptions.changed(sub);
    }
    if (change.kind === 'left' && room.participants.size === 0) void this.closeIfGone(room.uri);
  }

  /**
   * The last participant left: an ad-hoc room is gone for good (a group room stays, empty), and
   * its watchers' subscriptions end with `noresource` (RFC 6665 §4.2.2: do not subscribe again).
   */
  private async closeIfGone(uri: string): Promise<void> {
    // the focus forgets an empty room right after the room told us; look once it has
    await Promise.resolve();
    if ((await this.focus.mayWatch(uri, '')) !== 'unknown') return;
    for (const sub of this.subscriptions.watchersOf(this.event, uri)) await this.subscriptions.terminate(sub, 'noresource');
  }
}
