import type { SipRequest } from '../../sip/message/message.js';
import { SipRequest as Request } from '../../sip/message/message.js';
import { parseUri } from '../../sip/message/uri.js';
import type { Binding } from '../../core/location-service.js';
import type { SenderIdentity } from '../participating/originating-policy.js';
import type { MsrpEndpoint } from '../../msrp/msrp-endpoint.js';
import type { MsrpSession } from '../../msrp/msrp-session.js';
import { parse, write } from 'sdp-transform';
import { answerSetup, writeMsrpSdp, readMsrpMedia, SdpError, type MsrpMedia } from '../../msrp/msrp-sdp.js';
import { SipError } from '../../sip/errors.js';
import { mediaTypeOf } from '../../sip/message/media-type.js';

/**
 * The MSRP transport of a leg: WebSocket for a device on SIP over WS/WSS (RFC 7977 §5: MSRP goes
 * over a WebSocket to the same server), else what the offer's protocol says (TLS or TCP).
 */
export function legTransport(sipTransport: string, protocol?: string): 'tcp' | 'tls' | 'ws' | 'wss' {
  const p = (protocol ?? '').toUpperCase();
  if (p === 'TCP/WSS/MSRP' || (protocol === undefined && sipTransport === 'WSS')) return 'wss';
  if (p === 'TCP/WS/MSRP' || (protocol === undefined && sipTransport === 'WS')) return 'ws';
  if (p === 'TCP/TLS/MSRP') return 'tls';
  return 'tcp';
}

function protocolOf(leg: MsrpSession): string {
  const u = leg.localUri;
  if (u.transport === 'ws') return u.secure ? 'TCP/WSS/MSRP' : 'TCP/WS/MSRP';
  return u.secure ? 'TCP/TLS/MSRP' : 'TCP/MSRP';
}

let sdpSessionIds = Math.floor(Date.now() / 1000);

/**
 * Our offer to the callee for one leg: our path, the types the caller accepts (what we relay to
 * it), our max-size (or the caller's, if smaller), a=setup:actpass (RFC 6135 §4: either way
 * works), and the caller's direction (sendonly for a large message).
 */
export function offerFor(
  leg: MsrpSession,
  callerOffer: MsrpMedia,
  maxMessageBytes: number,
  endpoint: MsrpEndpoint,
  /** a=chatroom tokens (RFC 7701), for a chat room's focus inviting someone */
  chatroom?: string[],
): string {
  return writeMsrpSdp({
    host: endpoint.host,
    port: leg.localUri.port ?? 9,
    protocol: protocolOf(leg),
    path: leg.localPath,
    acceptTypes: callerOffer.acceptTypes,
    acceptWrappedTypes: callerOffer.acceptWrappedTypes,
    maxSize: Math.min(maxMessageBytes, callerOffer.maxSize ?? maxMessageBytes),
    setup: 'actpass',
    direction: callerOffer.direction === 'sendrecv' ? undefined : callerOffer.direction,
    chatroom,
    sessionId: ++sdpSessionIds,
  });
}

/** Our answer to the caller: our path, the callee's accepted types, a=setup per RFC 4145 §4.1. */
export function answerFor(
  leg: MsrpSession,
  callerOffer: MsrpMedia,
  acceptTypes: string[],
  acceptWrappedTypes: string[],
  maxMessageBytes: number,
  endpoint: MsrpEndpoint,
  direction?: MsrpMedia['direction'],
  /** a=chatroom tokens (RFC 7701), for a chat room's focus */
  chatroom?: string[],
): { sdp: string; setup: 'active' | 'passive' } {
  const setup = answerSetup(callerOffer.setup);
  const sdp = writeMsrpSdp({
    host: endpoint.host,
    port: leg.localUri.port ?? 9,
    protocol: protocolOf(leg),
    path: leg.localPath,
    acceptTypes,
    acceptWrappedTypes,
    maxSize: maxMessageBytes,
    setup,
    direction: direction ?? (callerOffer.direction === 'sendonly' ? 'recvonly' : undefined),
    chatroom,
    sessionId: ++sdpSessionIds,
  });
  return { sdp, setup };
}

/**
 * The INVITE to one of the callee's devices: a new dialog (we are a B2BUA), the caller's
 * identity as the originating policy shows it (From with the directory's display name, our tag;
 * P-Asserted-Identity, RFC 3325 §9.1), the contact as Request-URI.
 */
export function calleeInvite(req: SipRequest, b: Binding, sender: SenderIdentity, callId: string, fromTag: string, contact: string, body: Buffer): SipRequest {
  const h = req.headers.clone();
  // Conversation-Store asks this server to store (H1, history/store-header.ts): it is not the callee's business
  for (const name of ['via', 'route', 'record-route', 'proxy-authorization', 'authorization', 'p-preferred-identity', 'contact', 'content-length', 'conversation-store']) h.delete(name);
  h.set('from', `${sender.from.replace(/;tag=[^;]*/i, '')};tag=${fromTag}`);
  h.set('to', `<${b.aor}>`);
  h.set('call-id', callId);
  h.set('cseq', '1 INVITE');
  h.set('max-forwards', String((req.maxForwards ?? 70) - 1));
  h.set('contact', contact);
  h.set('p-asserted-identity', sender.asserted);
  h.set('content-type', 'application/sdp');
  return new Request('INVITE', parseUri(b.contactUri), b.contactUri, h, body);
}

/**
 * Our SDP in a dialog where we made the offer (a=setup:actpass), once the answer said who
 * connects (RFC 4145 §4.1): the same description with the role we took, its o= version one
 * higher since it differs from what we sent (RFC 3264 §8). This is what we answer a re-offer of
 * the same media with.
 */
export function withSetup(offerSdp: string, answered: MsrpMedia['setup']): string {
  const sdp = parse(offerSdp);
  const ours = answered === 'passive' ? 'active' : 'passive';
  sdp.origin = { ...sdp.origin!, sessionVersion: Number(sdp.origin!.sessionVersion) + 1 };
  for (const m of sdp.media) if (m.type === 'message') m.setup = ours;
  return write(sdp);
}

/**
 * The MSRP offer of an INVITE (a session's caller, a room's participant, a history replay's
 * viewer): 488 without a usable MSRP media line, 415 for a body that is not SDP (RFC 3261
 * §21.4.13, with what we accept). `sdp`: the offer taken from a multipart body (an ad-hoc room's
 * INVITE, whose SDP sits beside its URI list), already known to be SDP.
 */
export function readOffer(req: SipRequest, sdp?: Buffer): MsrpMedia {
  const body = sdp ?? req.body;
  if (body.length === 0) throw new SipError(488, 'An SDP offer with an MSRP media line is required');
  if (sdp === undefined && mediaTypeOf(req.headers.get('content-type') ?? '') !== 'application/sdp') throw new SipError(415, 'Unsupported Media Type', { Accept: 'application/sdp' });
  try {
    return readMsrpMedia(body.toString('utf8'));
  } catch (err) {
    if (err instanceof SdpError) throw new SipError(488, err.reason);
    throw err;
  }
}
