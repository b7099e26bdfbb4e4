import { SipError } from '../../sip/errors.js';
import { MsrpError } from '../../msrp/msrp-types.js';
import type { ServiceProfiles } from '../../core/service-profiles.js';
import { acceptHeader, allowsContent, allowsType, narrowAcceptTypes, type ServiceProfile } from '../../core/service-profile.js';
import { withMsrpLimits, type MsrpMedia } from '../../msrp/msrp-sdp.js';
import type { MessagePolicy } from '../../msrp/msrp-session.js';

/** Which end of a message a profile check is for: the reason phrase says whose profile refused. */
type End = 'sender' | 'recipient';

/**
 * Service authorisation and filtering from users' profiles (Y1, Y3), as SIP failures: the
 * participating functions ask it on every path (pager, exploder, rooms, sessions) before a
 * message or session goes on. The statuses:
 * - IM or group chat not allowed: 403 (RFC 3261 §21.4.3: understood, refused, do not repeat). The
 *   recipient's case is 403 too, not 480: 480 (§21.4.18) says "try later", and nothing later changes
 *   a profile; a client that retried, or stored the message, would only be refused again.
 * - too large for the sender's or the recipient's limit: 413 (§21.4.11), no Retry-After (not a
 *   passing condition), the limit in the reason;
 * - a content type the profile does not allow: 415 (§21.4.13) with Accept (§20.1) listing the
 *   media ranges that profile does allow.
 */
export class ProfilePolicy {
  constructor(readonly profiles: ServiceProfiles) {}

  of(username: string): ServiceProfile {
    return this.profiles.of(username);
  }

  /** Pager IM and one-to-one sessions: the user must have IM. */
  requireIm(username: string, end: End): void {
    if (this.of(username).im) return;
    throw new SipError(403, end === 'sender' ? 'Instant messaging is not allowed for your account' : 'The recipient does not take instant messages');
  }

  /** Lists, groups and rooms: the user must have group chat. */
  requireGroupChat(username: string, end: End): void {
    if (this.of(username).groupChat) return;
    throw new SipError(403, end === 'sender' ? 'Group chat is not allowed for your account' : 'The recipient does not take group chat');
  }

  /** A message's size and content type against one user's profile. */
  checkContent(username: string, end: End, contentType: string, body: Buffer): void {
    const refusal = this.contentRefusal(username, end, contentType, body);
    if (refusal !== null) throw refusal;
  }

  /** Why one user's profile refuses a message's size or content type, or null when it takes it. */
  contentRefusal(username: string, end: End, contentType: string, body: Buffer): SipError | null {
    return contentRefusalOf(this.of(username), end, contentType, body);
  }

  /**
   * Why a stored message may no longer be pushed to its recipient (Y1/Y3, asked at push time: the
   * profile may have changed while it waited): IM switched off (403), then their size (413) and
   * type (415) limits; null when it goes.
   */
  pushRefusal(recipient: string, contentType: string, body: Buffer): SipError | null {
    if (!this.of(recipient).im) return new SipError(403, 'The recipient does not take instant messages');
    return this.contentRefusal(recipient, 'recipient', contentType, body);
  }

  /**
   * Why a room participant gets no copy of a message (Y1, Y3), or null when they take it: group
   * chat switched off since they joined (403), then their size (413) and type (415) limits. The
   * content is what the sender wrapped (the room's CPIM is judged by what it carries).
   */
  roomRecipientRefusal(username: string, contentType: string, body: Buffer): SipError | null {
    if (!this.of(username).groupChat) return new SipError(403, 'The recipient does not take group chat');
    return this.contentRefusal(username, 'recipient', contentType, body);
  }

  /**
   * A pager MESSAGE from one of our users to another: IM both ends, then size and type both ends.
   * Each profile is looked up once (a Map read); the content type is read (through a CPIM wrapper)
   * only for a profile that filters types.
   */
  checkPager(sender: string, recipient: string, contentType: string, body: Buffer): void {
    const from = this.of(sender);
    const to = this.of(recipient);
    if (!from.im) throw new SipError(403, 'Instant messaging is not allowed for your account');
    if (!to.im) throw new SipError(403, 'The recipient does not take instant messages');
    contentCheck(from, 'sender', contentType, body);
    contentCheck(to, 'recipient', contentType, body);
  }

  /** What the MSRP legs of a session between these users take (RFC 4975 §7.3.1): both profiles' limits. */
  msrpPolicy(users: string[]): MessagePolicy {
    const ps = users.map((u) => this.of(u));
    const maxMessageBytes = Math.min(...ps.map((p) => p.maxMessageBytes));
    return {
      maxMessageBytes,
      check: (contentType, firstChunk) => {
        for (const p of ps) if (!allowsContent(p, contentType, firstChunk)) return new MsrpError(415, 'Content type not allowed by the service profile');
        return null;
      },
    };
  }

  /** The largest message these users exchange: `ours` (our a=max-size) or a smaller profile limit. */
  maxBytes(users: string[], ours: number): number {
    return Math.min(ours, ...users.map((u) => this.of(u).maxMessageBytes));
  }

  /**
   * An MSRP offer or answer as our SDP reflects these users' profiles (RFC 4975 §8.6): the
   * accept-types and accept-wrapped-types each profile lets through, and the smaller max-size.
   */
  narrowMedia(media: MsrpMedia, users: string[], maxMessageBytes: number): { media: MsrpMedia; maxMessageBytes: number } {
    let acceptTypes = media.acceptTypes;
    let acceptWrappedTypes = media.acceptWrappedTypes;
    let max = maxMessageBytes;
    for (const u of users) {
      const p = this.of(u);
      acceptTypes = narrowAcceptTypes(p, acceptTypes);
      acceptWrappedTypes = narrowAcceptTypes(p, acceptWrappedTypes).filter((t) => t.toLowerCase() !== 'message/cpim' || allowsType(p, t));
      max = Math.min(max, p.maxMessageBytes);
    }
    return { media: { ...media, acceptTypes, acceptWrappedTypes, maxSize: media.maxSize === null ? null : Math.min(media.maxSize, max) }, maxMessageBytes: max };
  }

  /**
   * A client's SDP passed to the other client (sessions.media: passthrough, the server not in
   * the MSRP): every line as written, but the MSRP line's a=accept-types, a=accept-wrapped-types
   * and a=max-size narrowed to what these users' profiles allow (RFC 4975 §8.6), since the server
   * cannot refuse a SEND it never sees. The max-size is the smallest profile limit (or the
   * client's own, if smaller), added when the client gave none.
   */
  passedOnSdp(body: Buffer, media: MsrpMedia, users: string[]): Buffer {
    const narrowed = this.narrowMedia(media, users, Number.MAX_SAFE_INTEGER);
    const maxSize = Math.min(media.maxSize ?? Number.MAX_SAFE_INTEGER, narrowed.maxMessageBytes);
    return Buffer.from(withMsrpLimits(body.toString('utf8'), { ...narrowed.media, maxSize }));
  }
}

/** Y3: why one profile refuses a message's size (413) or content type (415 with Accept), or null. */
function contentRefusalOf(p: ServiceProfile, end: End, contentType: string, body: Buffer): SipError | null {
  if (body.length > p.maxMessageBytes) {
    return new SipError(413, end === 'sender' ? `Message too large for your account (at most ${p.maxMessageBytes} bytes)` : `Message too large for the recipient (at most ${p.maxMessageBytes} bytes)`);
  }
  if (!allowsContent(p, contentType, body)) {
    return new SipError(415, end === 'sender' ? 'Content type not allowed for your account' : 'Content type not accepted by the recipient', { Accept: acceptHeader(p) });
  }
  return null;
}

/** Y3: a message's size and content type against one profile; throws the refusal. */
function contentCheck(p: ServiceProfile, end: End, contentType: string, body: Buffer): void {
  const refusal = contentRefusalOf(p, end, contentType, body);
  if (refusal !== null) throw refusal;
}
