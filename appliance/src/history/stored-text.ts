import { parseCpim } from '../im/controlling/cpim.js';

/** RFC 5438 §11.1.8: the content type of a disposition notification. */
const IMDN_TYPE = 'message/imdn+xml';

/** What a message to be stored carries, seen through its CPIM wrapper (RFC 3862) when it has one. */
export interface StorableContent {
  /** a delivery/display notification (RFC 5438): kept out of conversations, it is not content */
  notification: boolean;
  /** the words to index for keyword search: the text of text/* content, else null */
  text: string | null;
  /** RFC 5438 §6.3 imdn.Message-ID, when the CPIM headers have one */
  messageId: string | null;
}

/** The media type without parameters, lower-cased. */
export function mediaType(contentType: string): string {
  return contentType.split(';', 1)[0].trim().toLowerCase();
}

/** Reads what conversation storage needs from a message's content type and body. */
export function storableContent(contentType: string, body: Buffer): StorableContent {
  if (mediaType(contentType) !== 'message/cpim') return plain(contentType, body, null);
  const cpim = parseCpim(body);
  if (cpim === null) return { notification: false, text: null, messageId: null };
  return plain(cpim.contentType, cpim.body, cpimMessageId(body));
}

function plain(contentType: string, body: Buffer, messageId: string | null): StorableContent {
  const type = mediaType(contentType);
  return { notification: type === IMDN_TYPE, text: type.startsWith('text/') ? body.toString('utf8') : null, messageId };
}

/**
 * The imdn.Message-ID of a CPIM message (RFC 5438 §6.3): `NS: imdn <urn:ietf:params:imdn>` binds a
 * prefix, usually "imdn", to the namespace; the header is `<prefix>.Message-ID`.
 */
function cpimMessageId(raw: Buffer): string | null {
  const end = raw.indexOf('\r\n\r\n');
  const lines = raw.subarray(0, end < 0 ? raw.length : end).toString('utf8').split('\r\n');
  let prefix = 'imdn';
  for (const line of lines) {
    const m = /^NS:\s*(\S+)\s*<urn:ietf:params:imdn>/i.exec(line);
    if (m) prefix = m[1];
  }
  const wanted = `${prefix}.message-id`;
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === wanted) return line.slice(colon + 1).trim();
  }
  return null;
}
