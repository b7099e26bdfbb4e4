import { parseCpim } from '../im/controlling/cpim.js';
import { mediaType } from './stored-text.js';

/** What a person reads of a stored message: its content's own type and, for text, the text. */
export interface MessageView {
  /** the media type of the content itself (inside CPIM, RFC 3862 §2.4) */
  displayType: string;
  /** the text of text/* content (UTF-8), else null */
  text: string | null;
}

/** The readable view of a body as it travelled: CPIM unwrapped, text decoded. */
export function messageView(contentType: string, body: Buffer): MessageView {
  let type = mediaType(contentType);
  let content = body;
  if (type === 'message/cpim') {
    const cpim = parseCpim(body);
    if (cpim !== null) {
      type = mediaType(cpim.contentType);
      content = cpim.body;
    }
  }
  return { displayType: type, text: type.startsWith('text/') ? content.toString('utf8') : null };
}

/**
 * How an export carries a body so it comes back byte for byte: as UTF-8 text when the body is
 * textual and valid UTF-8 (decoding and re-encoding gives the same bytes), else base64.
 */
export function bodyEncoding(contentType: string, body: Buffer): 'utf-8' | 'base64' {
  const type = mediaType(contentType);
  const textual = type.startsWith('text/') || type === 'message/cpim' || type.endsWith('+xml') || type.endsWith('/xml') || type.endsWith('/json') || type.endsWith('+json');
  return textual && Buffer.from(body.toString('utf8'), 'utf8').equals(body) ? 'utf-8' : 'base64';
}
