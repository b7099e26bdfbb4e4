import { escapeAttr, escapeText } from '../../xdms/xcap-error.js';
import type { Departure, Participant } from './room.js';
import type { Invitation } from './room-invitations.js';

export const CONFERENCE_INFO_TYPE = 'application/conference-info+xml';

/** The label of a room's one medium, in available-media and in every endpoint's media (RFC 4575 available-media and media). */
const CHAT_LABEL = 'chat';

/** What a conference-info document says about a room (RFC 4575 §5). */
export interface RoomView {
  uri: string;
  subject: string | null;
  maxParticipants: number | null;
  participants: Participant[];
  /** users the focus was asked to invite who are not in the room (RFC 5366 §3.1: how the creator learns of them) */
  invitations: Invitation[];
}

/**
 * One user's part of a partial document: their endpoints still in the room, those that left since
 * the last NOTIFY, and, for one not in the room, their invitation.
 */
export interface UserChange {
  aor: string;
  present: Participant[];
  departed: { p: Participant; departure: Departure }[];
  invitation?: Invitation;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * One endpoint (RFC 4575 §5, endpoint-type): the participant's contact, connected or disconnected with how
 * and why (disconnection-method and -info), how it joined (dialled in, or dialled out by the
 * focus at someone's request: joining-method and referred), its one MSRP medium and its dialog.
 */
function endpoint(p: Participant, state: 'full' | 'deleted', departure?: Departure): string {
  const d = p.dialog.state;
  const weCalled = p.invitedBy !== undefined;
  let x = `<endpoint entity="${escapeAttr(d.remoteTarget)}" state="${state}">`;
  if (p.nickname !== undefined) x += `<display-text>${escapeText(p.nickname)}</display-text>`;
  if (weCalled) x += `<referred><by>${escapeText(p.invitedBy!)}</by></referred>`;
  x += `<status>${departure ? 'disconnected' : 'connected'}</status>`;
  x += `<joining-method>${weCalled ? 'dialed-out' : 'dialed-in'}</joining-method>`;
  if (p.joinedAt !== undefined) x += `<joining-info><when>${iso(p.joinedAt)}</when></joining-info>`;
  if (departure) {
    x += `<disconnection-method>${departure.method}</disconnection-method><disconnection-info><when>${iso(departure.at)}</when>`;
    if (departure.reason) x += `<reason>${escapeText(departure.reason)}</reason>`;
    x += '</disconnection-info>';
  }
  x += `<media id="${CHAT_LABEL}"><type>message</type><label>${CHAT_LABEL}</label><status>${departure ? 'inactive' : 'sendrecv'}</status></media>`;
  // RFC 4575 call-info: the dialog as the participant sees it (who sent the INVITE is the From)
  const [from, to] = weCalled ? [d.localTag, d.remoteTag] : [d.remoteTag, d.localTag];
  x += `<call-info><sip><call-id>${escapeText(d.callId)}</call-id><from-tag>${escapeText(from)}</from-tag><to-tag>${escapeText(to)}</to-tag></sip></call-info>`;
  return `${x}</endpoint>`;
}

/**
 * The endpoint of a user the focus invites (RFC 4575 §5.6): named by the AOR it dialled (no
 * device has answered), referred by who asked, its status (§5.6.4: pending, dialing-out,
 * alerting, disconnected), dialed-out once an INVITE left, and when it failed how (§5.6.5:
 * busy or failed) and why (§5.6.6: when, and the SIP status as an RFC 3326 reason).
 */
function invitationEndpoint(inv: Invitation): string {
  let x = `<endpoint entity="${escapeAttr(inv.aor)}" state="full">`;
  x += `<referred><by>${escapeText(inv.invitedBy)}</by></referred>`;
  x += `<status>${inv.status}</status>`;
  if (inv.dialled) x += '<joining-method>dialed-out</joining-method>';
  if (inv.failure !== undefined) {
    x += `<disconnection-method>${inv.failure.method}</disconnection-method>`;
    x += `<disconnection-info><when>${iso(inv.failure.at)}</when><reason>${escapeText(inv.failure.reason)}</reason></disconnection-info>`;
  }
  return `${x}</endpoint>`;
}

/** An invitee not in the room, as a whole user (state full: it replaces whatever a client had of them). */
function invitee(inv: Invitation): string {
  return `<user entity="${escapeAttr(inv.aor)}" state="full"><roles><entry>participant</entry></roles>${invitationEndpoint(inv)}</user>`;
}

/** A user (RFC 4575 §5, user-type): the nickname as display-text (RFC 7701), the role, their endpoints. */
function user(aor: string, state: 'full' | 'partial' | 'deleted', present: Participant[], departed: { p: Participant; departure: Departure }[]): string {
  const nickname = present.find((p) => p.nickname !== undefined)?.nickname;
  let x = `<user entity="${escapeAttr(aor)}" state="${state}">`;
  if (nickname !== undefined) x += `<display-text>${escapeText(nickname)}</display-text>`;
  if (state !== 'deleted') x += '<roles><entry>participant</entry></roles>';
  for (const p of present) x += endpoint(p, 'full');
  for (const { p, departure } of departed) x += endpoint(p, 'deleted', departure);
  return `${x}</user>`;
}

/** Participants grouped by user (one user, several devices), in join order. */
function byUser(participants: Participant[]): Map<string, Participant[]> {
  const users = new Map<string, Participant[]>();
  for (const p of participants) {
    const key = p.aor.toLowerCase();
    users.set(key, [...(users.get(key) ?? []), p]);
  }
  return users;
}

function state(room: RoomView): string {
  return `<conference-state><user-count>${byUser(room.participants).size}</user-count><active>${room.participants.length > 0}</active><locked>false</locked></conference-state>`;
}

const HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<conference-info xmlns="urn:ietf:params:xml:ns:conference-info"';

/**
 * The full state of a room (RFC 4575 §5): its description (subject, the room URI to join,
 * the participant limit, the chat medium), its state, every user and endpoint, then every
 * invitee not in the room with their invitation's endpoint.
 */
export function fullConferenceInfo(room: RoomView, version: number): string {
  let desc = '<conference-description>';
  if (room.subject !== null) desc += `<subject>${escapeText(room.subject)}</subject>`;
  desc += `<conf-uris><entry><uri>${escapeText(room.uri)}</uri><purpose>participation</purpose></entry></conf-uris>`;
  if (room.maxParticipants !== null) desc += `<maximum-user-count>${room.maxParticipants}</maximum-user-count>`;
  desc += `<available-media><entry label="${CHAT_LABEL}"><display-text>Chat</display-text><type>message</type><status>sendrecv</status></entry></available-media>`;
  desc += '</conference-description>';
  let users = '<users state="full">';
  const present = byUser(room.participants);
  for (const [, ps] of present) users += user(ps[0].aor, 'full', ps, []);
  for (const inv of room.invitations) if (!present.has(inv.aor.toLowerCase())) users += invitee(inv);
  users += '</users>';
  return `${HEAD} entity="${escapeAttr(room.uri)}" state="full" version="${version}">${desc}${state(room)}${users}</conference-info>\n`;
}

/**
 * What changed since the last NOTIFY (RFC 4575 partial state, version one up): the user count, and each
 * user who joined (state full), changed nickname or lost a device (partial, the device
 * deleted with its disconnection details), left altogether (deleted, with the same details), or
 * whose invitation moved on (full, the invitation's endpoint).
 */
export function partialConferenceInfo(room: RoomView, version: number, changes: UserChange[]): string {
  let users = '<users state="partial">';
  for (const c of changes) {
    if (c.present.length === 0 && c.invitation !== undefined) users += invitee(c.invitation);
    else if (c.present.length === 0) users += user(c.aor, 'deleted', [], c.departed);
    else users += user(c.aor, c.departed.length > 0 ? 'partial' : 'full', c.present, c.departed);
  }
  users += '</users>';
  return `${HEAD} entity="${escapeAttr(room.uri)}" state="partial" version="${version}">${state(room)}${users}</conference-info>\n`;
}
