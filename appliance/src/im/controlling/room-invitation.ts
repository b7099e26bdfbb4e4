import { Headers } from '../../sip/message/headers.js';
import { SipRequest } from '../../sip/message/message.js';
import type { SipResponse } from '../../sip/message/message.js';
import { parseUri } from '../../sip/message/uri.js';
import type { SipStack } from '../../sip/stack.js';
import type { LocationService } from '../../core/location-service.js';
import { branchesFor, type Branch } from '../../core/forker.js';
import type { MsrpEndpoint } from '../../msrp/msrp-endpoint.js';
import type { MessagePolicy, MsrpSession } from '../../msrp/msrp-session.js';
import { readMsrpMedia, type MsrpMedia } from '../../msrp/msrp-sdp.js';
import { InviteFork } from '../session/invite-fork.js';
import { acknowledge, ownContact, sendBye } from '../session/call-legs.js';
import { legTransport, offerFor, withSetup } from '../session/session-sdp.js';
import type { LegMedia } from '../session/in-dialog-offer.js';
import { markExploded } from './loop-guard.js';
import { withHistory } from './copy-control.js';
import type { Participant } from './room.js';

export interface InvitationServices {
  stack: SipStack;
  location: LocationService;
  endpoint: MsrpEndpoint;
}

/** What the focus offers every invitee: CPIM-wrapped messages of any type (RFC 7701 §5). */
const ROOM_MEDIA: MsrpMedia = { protocol: 'TCP/MSRP', path: '', acceptTypes: ['message/cpim'], acceptWrappedTypes: ['*'], maxSize: null, setup: 'actpass', direction: 'sendrecv', chatroom: ['nickname', 'private-messages'] };

/**
 * The focus invites one user into an ad-hoc room (RFC 5366 §5, RFC 4579 §5.5): an INVITE to each
 * of their devices from the room URI, with the focus's Contact marked `isfocus` and the loop-guard
 * marker (the invitation passed a list service, S6), an MSRP offer from a leg of our own (with
 * the creator's to/cc list beside it when the list used RFC 5364 copy control). The first
 * device to answer 2xx joins. Resolves with the participant and our tag in the new dialog, or
 * with why the user is left out, as a SIP status and reason phrase: 480 with no device
 * registered, the best final response of the fork (RFC 3261 §16.7 step 6: a 486, a 603 …),
 * 408 when nobody answered in the ring time, 488 for an answer without usable MSRP media.
 * `progress` hears when the INVITEs leave and when a device rings (RFC 4575 dialing-out, alerting).
 */
export async function inviteIntoRoom(
  s: InvitationServices,
  room: { uri: string; inviter: string; history?: string | null },
  aor: string,
  /** the invitee's limits (their service profile, Y3): the wrapped types and max-size we offer, the policy their SENDs meet */
  opts: { maxMessageBytes: number; ringTimeoutMs: number; wrappedTypes?: string[]; policy?: MessagePolicy | null },
  /** extra headers of our ACK to the invitee's 2xx, chosen from it (conversation storage's answer, H1) */
  ackHeaders: (res: SipResponse) => Record<string, string> = () => ({}),
  progress: (status: 'dialing-out' | 'alerting') => void = () => undefined,
): Promise<{ participant: Participant; tag: string; callId: string; connect: boolean; media: LegMedia } | { failed: { status: number; text: string } }> {
  const bindings = s.location.lookup(aor);
  if (bindings.length === 0) return { failed: { status: 480, text: 'Temporarily Unavailable' } };
  const legs = new Map<string, MsrpSession>();
  /** each INVITE's SDP offer (its body may be multipart, with the recipient-list-history) */
  const offers = new WeakMap<SipRequest, string>();
  const tag = s.stack.newId();
  const callId = `${s.stack.newId()}@${s.stack.advertisedHost.replace(/^\[|\]$/g, '')}`;
  const branches = branchesFor(bindings, (b) => {
    const kind = legTransport(b.transport);
    let leg = legs.get(kind);
    if (leg === undefined) {
      leg = s.endpoint.create(kind);
      leg.policy = opts.policy ?? null;
      legs.set(kind, leg);
    }
    const h = new Headers();
    h.set('from', `<${room.uri}>;tag=${tag}`);
    h.set('to', `<${aor}>`);
    h.set('call-id', callId);
    h.set('cseq', '1 INVITE');
    h.set('max-forwards', '70');
    h.set('contact', `${ownContact(s.stack, b.transport as Branch['destination']['transport'], `room-${tag}`)};isfocus`);
    // who asked for the invitation (RFC 3892 Referred-By, as RFC 5366 §5 suggests)
    h.set('referred-by', `<${room.inviter}>`);
    markExploded(h, room.uri);
    const media = opts.wrappedTypes === undefined ? ROOM_MEDIA : { ...ROOM_MEDIA, acceptWrappedTypes: opts.wrappedTypes };
    const sdp = Buffer.from(offerFor(leg, media, opts.maxMessageBytes, s.endpoint, ROOM_MEDIA.chatroom));
    // who else the creator's list invited (RFC 5364/5365 recipient-list-history), beside the offer
    const body = room.history ? withHistory('application/sdp', sdp, room.history, `parley-${tag}`) : { contentType: 'application/sdp', body: sdp };
    h.set('content-type', body.contentType);
    const invite = new SipRequest('INVITE', parseUri(b.contactUri), b.contactUri, h, body.body);
    offers.set(invite, sdp.toString('utf8'));
    return invite;
  });
  const fork = new InviteFork(
    s.stack,
    // RFC 4575 §5.6.4 alerting: a 180 Ringing came back (other provisionals say nothing new)
    (res) => {
      if (res.status === 180) progress('alerting');
    },
    (res, branch, bye) => {
      const dialog = acknowledge(s.stack, branch.request, res, branch.destination);
      if (bye) sendBye(s.stack, dialog);
    },
  );
  const running = fork.run(branches, opts.ringTimeoutMs);
  progress('dialing-out');
  const outcome = await running;
  if (outcome.answered === undefined) {
    for (const l of legs.values()) l.close();
    // ring time over: the branches were CANCELled, their 487s are ours, not the invitee's answer
    if (outcome.cancelled === 'timeout' || outcome.best === null) return { failed: { status: 408, text: 'No answer' } };
    return { failed: { status: outcome.best.status, text: outcome.best.reason } };
  }
  const { answered: res, branch } = outcome;
  const dialog = acknowledge(s.stack, branch.request, res, branch.destination, ackHeaders(res));
  const leg = legs.get(legTransport(branch.destination.transport))!;
  for (const l of legs.values()) if (l !== leg) l.close();
  let answer: MsrpMedia;
  try {
    answer = readMsrpMedia(res.body.toString('utf8'));
    leg.remotePath = answer.path;
  } catch {
    leg.close();
    sendBye(s.stack, dialog, 'Unusable SDP answer');
    return { failed: { status: 488, text: 'Unusable SDP answer' } };
  }
  // RFC 6135: an invitee that answers a=setup:passive waits for us to connect
  const media = { local: withSetup(offers.get(branch.request) ?? '', answer.setup), remotePath: answer.path };
  return { participant: { aor, dialog, leg, queued: 0, invitedBy: room.inviter }, tag, callId, connect: answer.setup === 'passive', media };
}
