import { mediaTypeOf } from '../../sip/message/media-type.js';

/** One body part of a multipart body: its headers (names lower-cased) and its bytes. */
export interface BodyPart {
  headers: Map<string, string>;
  body: Buffer;
}

/** The boundary parameter of a multipart Content-Type (RFC 2046 §5.1.1), unquoted; null if absent or invalid. */
export function boundaryOf(contentType: string): string | null {
  const m = /;\s*boundary\s*=\s*(?:"([^"]*)"|([^\s;"]+))/i.exec(contentType);
  const b = m ? (m[1] ?? m[2]) : null;
  // RFC 2046 §5.1.1: 1 to 70 characters, not ending in a space
  return b && b.length <= 70 && !b.endsWith(' ') ? b : null;
}

/**
 * The parts of a multipart body (RFC 2046 §5.1.1): each delimiter is CRLF, "--", the boundary
 * (the first may start the body without the CRLF); the close delimiter adds "--". Preamble and
 * epilogue are ignored. Null when the body is not well-formed multipart: no boundary, no close
 * delimiter, or a part without the blank line that ends its headers.
 */
export function parseMultipart(contentType: string, body: Buffer): BodyPart[] | null {
  if (!mediaTypeOf(contentType).startsWith('multipart/')) return null;
  const boundary = boundaryOf(contentType);
  if (boundary === null) return null;
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  // a leading CRLF lets the first delimiter open the body itself
  const text = Buffer.concat([Buffer.from('\r\n'), body]);
  let at = text.indexOf(delimiter);
  if (at < 0) return null;
  const parts: BodyPart[] = [];
  for (;;) {
    const after = at + delimiter.length;
    if (text.subarray(after, after + 2).toString() === '--') return parts;
    const next = text.indexOf(delimiter, after);
    if (next < 0) return null; // no close delimiter
    // the rest of the delimiter line (transport padding) up to its CRLF
    const lineEnd = text.indexOf('\r\n', after);
    if (lineEnd < 0 || lineEnd > next) return null;
    const part = parsePart(text.subarray(lineEnd + 2, next));
    if (part === null) return null;
    parts.push(part);
    at = next;
  }
}

function parsePart(raw: Buffer): BodyPart | null {
  const headers = new Map<string, string>();
  // RFC 2046 §5.1.1: a part with no headers starts with the blank line
  if (raw.subarray(0, 2).toString() === '\r\n') return { headers, body: raw.subarray(2) };
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = raw.subarray(0, end).toString('utf8').split('\r\n');
  let last: string | null = null;
  for (const line of lines) {
    if (/^[ \t]/.test(line) && last !== null) {
      headers.set(last, `${headers.get(last)} ${line.trim()}`); // folded (RFC 5322 §2.2.3)
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    last = line.slice(0, colon).trim().toLowerCase();
    headers.set(last, line.slice(colon + 1).trim());
  }
  return { headers, body: raw.subarray(end + 4) };
}
