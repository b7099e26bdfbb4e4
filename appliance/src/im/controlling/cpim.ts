/** A message/cpim message (RFC 3862): who sent it to whom, and the content it wraps. */
export interface CpimMessage {
  from: string | null;
  to: string | null;
  contentType: string;
  body: Buffer;
}

/**
 * Wraps content in message/cpim (RFC 3862 §3): the message headers (From, To, DateTime), a blank
 * line, the encapsulated MIME headers (Content-Type), a blank line, the content. The URIs are the
 * room's view: From the sender (with their nickname, when they chose one), To the room or the one
 * private recipient (RFC 7701 §8).
 */
export function wrapCpim(from: string, to: string, contentType: string, body: Buffer, at = new Date(), fromName?: string): Buffer {
  // RFC 7701: the sender's nickname is the display name (CPIM Formal-name, a quoted String, RFC 3862 §3.2)
  const name = fromName === undefined ? '' : `"${fromName.replace(/[\\"]/g, (c) => `\\${c}`)}" `;
  const head = `From: ${name}<${from}>\r\nTo: <${to}>\r\nDateTime: ${at.toISOString()}\r\n\r\nContent-Type: ${contentType}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head), body]);
}

/** The first `<uri>` of a CPIM From or To value (a display name may precede it). */
function uriOf(value: string): string | null {
  const m = /<([^>]*)>/.exec(value);
  return m ? m[1].trim() : null;
}

/**
 * Reads a message/cpim body (RFC 3862 §3.1). Null when it is not well-formed: no blank line
 * after the message headers, or none after the content headers.
 */
export function parseCpim(raw: Buffer): CpimMessage | null {
  const first = raw.indexOf('\r\n\r\n');
  if (first < 0) return null;
  const second = raw.indexOf('\r\n\r\n', first + 4);
  if (second < 0) return null;
  let from: string | null = null;
  let to: string | null = null;
  for (const line of raw.subarray(0, first).toString('utf8').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (name === 'from') from = uriOf(line.slice(colon + 1));
    else if (name === 'to' && to === null) to = uriOf(line.slice(colon + 1));
  }
  let contentType = 'text/plain';
  for (const line of raw.subarray(first + 4, second).toString('utf8').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === 'content-type') contentType = line.slice(colon + 1).trim();
  }
  return { from, to, contentType, body: raw.subarray(second + 4) };
}
