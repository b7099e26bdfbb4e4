import { mediaTypeOf } from '../../sip/message/media-type.js';
import { readCpim, imdnHeaders, plainHeader, contentHeader, uriIn, type CpimEnvelope } from './cpim-envelope.js';

/** The dispositions a sender may ask for (RFC 5438 §6.2, Disposition-Notification). */
export type Disposition = 'positive-delivery' | 'negative-delivery' | 'processing' | 'display';

/** What an IM asks of its recipients (RFC 5438 §6): the IM's identity and the notifications wanted. */
export interface ImdnRequest {
  messageId: string;
  dateTime: string;
  dispositions: Set<Disposition>;
  /** the CPIM From's URI: where notifications go (RFC 5438 §7.2.1) */
  from: string;
  /** the CPIM To's URI: the IMDN's original-recipient-uri (RFC 5438 §11.1.4) */
  to: string | undefined;
  /** the IMDN-Record-Route URIs already on the IM (RFC 5438 §6.5) */
  recordRoute: string[];
}

const DISPOSITIONS: readonly string[] = ['positive-delivery', 'negative-delivery', 'processing', 'display'];

const isCpim = (contentType: string): boolean => mediaTypeOf(contentType) === 'message/cpim';

/**
 * The IMDN request of a message/cpim body, or null when it asks for nothing: not CPIM, no
 * imdn.Message-ID, no DateTime (RFC 5438 §7.1.1.2: required with a Disposition-Notification), or
 * no disposition we know. An IMDN never asks for one (RFC 5438 §7.2.1): null for those too.
 */
export function imdnRequestOf(contentType: string, body: Buffer): ImdnRequest | null {
  if (!isCpim(contentType)) return null;
  const e = readCpim(body);
  if (e === null || isImdnEnvelope(e)) return null;
  return requestOf(e);
}

/** The IMDN request of a CPIM envelope already read (see {@link imdnRequestOf}). */
export function requestOf(e: CpimEnvelope): ImdnRequest | null {
  const messageId = imdnHeaders(e, 'Message-ID')[0];
  const dateTime = plainHeader(e, 'DateTime');
  const from = uriIn(plainHeader(e, 'From'));
  if (!messageId || !dateTime || !from) return null;
  const dispositions = new Set<Disposition>();
  for (const v of imdnHeaders(e, 'Disposition-Notification')) {
    for (const d of v.split(',')) if (DISPOSITIONS.includes(d.trim().toLowerCase())) dispositions.add(d.trim().toLowerCase() as Disposition);
  }
  if (dispositions.size === 0) return null;
  return { messageId, dateTime, dispositions, from, to: uriIn(plainHeader(e, 'To')), recordRoute: imdnHeaders(e, 'IMDN-Record-Route').map((v) => uriIn(v)!) };
}

/** Is this CPIM envelope an IMDN: its content message/imdn+xml (RFC 5438 §9, §11.1.8)? */
export function isImdnEnvelope(e: CpimEnvelope): boolean {
  return mediaTypeOf(contentHeader(e, 'Content-Type') ?? 'text/plain') === 'message/imdn+xml';
}

/**
 * Is this MESSAGE body a disposition notification? IMDNs are bookkeeping, not conversation
 * content: they are never stored as history and never answered with an IMDN of their own.
 */
export function isImdn(contentType: string, body: Buffer): boolean {
  const type = mediaTypeOf(contentType);
  if (type === 'message/imdn+xml') return true;
  if (type !== 'message/cpim') return false;
  const e = readCpim(body);
  return e !== null && isImdnEnvelope(e);
}
