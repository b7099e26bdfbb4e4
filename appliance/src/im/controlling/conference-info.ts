import { escapeAttr, escapeText } from '../../xdms/xcap-error.js';
import type { Departure, Participant } from './room.js';

export const CONFERENCE_INFO_TYPE = 'application/conference-info+xml';

/** The label of a room's one medium, in available-media and in every endpoint's media (RFC 4575 available-media and media). */
const CHAT_LABEL = 'chat';

/** What a conference-info document says about a room (RFC 4575 §5). */
export interface RoomView {
  uri: string;
  subject: string | null;
  maxParticipants: number | null;
  participants: Participant[];
}

/** One user's part of a partial document: their endpoints still in the room, and those that left since the last NOTIFY. */
export interface UserChange {
  aor: string;
  present: Participant[];
  departed: { p: Participant; departure: Departure }[];
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
 * the participant limit, the chat medium), its state, every user and endpoint.
 */
export function fullConferenceInfo(room: RoomView, version: number): string {
  let desc = '<conference-description>';
  if (room.subject !== null) desc += `<subject>${escapeText(room.subject)}</subject>`;
  desc += `<conf-uris><entry><uri>${escapeText(room.uri)}</uri><purpose>participation</purpose></entry></conf-uris>`;
  if (room.maxParticipants !== null) desc += `<maximum-user-count>${room.maxParticipants}</maximum-user-count>`;
  desc += `<available-media><entry label="${CHAT_LABEL}"><display-text>Chat</display-text><type>message</type><status>sendrecv</status></entry></available-media>`;
  desc += '</conference-description>';
  let users = '<users state="full">';
  for (const [, ps] of byUser(room.participants)) users += user(ps[0].aor, 'full', ps, []);
  users += '</users>';
  return `${HEAD} entity="${escapeAttr(room.uri)}" state="full" version="${version}">${desc}${state(room)}${users}</conference-info>\n`;
}

/**
 * What changed since the last NOTIFY (RFC 4575 partial state, version one up): the user count, and each
 * user who joined (state full), changed nickname or lost a device (partial, the device
 * deleted with its disconnection details), or left altogether (deleted, with the same details).
 */
export function partialConferenceInfo(room: RoomView, version: number, changes: UserChange[]): string {
  let users = '<users state="partial">';
  for (const c of changes) {
    if (c.present.length === 0) users += user(c.aor, 'deleted', [], c.departed);
    else users += user(c.aor, c.departed.length > 0 ? 'partial' : 'full', c.present, c.departed);
  }
  users += '</users>';
  return `${HEAD} entity="${escapeAttr(room.uri)}" state="partial" version="${version}">${state(room)}${users}</conference-info>\n`;
}
